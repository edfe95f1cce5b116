"""Disputes over HTTP, as each party and the mediator use them (CSRF on)."""
from __future__ import annotations

import re

import pytest

from directcontracts.models import Dispute, Milestone
from tests.conftest import Client
from tests.web.builders import contract, funded_contract, request_payment, verify


@pytest.fixture
def owner(make_member):
    """The shop owner (the mediator), created before the freelancer so that the freelancer is not the owner."""
    return make_member("olga@shop.example", "Olga Owner", owner=True)


@pytest.fixture
def fran(owner, make_member):
    return make_member("fran@example.com", "Fran Freelancer", owner=False)


@pytest.fixture
def freelancer(fran, login_as):
    return login_as(fran)


@pytest.fixture
def mediator(app, owner, login_as):
    return login_as(owner, Client(app.test_client()))


@pytest.fixture
def funded(freelancer, visitor, outbox):
    """A contract of Fran's, all three milestones (1000, 2000, 500 USD) funded; the client's device verified."""
    return funded_contract(freelancer, visitor, outbox)


def milestones(db, cid) -> list[Milestone]:
    return sorted(contract(db, cid).milestones, key=lambda m: m.position)


def dispute_of(db, mid) -> Dispute:
    db.session.expire_all()
    return db.session.scalars(db.select(Dispute).where(Dispute.milestone_id == mid).order_by(Dispute.id.desc())).first()


def open_by_client(visitor, link, mid, **extra):
    data = {"reason": "not_as_agreed", "statement": "The pages are not what we agreed."} | extra
    return visitor.post(f"{link}/milestones/{mid}/dispute", data)


def open_by_freelancer(freelancer, cid, mid, **extra):
    data = {"reason": "other", "statement": "The client stopped answering."} | extra
    return freelancer.post(f"/contracts/{cid}/milestones/{mid}/dispute", data)


def test_the_three_pages_show_the_dispute(db, funded, freelancer, visitor, mediator):
    cid, link = funded
    m = milestones(db, cid)[0]
    r = open_by_client(visitor, link, m.id)
    assert r.status_code == 303, r.text
    d = dispute_of(db, m.id)
    for c, url in ((visitor, f"{link}/disputes/{d.id}"), (freelancer, f"/contracts/{cid}/disputes/{d.id}"),
                   (mediator, f"/admin/disputes/{d.id}")):
        page = c.get(url)
        assert page.status_code == 200, page.text
        assert "The pages are not what we agreed." in page.text
        assert "Olga Owner" in page.text and "olga@shop.example" in page.text
        assert "Not what was agreed" in page.text and "$1,000.00" in page.text


@pytest.fixture
def settled(funded, gateway):
    """The funded contract, its sale settled at the gateway (so a part of it can be refunded)."""
    from tests.conftest import sales
    for sale in sales(gateway):
        gateway.settle(sale["id"])
    return funded


def confirm_and_do(c, url, data=None):
    """Post a money move: first the confirm page (200, the amounts), then the move (303)."""
    data = data or {}
    page = c.post(url, data)
    assert page.status_code == 200 and 'data-testid="confirm-amounts"' in page.text, page.text
    r = c.post(url, data | {"confirmed": "y"})
    assert r.status_code == 303, r.text
    return page


def escrow(db, mid):
    from directcontracts.services import ledger
    db.session.expire_all()
    mm = ledger.milestone_money([contract(db, 0).id if False else db.session.get(Milestone, mid).contract_id])[mid]
    return mm.released, mm.refunded, mm.held


