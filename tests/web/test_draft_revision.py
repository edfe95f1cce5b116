"""Revising a sent proposal without taking it from the client (issue 13, item 3).

"Edit (send a revision)" makes a draft revision: a copy the builder edits. The client keeps reading,
signing and funding the revision they were sent, exactly as sent, until the freelancer sends the
draft; sending bumps the revision, so a form from the older page is refused. The freelancer can
discard the draft. Once the client signed or funded (or declined) the sent revision, the draft can
only be discarded, and its builder says why.
"""
import re

from directcontracts.models import Contract, Milestone, PaymentAttempt, TimelineEvent
from tests.conftest import sales
from tests.web.builders import add_milestone, contract, fund, fund_form, revise, send_revision, sent_contract, verify

SIGN = {"signer_name": "Carla Client", "agree": "yes"}


def drafts_of(db, cid) -> list[Contract]:
    db.session.expire_all()
    return list(db.session.scalars(db.select(Contract).where(Contract.draft_of_id == cid)))


def edit_milestone(logged_in, draft_id, m, amount, title=None):
    r = logged_in.post(f"/contracts/{draft_id}/milestones/{m.id}", {"title": title or m.title, "amount": amount},
                       htmx=True)
    assert r.status_code == 200, r.text


def timeline(db, cid) -> list[str]:
    return list(db.session.scalars(db.select(TimelineEvent.message).where(TimelineEvent.contract_id == cid)
                                   .order_by(TimelineEvent.id)))


def test_the_client_signs_and_funds_the_sent_revision_while_a_draft_exists(logged_in, visitor, outbox, db, gateway):
    cid, link = sent_contract(logged_in, outbox, amounts=("300", "500"))
    verify(visitor, link, outbox)
    draft = revise(logged_in, cid)
    assert revise(logged_in, cid) == draft  # "Edit" again goes back to the same draft revision
    first = contract(db, draft).milestones[0]
    edit_milestone(logged_in, draft, first, "3300", title="Design, extended")
    add_milestone(logged_in, draft, "Extra pages", "900")
    terms = logged_in.get(f"/contracts/{draft}/terms").text
    assert "Draft revision, not sent." in terms and "Carla Client still sees revision 1 exactly as it was sent" in terms
    assert contract(db, cid).ref in terms and contract(db, draft).ref not in terms  # the reference the client reads

    # the client: revision 1 as sent, no "revising" banner, and every action still offered
    page = visitor.get(link).text
    assert "is revising" not in page and "Accept and fund" in page and "Request changes" in page
    assert "$300.00" in page and "$3,300.00" not in page and "Extra pages" not in page and "Draft" not in page
    fund_page = visitor.get(f"{link}/fund").text
    assert "All 2 milestones at once: $800.00" in fund_page
    c = contract(db, cid)
    assert (c.state, c.revision, [m.amount_minor for m in c.milestones]) == ("sent", 1, [30000, 50000])

    # the freelancer's page: revision 1 below, the draft above; one row in the list, not two
    show = logged_in.get(f"/contracts/{cid}").text
    assert "You have a draft revision of this proposal, not sent." in show
    assert "Continue the draft revision" in show and "Discard draft revision…" in show
    assert "Draft revision started; Carla Client still sees revision 1." in show
    listing = logged_in.get("/contracts").text
    assert listing.count("Website redesign") == 1 and contract(db, draft).ref not in listing
    assert logged_in.get(f"/contracts/{draft}").location.endswith(f"/contracts/{cid}")

    # the client signs and funds revision 1, exactly its amounts
    assert fund(visitor, link, choice="all").status_code == 303
    assert [s["minor"] for s in sales(gateway)] == [80000]
    assert contract(db, cid).state == "active"

    # the draft cannot be sent now: its builder and review say why, and send is refused
    terms = logged_in.get(f"/contracts/{draft}/terms").text
    assert "This draft revision can no longer be sent." in terms
    assert "the client has funded it. Carla Client answered revision 1 as it was sent" in terms
    review = logged_in.get(f"/contracts/{draft}/review").text
    assert "the client has funded it" in review and "Send revision 2" not in review
    r = logged_in.post(f"/contracts/{draft}/send", follow_redirects=True)
    assert "can no longer be revised: the client has funded it" in r.text
    c = contract(db, cid)
    assert (c.state, c.revision, [m.amount_minor for m in c.milestones]) == ("active", 1, [30000, 50000])
    show = logged_in.get(f"/contracts/{cid}").text
    assert "Your draft revision can no longer be sent." in show and "Continue the draft revision" not in show
    # ... and nothing is lost unsaid: it stays until the freelancer discards it
    assert len(drafts_of(db, cid)) == 1
    r = logged_in.post(f"/contracts/{cid}/revision/discard")
    assert r.status_code == 303 and drafts_of(db, cid) == []
    assert timeline(db, cid)[-1] == "Draft revision discarded; revision 1 stays as sent."


