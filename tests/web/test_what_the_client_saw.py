"""A client pays exactly what their page showed, and signs the revision they read.

The fund form carries a quote per choice (revision, milestones, amounts).
When the contract changed since the page was shown, the server charges
nothing and answers 409 with the page again, saying what changed.
"""
import pytest

from directcontracts.domain.quotes import Quote
from directcontracts.models import Acceptance, ContractRevision, PaymentAttempt
from tests.conftest import sales
from tests.web.builders import add_milestone, contract, fund, fund_form, hidden_fields, revise, send_revision, \
    sent_contract, verify

SIGN = {"signer_name": "Carla Client", "agree": "yes"}


def submit(visitor, link, shown: dict, choice="first", sign=True, nonce="fake-valid-nonce"):
    """Post the fund form exactly as it was rendered earlier (its key and quotes)."""
    data = shown | {"choice": choice, "payment_method_nonce": nonce} | (SIGN if sign else {})
    return visitor.post(f"{link}/fund", data)


def revise_first_milestone(logged_in, db, cid, amount):
    draft = revise(logged_in, cid)
    m = contract(db, draft).milestones[0]
    r = logged_in.post(f"/contracts/{draft}/milestones/{m.id}", {"title": m.title, "amount": amount}, htmx=True)
    assert r.status_code == 200, r.text
    send_revision(logged_in, draft, cid)


def test_a_revision_sent_after_the_page_opened_charges_nothing(logged_in, visitor, outbox, db, gateway):
    cid, link = sent_contract(logged_in, outbox, amounts=("300", "500"))
    verify(visitor, link, outbox)
    page = visitor.get(f"{link}/fund")
    assert "The first milestone, Milestone 1: $300.00" in page.text
    shown = hidden_fields(page.text)
    revise_first_milestone(logged_in, db, cid, "3300")

    stale = submit(visitor, link, shown)
    assert stale.status_code == 409
    assert "The freelancer changed this contract since you opened it" in stale.text
    assert "revision 2" in stale.text and "revision 1" in stale.text
    assert "“Milestone 1” changed from $300.00 to $3,300.00." in stale.text
    assert "Nothing was charged" in stale.text
    assert sales(gateway) == [] and db.session.scalar(db.select(db.func.count(PaymentAttempt.id))) == 0
    assert db.session.scalar(db.select(db.func.count(Acceptance.id))) == 0  # revision 2 was never read
    assert 'name="signer_name"' in stale.text and 'value="Carla Client"' in stale.text
    assert 'id="agree" name="agree" value="yes" checked' not in stale.text  # agreeing again is the confirmation

    # the re-rendered page carries the new quote: confirming it pays the new amount, signs revision 2
    ok = submit(visitor, link, hidden_fields(stale.text))
    assert ok.status_code == 303, ok.text
    assert [s["minor"] for s in sales(gateway)] == [330000]
    signed = db.session.scalar(db.select(ContractRevision.number).join(
        Acceptance, Acceptance.revision_id == ContractRevision.id))
    assert signed == 2


def test_a_milestone_added_to_an_active_contract_is_not_charged_unseen(logged_in, visitor, outbox, db, gateway):
    cid, link = sent_contract(logged_in, outbox, amounts=("300", "200", "300"))
    verify(visitor, link, outbox)
    assert fund(visitor, link, choice="first").status_code == 303
    page = visitor.get(f"{link}/fund")
    assert "All 2 milestones at once: $500.00" in page.text
    shown = hidden_fields(page.text)
    add_milestone(logged_in, cid, "Extra work", "900")

    stale = submit(visitor, link, shown, choice="all", sign=False)
    assert stale.status_code == 409
    assert "“Extra work” ($900.00) was added." in stale.text
    assert "The total is now $1,400.00 (it was $500.00)." in stale.text
    assert [s["minor"] for s in sales(gateway)] == [30000]
    assert "All 3 milestones at once: $1,400.00" in stale.text
    assert [m.state for m in contract(db, cid).milestones] == ["funded", "pending", "pending", "pending"]


def test_a_milestone_changed_or_removed_on_an_active_contract(logged_in, visitor, outbox, db, gateway):
    cid, link = sent_contract(logged_in, outbox, amounts=("300", "200", "400"))
    verify(visitor, link, outbox)
    assert fund(visitor, link, choice="first").status_code == 303
    m2, m3 = contract(db, cid).milestones[1:]
    shown = fund_form(visitor, link)
    r = logged_in.post(f"/contracts/{cid}/milestones/{m2.id}", {"title": m2.title, "amount": "250"}, htmx=True)
    assert r.status_code == 200, r.text
    stale = submit(visitor, link, shown, choice="first", sign=False)
    assert stale.status_code == 409 and "“Milestone 2” changed from $200.00 to $250.00." in stale.text
    assert logged_in.post(f"/contracts/{cid}/milestones/{m3.id}/delete", htmx=True).status_code == 200
    stale = submit(visitor, link, shown, choice=f"m{m3.id}", sign=False)
    assert stale.status_code == 409 and "“Milestone 3” ($400.00) is no longer part of this payment." in stale.text
    assert [s["minor"] for s in sales(gateway)] == [30000]