def test_opened_by_the_freelancer_freezes_the_money(db, funded, freelancer, visitor):
    cid, link = funded
    m = milestones(db, cid)[0]
    page = freelancer.get(f"/contracts/{cid}")
    assert f"/contracts/{cid}/milestones/{m.id}/dispute" in page.text  # the button
    form = freelancer.get(f"/contracts/{cid}/milestones/{m.id}/dispute")
    assert form.status_code == 200
    assert "The money freezes" in form.text and "Olga Owner" in form.text and "days to answer" in form.text
    assert freelancer.post(f"/contracts/{cid}/milestones/{m.id}/dispute", {"statement": ""}).status_code == 422
    r = open_by_freelancer(freelancer, cid, m.id, amount="400")
    assert r.status_code == 303
    d = dispute_of(db, m.id)
    assert (d.opened_by, d.amount_minor) == ("freelancer", 40000)
    assert db.session.get(Milestone, m.id).state == "disputed"
    show = freelancer.get(f"/contracts/{cid}")
    row = show.text[show.text.index(f'id="milestone-{m.id}"'):].split("</li>")[0]
    assert "Refund…" not in row and "Request payment" not in row and "See the dispute" in row
    assert freelancer.post(f"/contracts/{cid}/milestones/{m.id}/refund", {"reason": "x"}).status_code in (303, 409)
    assert db.session.get(Milestone, m.id).state == "disputed"
    client_page = visitor.get(link)
    assert "Dispute about “Milestone 1”" in client_page.text


def test_opened_by_the_client_stops_the_auto_release(db, funded, freelancer, visitor):
    cid, link = funded
    m = milestones(db, cid)[0]
    request_payment(freelancer, cid, m.id)
    db.session.expire_all()
    assert db.session.get(Milestone, m.id).auto_release_at is not None
    before = visitor.get(link).text
    assert f"{link}/milestones/{m.id}/dispute" in before and f"{link}/milestones/{m.id}/approve" in before
    assert visitor.get(f"{link}/milestones/{m.id}/dispute").status_code == 200
    assert open_by_client(visitor, link, m.id).status_code == 303
    db.session.expire_all()
    m = db.session.get(Milestone, m.id)
    assert m.state == "disputed" and m.auto_release_at is None
    after = visitor.get(link).text
    assert f"{link}/milestones/{m.id}/approve" not in after and "If you do nothing, it is released" not in after
    d = dispute_of(db, m.id)
    page = visitor.get(f"{link}/disputes/{d.id}").text
    assert "Done: see the staging site." in page  # the payment request's note
    assert visitor.post(f"{link}/milestones/{m.id}/approve").status_code in (303, 409)
    assert db.session.get(Milestone, m.id).state == "disputed"


def test_a_client_needs_a_verified_device_to_act_but_not_to_read(app, db, funded, freelancer, outbox):
    cid, link = funded
    m = milestones(db, cid)[0]
    open_by_freelancer(freelancer, cid, m.id)
    d = dispute_of(db, m.id)
    stranger = Client(app.test_client())
    page = stranger.get(f"{link}/disputes/{d.id}")
    assert page.status_code == 200 and 'data-testid="verify-to-act"' in page.text and "Send message" not in page.text
    r = stranger.post(f"{link}/disputes/{d.id}/messages", {"body": "hi"})
    assert r.status_code == 303 and "/verify" in r.location
    r = stranger.post(f"{link}/milestones/{milestones(db, cid)[1].id}/dispute", {"reason": "other", "statement": "x"})
    assert r.status_code == 303 and "/verify" in r.location


def test_the_client_releases_the_payment(db, settled, freelancer, visitor):
    cid, link = settled
    m = milestones(db, cid)[0]
    open_by_freelancer(freelancer, cid, m.id)
    d = dispute_of(db, m.id)
    page = confirm_and_do(visitor, f"{link}/disputes/{d.id}/release")
    assert 'data-testid="confirm-release">$1,000.00<' in page.text and 'data-testid="confirm-refund">$0.00<' in page.text
    d = dispute_of(db, m.id)
    assert (d.status, d.outcome) == ("closed", "released")
    assert escrow(db, m.id) == (100000, 0, 0)
    shown = freelancer.get(f"/contracts/{cid}/disputes/{d.id}").text
    assert 'data-testid="dispute-outcome"' in shown and "released the payment" in shown


def test_the_freelancer_refunds_the_client(db, settled, freelancer, visitor):
    cid, link = settled
    m = milestones(db, cid)[1]
    open_by_client(visitor, link, m.id)
    d = dispute_of(db, m.id)
    page = confirm_and_do(freelancer, f"/contracts/{cid}/disputes/{d.id}/refund")
    assert 'data-testid="confirm-refund">$2,000.00<' in page.text
    d = dispute_of(db, m.id)
    assert (d.status, d.outcome) == ("closed", "refunded")
    assert escrow(db, m.id) == (0, 200000, 0)
    table = visitor.get(link).text
    assert re.search(r'data-testid="escrow-refunded">\$2,000.00<', table)