def test_sending_the_draft_revision_applies_it_and_refuses_the_older_page(logged_in, visitor, outbox, db, gateway):
    cid, link = sent_contract(logged_in, outbox, amounts=("300", "500"))
    verify(visitor, link, outbox)
    old_form = fund_form(visitor, link)
    m1_id, m2_id = (m.id for m in contract(db, cid).milestones)
    draft = revise(logged_in, cid)
    d1, d2 = contract(db, draft).milestones
    assert (d1.draft_of_id, d2.draft_of_id) == (m1_id, m2_id)
    edit_milestone(logged_in, draft, d1, "350")
    assert logged_in.post(f"/contracts/{draft}/milestones/{d2.id}/delete", htmx=True).status_code == 200
    add_milestone(logged_in, draft, "Extra pages", "900")
    review = logged_in.get(f"/contracts/{draft}/review").text
    assert "Send revision 2" in review and "once you send this revision" in review
    emails = len(outbox())

    send_revision(logged_in, draft, cid)
    c = contract(db, cid)
    assert (c.state, c.revision) == ("sent", 2)
    assert [(m.id == m1_id, m.title, m.amount_minor) for m in c.live_milestones] == [
        (True, "Milestone 1", 35000), (False, "Extra pages", 90000)]  # the kept milestone keeps its id
    assert db.session.scalar(db.select(db.func.count(Milestone.id)).where(Milestone.id == m2_id)) == 0  # removed
    assert drafts_of(db, cid) == [] and db.session.scalar(db.select(Contract.id).where(Contract.id == draft)) is None
    assert db.session.scalar(db.select(db.func.count(Milestone.id)).where(Milestone.draft_of_id.is_not(None))) == 0
    assert [e.subject for e in outbox()[emails:]] == ["Fran Freelancer revised the contract: Website redesign"]
    assert "Revision 2 sent to carla@client-co.com." in timeline(db, cid)
    # the same send again (a double click, a resent request) finds no draft: nothing applied twice
    again = logged_in.post(f"/contracts/{draft}/send")
    assert again.status_code == 404
    assert contract(db, cid).revision == 2 and len(outbox()) == emails + 1

    page = visitor.get(link).text
    assert "$350.00" in page and "Extra pages" in page and "$500.00" not in page
    # the fund form from revision 1's page is refused: nothing charged, the change told
    stale = visitor.post(f"{link}/fund",
                         old_form | {"choice": "all", "payment_method_nonce": "fake-valid-nonce"} | SIGN)
    assert stale.status_code == 409
    assert "The freelancer sent revision 2 of the proposal; you opened revision 1." in stale.text
    assert "Nothing was charged" in stale.text
    assert sales(gateway) == [] and db.session.scalar(db.select(db.func.count(PaymentAttempt.id))) == 0
    # a reply carrying revision 1 is refused too
    r = visitor.post(f"{link}/decline", {"reason": "Too expensive.", "revision": "1"})
    assert r.status_code == 422 and "sent revision 2 of the proposal since you opened revision 1" in r.text


