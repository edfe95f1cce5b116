"""Client links through HTTP: "Send a new link" revokes the old ones, receipts need a verified
device, and links of finished contracts expire."""
from __future__ import annotations

import re
from datetime import timedelta

from directcontracts.models import ClientToken, Contract, utcnow
from directcontracts.services import tokens
from tests.conftest import Client
from tests.web.builders import contract, funded_contract, link_in, sent_contract, verify


def new_link_email(outbox):
    return [e for e in outbox() if e.subject.startswith("A new link to your contract")][-1]


def test_send_a_new_link_replaces_every_older_one(logged_in, visitor, outbox, db):
    cid, old = sent_contract(logged_in, outbox)
    assert visitor.get(old).status_code == 200
    page = logged_in.get(f"/contracts/{cid}").text
    assert "Send a new link…" in page and "Last link sent to Carla Client" in page

    confirm = logged_in.get(f"/contracts/{cid}/new-link")
    assert confirm.status_code == 200
    assert "Every link sent before stops working" in confirm.text and "This cannot be undone" in confirm.text
    assert 'name="csrf_token"' in confirm.text
    assert contract(db, cid).state == "sent" and len(outbox()) == 1  # asking did nothing

    r = logged_in.post(f"/contracts/{cid}/new-link")
    assert r.status_code == 303
    email = new_link_email(outbox)
    assert email.to_addr == "carla@client-co.com"
    assert "Links in earlier emails about this contract no longer work" in email.body_text
    new = link_in(email.body_text)
    assert new != old

    gone = visitor.get(old)
    assert gone.status_code == 410 and "This link was replaced" in gone.text
    assert "Website redesign" not in gone.text and "$1,000.00" not in gone.text  # no data
    assert "ask Fran Freelancer to send a new link" in gone.text
    for path in ("/fund", "/verify", "/changes"):
        assert visitor.get(old + path).status_code == 410
    assert visitor.post(old + "/verify/send", {"next": ""}).status_code == 410
    opened = visitor.get(new)
    assert opened.status_code == 200 and "Proposal from Fran Freelancer" in opened.text
    timeline = logged_in.get(f"/contracts/{cid}").text
    assert "New link sent to carla@client-co.com; older links no longer work." in timeline
    assert db.session.scalar(db.select(db.func.count(ClientToken.id)).where(ClientToken.revoked_at.is_(None))) == 1


def test_a_draft_or_withdrawn_contract_has_no_link_to_send(logged_in, outbox, db):
    from tests.web.builders import milestone_contract

    draft = milestone_contract(logged_in)
    assert "Send a new link" not in logged_in.get(f"/contracts/{draft}").text
    r = logged_in.post(f"/contracts/{draft}/new-link", follow_redirects=True)
    assert "This contract has no client link to replace." in r.text
    cid, link = sent_contract(logged_in, outbox)
    assert logged_in.post(f"/contracts/{cid}/withdraw").status_code == 303
    r = logged_in.post(f"/contracts/{cid}/new-link", follow_redirects=True)
    assert "its client needs no link" in r.text
    assert not [e for e in outbox() if e.subject.startswith("A new link")]


def test_another_member_cannot_send_a_new_link(logged_in, make_member, app, outbox, login_as):
    cid, _ = sent_contract(logged_in, outbox)
    other = Client(app.test_client())
    login_as(make_member("bob@example.com", "Bob", owner=False), other)
    assert other.get(f"/contracts/{cid}/new-link").status_code == 404
    assert other.post(f"/contracts/{cid}/new-link").status_code == 404
    assert not [e for e in outbox() if e.subject.startswith("A new link")]