def test_an_offer_is_accepted_as_shown_and_a_changed_one_is_refused(db, settled, freelancer, visitor):
    cid, link = settled
    m = milestones(db, cid)[0]
    open_by_client(visitor, link, m.id)
    d = dispute_of(db, m.id)
    base = f"/contracts/{cid}/disputes/{d.id}"
    assert freelancer.post(f"{base}/offer", {"release": "2000"}).status_code == 422  # more than the milestone
    assert freelancer.post(f"{base}/offer", {"release": "700"}).status_code == 303
    assert freelancer.post(f"{base}/messages", {"body": "I delivered most of it."}).status_code == 303
    page = visitor.get(f"{link}/disputes/{d.id}").text
    assert "$700.00" in page and "$300.00" in page and "I delivered most of it." in page
    assert 'name="shown_release_minor" value="70000"' in page
    freelancer.post(f"{base}/offer", {"release": "800"})  # the offer changes after the client's page was drawn
    r = visitor.post(f"{link}/disputes/{d.id}/accept", {"shown_release_minor": "70000", "confirmed": "y"})
    assert r.status_code == 409 and "offer changed" in r.text
    assert dispute_of(db, m.id).status == "open"
    page = confirm_and_do(visitor, f"{link}/disputes/{d.id}/accept", {"shown_release_minor": "80000"})
    assert 'data-testid="confirm-release">$800.00<' in page.text and 'data-testid="confirm-refund">$200.00<' in page.text
    d = dispute_of(db, m.id)
    assert (d.status, d.outcome, d.decided_by) == ("closed", "split", "both")
    assert escrow(db, m.id) == (80000, 20000, 0)
    shown = visitor.get(f"{link}/disputes/{d.id}").text
    assert 'data-testid="outcome-release">$800.00<' in shown and 'data-testid="outcome-refund">$200.00<' in shown


@pytest.mark.parametrize("kind, release, expected", [
    ("release", "", (100000, 0)), ("refund", "", (0, 100000)), ("split", "250", (25000, 75000))])
def test_the_mediator_decides(db, settled, freelancer, visitor, mediator, kind, release, expected):
    cid, link = settled
    m = milestones(db, cid)[0]
    open_by_client(visitor, link, m.id)
    d = dispute_of(db, m.id)
    queue = mediator.get("/admin/disputes").text
    assert f"/admin/disputes/{d.id}" in queue and "Milestone 1" in queue
    url = f"/admin/disputes/{d.id}/resolve"
    assert mediator.post(url, {"kind": kind, "release": release, "reason": ""}).status_code == 422  # reason required
    if kind == "split":
        assert mediator.post(url, {"kind": "split", "release": "1000", "reason": "x"}).status_code == 422
    page = confirm_and_do(mediator, url, {"kind": kind, "release": release, "reason": "The log shows it."})
    assert "The log shows it." in page.text
    d = dispute_of(db, m.id)
    assert (d.status, d.decided_by) == ("closed", "owner")
    assert escrow(db, m.id)[:2] == expected
    for c, u in ((visitor, f"{link}/disputes/{d.id}"), (freelancer, f"/contracts/{cid}/disputes/{d.id}")):
        text = c.get(u).text
        assert "The log shows it." in text and "The mediator, Olga Owner, decided" in text
    assert f"/admin/disputes/{d.id}" in mediator.get("/admin/disputes").text  # recently closed


def test_the_owner_cannot_judge_their_own_case(db, owner, login_as, visitor, outbox, gateway):
    from tests.conftest import sales
    own = login_as(owner)
    cid, link = funded_contract(own, visitor, outbox, amounts=("1000",))
    gateway.settle(sales(gateway)[0]["id"])
    m = milestones(db, cid)[0]
    open_by_client(visitor, link, m.id)
    d = dispute_of(db, m.id)
    page = own.get(f"/admin/disputes/{d.id}").text
    assert 'data-testid="own-case"' in page and "cannot judge" in page
    assert 'value="release"' not in page and 'value="refund"' in page
    r = own.post(f"/admin/disputes/{d.id}/resolve", {"kind": "release", "reason": "I did it."})
    assert r.status_code == 422 and "your own contract" in r.text
    visitor.post(f"{link}/disputes/{d.id}/offer", {"release": "400"})
    page = own.get(f"/admin/disputes/{d.id}").text
    assert "Accept the client's offer" in page
    confirm_and_do(own, f"/admin/disputes/{d.id}/resolve", {"kind": "split", "release": "400.00", "reason": "Fair."})
    assert escrow(db, m.id) == (40000, 60000, 0)