def test_discard_asks_first_and_restores_the_sent_revision(logged_in, visitor, outbox, db):
    cid, link = sent_contract(logged_in, outbox, amounts=("300", "500"))
    draft = revise(logged_in, cid)
    edit_milestone(logged_in, draft, contract(db, draft).milestones[0], "3300")
    confirm = logged_in.get(f"/contracts/{cid}/revision/discard")
    assert confirm.status_code == 200
    assert "Discard the draft revision of “Website redesign”?" in confirm.text
    assert "Carla Client keeps revision 1 exactly as it was sent, and can still sign and fund it." in confirm.text
    assert re.search(r"Sent \(revision 1\)</dt><dd>Website redesign: 2 payments, \$800.00", confirm.text)
    assert re.search(r"Draft revision</dt><dd>Website redesign: 2 payments, \$3,800.00", confirm.text)
    assert len(drafts_of(db, cid)) == 1  # asking changed nothing

    r = logged_in.post(f"/contracts/{cid}/revision/discard", follow_redirects=True)
    assert "Draft revision discarded. Carla Client keeps revision 1 as it was sent." in r.text
    assert "Edit (send a revision)" in r.text and "Continue the draft revision" not in r.text
    assert drafts_of(db, cid) == [] and db.session.scalar(db.select(Contract.id).where(Contract.id == draft)) is None
    c = contract(db, cid)
    assert (c.state, c.revision, [m.amount_minor for m in c.milestones]) == ("sent", 1, [30000, 50000])
    assert logged_in.get(f"/contracts/{draft}/terms").status_code == 404  # gone
    # a second discard has nothing to discard; a new draft starts from the sent terms again
    r = logged_in.post(f"/contracts/{cid}/revision/discard", follow_redirects=True)
    assert "There is no draft revision to discard." in r.text
    again = revise(logged_in, cid)
    assert [m.amount_minor for m in contract(db, again).milestones] == [30000, 50000]
    # the client never saw any of it
    assert "Draft revision" not in visitor.get(link).text


def test_a_signature_or_a_decline_since_the_draft_started_stops_its_sending(logged_in, visitor, outbox, db, gateway):
    cid, link = sent_contract(logged_in, outbox, amounts=("300",))
    verify(visitor, link, outbox)
    draft = revise(logged_in, cid)
    edit_milestone(logged_in, draft, contract(db, draft).milestones[0], "250")
    # the client signs revision 1, and their card is declined: signed, awaiting funding
    r = fund(visitor, link, choice="all", nonce="fake-processor-declined-visa-nonce")
    assert r.status_code == 422 and "Payment declined." in r.text
    assert "signed" in logged_in.get(f"/contracts/{cid}").text.lower()
    terms = logged_in.get(f"/contracts/{draft}/terms").text
    assert "This draft revision can no longer be sent." in terms and "the client signed it" in terms
    r = logged_in.post(f"/contracts/{draft}/send", follow_redirects=True)
    assert "This proposal can no longer be revised: the client signed it" in r.text
    assert (contract(db, cid).revision, contract(db, cid).milestones[0].amount_minor) == (1, 30000)
    logged_in.post(f"/contracts/{cid}/revision/discard")
    # with the signature standing, a new draft revision is not started either
    r = logged_in.post(f"/contracts/{cid}/revise", follow_redirects=True)
    assert "This proposal can no longer be revised: the client signed it" in r.text and drafts_of(db, cid) == []
    assert "Edit (send a revision)" not in r.text


def test_a_decline_since_the_draft_started_stops_its_sending(logged_in, visitor, outbox, db):
    cid, link = sent_contract(logged_in, outbox, amounts=("300",))
    verify(visitor, link, outbox)
    draft = revise(logged_in, cid)
    assert visitor.post(f"{link}/decline", {"reason": "No, thanks.", "revision": "1"}).status_code == 303
    r = logged_in.post(f"/contracts/{draft}/send", follow_redirects=True)
    assert "This proposal can no longer be revised: the client declined it." in r.text
    assert contract(db, cid).state == "declined" and len(drafts_of(db, cid)) == 1


def test_a_withdrawn_proposals_draft_revision_says_so_and_can_be_discarded(logged_in, outbox, db):
    cid, _ = sent_contract(logged_in, outbox, amounts=("300",))
    draft = revise(logged_in, cid)
    assert logged_in.post(f"/contracts/{cid}/withdraw").status_code == 303
    show = logged_in.get(f"/contracts/{cid}").text
    assert ("This proposal can no longer be revised: it was withdrawn. Discard this draft revision to go back to "
            "the contract.") in show and "answered" not in show
    assert "Discard draft revision…" in show and "Continue the draft revision" not in show
    assert logged_in.post(f"/contracts/{draft}/send").status_code == 303 and contract(db, cid).revision == 1
    assert logged_in.post(f"/contracts/{cid}/revision/discard").status_code == 303 and drafts_of(db, cid) == []