def test_receipts_and_payments_need_a_verified_device(logged_in, visitor, app, outbox, db):
    cid, link = funded_contract(logged_in, visitor, outbox)
    mine = visitor.get(link).text
    receipt = re.search(r'href="(/c/[^"]+/payments/[^"]+)"', mine).group(1)
    assert "Your payments" in mine and visitor.get(receipt).status_code == 200

    stranger = Client(app.test_client())  # has the link, never verified
    page = stranger.get(link)
    assert page.status_code == 200 and "Contract from Fran Freelancer" in page.text
    assert "Website redesign" in page.text  # the proposal, as before
    for private in ('id="payments-heading"', "payment-row", "Visa", "ending in", ">Receipt<", "money-timeline-heading",
                    "escrow-funded", "/payments/"):
        assert private not in page.text, private
    assert "confirm your email on this device" in page.text
    r = stranger.get(receipt)
    assert r.status_code == 303 and "/verify?next=receipt-" in r.location
    assert "Visa" not in stranger.get(receipt, follow_redirects=True).text
    attempt_id = receipt.rsplit("/", 1)[1]
    by_key = stranger.get(f"{link}/payments/by-key/whatever")
    assert by_key.status_code == 303 and "/verify?next=payments" in by_key.location

    # verified, the client comes back to the receipt they asked for
    stranger.post(f"{link}/verify/send", {"next": f"receipt-{attempt_id}"})
    from tests.web.builders import latest_code
    back = stranger.post(f"{link}/verify", {"code": latest_code(outbox), "next": f"receipt-{attempt_id}"})
    assert back.status_code == 303 and back.location.endswith(receipt)
    assert stranger.get(receipt).status_code == 200


def _decline(visitor, link, outbox):
    verify(visitor, link, outbox, "decline")
    assert visitor.post(f"{link}/decline", {"reason": "Budget cut."}).status_code == 303


def test_links_of_a_finished_contract_expire_after_the_period(logged_in, visitor, app, outbox, db, monkeypatch):
    cid, link = sent_contract(logged_in, outbox)
    _decline(visitor, link, outbox)
    closed = contract(db, cid).closed_at
    assert closed is not None and app.config["CLIENT_LINK_DAYS_AFTER_END"] == 90

    monkeypatch.setattr(tokens, "utcnow", lambda: closed + timedelta(days=89))
    assert visitor.get(link).status_code == 200
    monkeypatch.setattr(tokens, "utcnow", lambda: closed + timedelta(days=91))
    page = visitor.get(link)
    assert page.status_code == 410 and "This link has expired" in page.text
    assert "stops working 90 days after it ended" in page.text
    assert "ask Fran Freelancer to send you a new link" in page.text
    assert "Budget cut." not in page.text and "$1,000.00" not in page.text
    # nor does the reference lead to it any more (a code would mint a working link)
    before = len(outbox())
    visitor.post("/c", {"ref": contract(db, cid).ref})
    assert len(outbox()) == before


def test_the_period_is_configurable_and_a_new_link_opens_a_finished_contract_again(logged_in, visitor, app, outbox,
                                                                                      db):
    cid, link = sent_contract(logged_in, outbox)
    _decline(visitor, link, outbox)
    # It ended 10 days ago, and the links were sent before that.
    past = utcnow() - timedelta(days=10)
    db.session.execute(db.update(Contract).where(Contract.id == cid).values(closed_at=past))
    db.session.execute(db.update(ClientToken).values(created_at=past - timedelta(days=1)))
    db.session.commit()
    assert visitor.get(link).status_code == 200
    app.config["CLIENT_LINK_DAYS_AFTER_END"] = 7
    try:
        assert visitor.get(link).status_code == 410
        assert logged_in.post(f"/contracts/{cid}/new-link").status_code == 303
        email = new_link_email(outbox)
        assert "the link works for 7 days" in email.body_text
        fresh = link_in(email.body_text)
        assert visitor.get(fresh).status_code == 200
        assert "This link was replaced" in visitor.get(link).text
    finally:
        app.config["CLIENT_LINK_DAYS_AFTER_END"] = 90


def test_a_running_contract_never_expires(logged_in, visitor, outbox, db, monkeypatch):
    cid, link = funded_contract(logged_in, visitor, outbox)
    assert contract(db, cid).closed_at is None
    monkeypatch.setattr(tokens, "utcnow", lambda: utcnow() + timedelta(days=400))
    assert visitor.get(link).status_code == 200