def test_others_cannot_see_or_open_a_dispute(app, db, funded, freelancer, visitor, make_member, login_as, outbox):
    cid, link = funded
    m = milestones(db, cid)[0]
    open_by_client(visitor, link, m.id)
    d = dispute_of(db, m.id)
    other = login_as(make_member("otto@example.com", "Otto Other", owner=False), Client(app.test_client()))
    assert other.get(f"/contracts/{cid}/disputes/{d.id}").status_code == 404
    assert other.get(f"/admin/disputes/{d.id}").status_code == 404
    assert other.get("/admin/disputes").status_code == 404 and other.get("/admin/contracts").status_code == 404
    assert freelancer.get(f"/admin/disputes/{d.id}").status_code == 404
    # Another contract's link does not open this dispute.
    from tests.web.builders import sent_contract
    _cid2, link2 = sent_contract(freelancer, outbox, amounts=("100",))
    assert visitor.get(f"{link2}/disputes/{d.id}").status_code == 404
    verify(visitor, link2, outbox)
    assert visitor.post(f"{link2}/disputes/{d.id}/messages", {"body": "hi"}).status_code == 404
    assert visitor.post(f"{link2}/milestones/{m.id}/dispute", {"reason": "other", "statement": "x"}).status_code == 404


def test_csrf_is_required(db, funded, freelancer, visitor):
    cid, link = funded
    m = milestones(db, cid)[0]
    r = visitor.post(f"{link}/milestones/{m.id}/dispute", {"reason": "other", "statement": "x"}, csrf=False)
    assert r.status_code == 400
    open_by_client(visitor, link, m.id)
    d = dispute_of(db, m.id)
    assert freelancer.post(f"/contracts/{cid}/disputes/{d.id}/refund", {"confirmed": "y"}, csrf=False).status_code == 400
    assert dispute_of(db, m.id).status == "open"


def test_a_refused_refund_is_said_plainly_and_the_dispute_stays_open(db, settled, freelancer, visitor, mediator,
                                                                     gateway):
    from tests.conftest import sales
    cid, link = settled
    m = milestones(db, cid)[0]
    open_by_client(visitor, link, m.id)
    d = dispute_of(db, m.id)
    [sale] = sales(gateway)
    with gateway.store.locked() as data:  # refunded in full by hand in the control panel
        data["transactions"][sale["id"]]["refunded_minor"] = sale["minor"]
    r = mediator.post(f"/admin/disputes/{d.id}/resolve",
                      {"kind": "split", "release": "500", "reason": "Half.", "confirmed": "y"})
    with gateway.store.locked() as data:  # (put back: the books never took it)
        data["transactions"][sale["id"]]["refunded_minor"] = 0
    assert r.status_code == 409 and 'data-testid="dispute-problem"' in r.text
    assert "dispute stays open" in r.text and "Traceback" not in r.text
    assert dispute_of(db, m.id).status == "open" and dispute_of(db, m.id).decided_at is None


def test_a_split_before_the_sale_settles_waits_for_it(db, funded, freelancer, visitor, mediator, gateway, app):
    from directcontracts.services import funding
    from tests.conftest import sales
    cid, link = funded  # the sale is not settled: part of it cannot be refunded yet
    m = milestones(db, cid)[0]
    open_by_client(visitor, link, m.id)
    d = dispute_of(db, m.id)
    r = mediator.post(f"/admin/disputes/{d.id}/resolve",
                      {"kind": "split", "release": "500", "reason": "Half.", "confirmed": "y"}, follow_redirects=True)
    queued = "Refund pending: it will be issued when the payment settles (usually within a day)."
    assert r.status_code == 200 and queued in r.text and "Both sides have been emailed" not in r.text
    page = visitor.get(f"{link}/disputes/{d.id}").text
    assert 'data-testid="dispute-refunding"' in page and queued in page and "Send message" not in page
    assert dispute_of(db, m.id).status == "open" and dispute_of(db, m.id).decided_at is not None
    [sale] = sales(gateway)
    gateway.settle(sale["id"])
    with app.test_request_context():
        assert funding.mark_settled(sale["id"]) == 1
    db.session.expire_all()
    assert (dispute_of(db, m.id).status, dispute_of(db, m.id).outcome) == ("closed", "split")