@pytest.mark.parametrize("tamper", [
    lambda q: q.replace(":100000", ":1"),  # a smaller amount typed into the form
    lambda q: "",                          # an old form without quotes
    lambda q: "garbage",
])
def test_a_quote_that_does_not_match_is_refused_never_used_as_the_amount(logged_in, visitor, outbox, db,
                                                                         gateway, tamper):
    cid, link = sent_contract(logged_in, outbox, amounts=("1000", "500"))
    verify(visitor, link, outbox)
    shown = fund_form(visitor, link)
    shown["quote_first"] = tamper(shown["quote_first"])
    r = submit(visitor, link, shown)
    assert r.status_code == 409 and "Nothing was charged" in r.text
    assert sales(gateway) == [] and db.session.scalar(db.select(db.func.count(Acceptance.id))) == 0


def test_htmx_submit_of_a_stale_page_swaps_the_widget_with_the_changes(logged_in, visitor, outbox, db, gateway):
    cid, link = sent_contract(logged_in, outbox, amounts=("300", "500"))
    verify(visitor, link, outbox)
    shown = fund_form(visitor, link)
    revise_first_milestone(logged_in, db, cid, "350")
    data = shown | {"choice": "all", "payment_method_nonce": "fake-valid-nonce"} | SIGN
    r = visitor.post(f"{link}/fund", data, htmx=True)
    assert r.status_code == 409 and r.text.lstrip().startswith('<div id="fund">') and "<html" not in r.text
    assert "The total is now $850.00 (it was $800.00)." in r.text
    assert sales(gateway) == []


def test_quote_round_trip_and_unit_changes():
    q = Quote(3, ((12, 30000), (13, 50000)), "USD")
    assert Quote.decode(q.encode()) == q and q.total.minor == 80000
    assert Quote.decode("r3;12:30000;usd") is None and Quote.decode(None) is None


def test_a_reply_to_an_older_revision_is_refused_and_kept(logged_in, visitor, outbox, db):
    cid, link = sent_contract(logged_in, outbox, amounts=("300", "500"))
    verify(visitor, link, outbox)
    page = visitor.get(link).text
    assert f"{link}/decline?revision=1" in page
    revise_first_milestone(logged_in, db, cid, "250")
    form = visitor.get(f"{link}/decline?revision=1").text  # the link from the page read before the revision
    assert '<input type="hidden" name="revision" value="1">' in form
    r = visitor.post(f"{link}/decline", {"reason": "Too expensive.", "revision": "1"})
    assert r.status_code == 422 and "sent revision 2 of the proposal since you opened revision 1" in r.text
    assert "Too expensive." in r.text and contract(db, cid).state == "sent"
    assert '<input type="hidden" name="revision" value="2">' in r.text  # told, the client may reply to it
    r = visitor.post(f"{link}/decline", {"reason": "Still too expensive.", "revision": "2"})
    assert r.status_code == 303 and contract(db, cid).state == "declined"


def test_a_form_refused_for_a_missing_payment_method_is_not_signed(logged_in, visitor, outbox, db, gateway):
    cid, link = sent_contract(logged_in, outbox, amounts=("300",))
    verify(visitor, link, outbox)
    r = submit(visitor, link, fund_form(visitor, link), nonce="")
    assert r.status_code == 422 and "Choose a payment method." in r.text
    assert "Signed by" not in r.text and "Sign and pay" in r.text
    assert db.session.scalar(db.select(db.func.count(Acceptance.id))) == 0 and sales(gateway) == []


def test_a_fund_form_sent_to_a_declined_proposal_says_why_and_offers_no_form(
        logged_in, visitor, outbox, db, gateway):
    cid, link = sent_contract(logged_in, outbox, amounts=("300",))
    verify(visitor, link, outbox)
    shown = fund_form(visitor, link)
    revise_first_milestone(logged_in, db, cid, "300")  # the same amount, but revision 2 was never read
    r = submit(visitor, link, shown)
    assert r.status_code == 409 and "The freelancer sent revision 2 of the proposal" in r.text
    assert visitor.post(f"{link}/decline", {"reason": "No.", "revision": "2"}).status_code == 303
    r = submit(visitor, link, shown)
    assert r.status_code == 409 and "You declined this proposal" in r.text and 'id="fund-form"' not in r.text
    assert sales(gateway) == []