def test_after_a_change_request_the_draft_revision_answers_it(logged_in, visitor, outbox, db):
    cid, link = sent_contract(logged_in, outbox, amounts=("300",))
    verify(visitor, link, outbox, "changes")
    assert visitor.post(f"{link}/changes", {"message": "Cheaper please.", "revision": "1"}).status_code == 303
    draft = revise(logged_in, cid)
    edit_milestone(logged_in, draft, contract(db, draft).milestones[0], "250")
    assert "Cheaper please." in logged_in.get(f"/contracts/{cid}").text  # the open request stays on top
    page = visitor.get(link).text
    assert "You asked for changes" in page and "$300.00" in page and "$250.00" not in page
    send_revision(logged_in, draft, cid)
    c = contract(db, cid)
    assert (c.state, c.revision, c.milestones[0].amount_minor) == ("sent", 2, 25000)
    page = visitor.get(link).text
    assert "Accept and fund" in page and "$250.00" in page and "Sent revision 2 of the proposal." in page


def test_a_draft_revision_is_its_freelancers_alone_and_is_no_contract_of_its_own(
        client, logged_in, make_member, login_as, visitor, outbox, db, app):
    from tests.conftest import Client
    cid, link = sent_contract(logged_in, outbox, amounts=("300",))
    draft = revise(logged_in, cid)
    dm = contract(db, draft).milestones[0]
    # the draft's own id opens its builder only: not withdrawn, linked, messaged or ended as a contract
    for url in (f"/contracts/{draft}/withdraw", f"/contracts/{draft}/new-link", f"/contracts/{draft}/end",
                f"/contracts/{draft}/revision/discard"):
        assert logged_in.get(url).status_code == 404, url
    for url in (f"/contracts/{draft}/withdraw", f"/contracts/{draft}/revise", f"/contracts/{draft}/new-link"):
        assert logged_in.post(url).status_code == 404, url
    # another member: nothing of it
    bob = make_member("bob@example.com", "Bob", owner=False)
    other = login_as(bob, Client(app.test_client()))
    for url in (f"/contracts/{draft}", f"/contracts/{draft}/terms", f"/contracts/{draft}/review",
                f"/contracts/{cid}/revision/discard"):
        assert other.get(url).status_code == 404, url
    for url in (f"/contracts/{draft}/send", f"/contracts/{draft}/milestones/{dm.id}",
                f"/contracts/{cid}/revision/discard", f"/contracts/{cid}/revise"):
        assert other.post(url, {"title": "x", "amount": "9"}).status_code == 404, url
    # the owner's read-only view does not list or open it
    owner_page = logged_in.get(f"/admin/contracts/{draft}")
    assert owner_page.status_code == 404
    assert contract(db, draft).ref not in logged_in.get("/admin/contracts").text
    # CSRF: a discard or send without the token changes nothing
    assert logged_in.post(f"/contracts/{cid}/revision/discard", csrf=False).status_code == 400
    assert logged_in.post(f"/contracts/{draft}/send", csrf=False).status_code == 400
    assert len(drafts_of(db, cid)) == 1 and contract(db, cid).revision == 1
    # typed at /c, the draft's reference (never shown to the client) finds nothing: no code is emailed
    emails = len(outbox())
    r = visitor.post("/c", {"ref": contract(db, draft).ref})
    assert "we emailed a 6-digit code to its client" in r.text and len(outbox()) == emails


def test_the_client_cannot_be_charged_while_the_revision_is_being_sent(logged_in, visitor, outbox, db, gateway):
    """A payment in flight holds the sent milestones: the draft revision waits, and is then refused or sent."""
    cid, link = sent_contract(logged_in, outbox, amounts=("300",))
    verify(visitor, link, outbox)
    draft = revise(logged_in, cid)
    edit_milestone(logged_in, draft, contract(db, draft).milestones[0], "250")
    fund(visitor, link, nonce="fake-timeout-nonce")  # the outcome is unknown: milestone 1 is held
    r = logged_in.post(f"/contracts/{draft}/send", follow_redirects=True)
    assert "The client is paying right now" in r.text
    assert (contract(db, cid).revision, contract(db, cid).milestones[0].amount_minor) == (1, 30000)
    # discarding is the freelancer's alone: allowed even now
    assert logged_in.post(f"/contracts/{cid}/revision/discard").status_code == 303
    assert drafts_of(db, cid) == []