def test_a_lost_refund_answer_shows_the_refund_being_confirmed(db, settled, freelancer, visitor, gateway):
    from directcontracts.payments.testgateway import REFUND_ANSWER_LOST
    cid, link = settled
    m = milestones(db, cid)[0]
    open_by_client(visitor, link, m.id)
    d = dispute_of(db, m.id)
    gateway.refund_fault = REFUND_ANSWER_LOST
    r = freelancer.post(f"/contracts/{cid}/disputes/{d.id}/refund", {"confirmed": "y"})
    gateway.refund_fault = None
    assert r.status_code == 503 and "The refund is being confirmed" in r.text
    page = visitor.get(f"{link}/disputes/{d.id}").text
    assert 'data-testid="dispute-refunding"' in page and "Send message" not in page


def test_the_shop_wide_contract_list_is_read_only(db, funded, mediator, freelancer):
    cid, _link = funded
    page = mediator.get("/admin/contracts")
    assert page.status_code == 200 and f"/admin/contracts/{cid}" in page.text and "Fran Freelancer" in page.text
    assert f"/admin/contracts/{cid}" in mediator.get("/admin/contracts?status=active").text
    assert f"/admin/contracts/{cid}" not in mediator.get("/admin/contracts?status=draft").text
    show = mediator.get(f"/admin/contracts/{cid}")
    assert show.status_code == 200 and "Milestone 1" in show.text and "Timeline" in show.text
    assert "<form method=\"post\"" not in show.text.split("<main")[1]
    assert 'href="/admin/disputes"' in show.text and 'href="/admin/contracts"' in show.text  # the nav
    assert 'href="/admin/disputes"' not in freelancer.get("/contracts").text


def test_the_mediators_bell_leads_to_the_contract_they_mediate(db, funded, visitor, mediator):
    cid, link = funded
    open_by_client(visitor, link, milestones(db, cid)[0].id)
    page = mediator.get("/notifications").text
    assert "opened a dispute about “Milestone 1”" in page and "you mediate it" in page
    assert f'href="/admin/contracts/{cid}"' in page  # not the freelancer's page, which is not theirs


def test_a_client_on_a_new_device_comes_back_to_the_dispute_form_once_verified(app, db, funded, outbox):
    cid, link = funded
    mid = milestones(db, cid)[1].id
    phone = Client(app.test_client())
    r = phone.get(f"{link}/milestones/{mid}/dispute")
    assert r.status_code == 303 and r.location.endswith(f"/verify?next=dispute-{mid}")
    assert f'value="dispute-{mid}"' in phone.get(r.location).text
    done = verify(phone, link, outbox, next_action=f"dispute-{mid}")
    assert done.location.endswith(f"{link}/milestones/{mid}/dispute")
    assert phone.get(done.location).status_code == 200
    for forged in ("dispute-x", "dispute", "fund-3", "https://evil.example"):  # not a return point: none kept
        page = phone.get(f"{link}/verify?next={forged}").text
        assert f'value="{forged}"' not in page


def test_a_disputed_milestone_offers_no_refund_page(db, funded, freelancer, visitor):
    """Found in a deployment run: the refund form showed, then its submit was refused."""
    cid, link = funded
    m = milestones(db, cid)[0]
    open_by_client(visitor, link, m.id)
    for page in ("refund", "request-payment"):
        r = freelancer.get(f"/contracts/{cid}/milestones/{m.id}/{page}")
        assert r.status_code == 303 and r.location.endswith(f"/contracts/{cid}")
    shown = freelancer.get(f"/contracts/{cid}").text
    assert "“Milestone 1” cannot be refunded now: it is in dispute." in shown
