"""A funded contract's life over HTTP: request payment, approve, changes, refunds, ending, fees."""
import csv
import io

import pytest

from directcontracts.models import Journal, Notification, utcnow
from directcontracts.services import ledger
from tests.conftest import sales
from tests.web.builders import (
    approve, contract, funded_contract, request_payment, fund,
)


def journals(db, kind):
    db.session.expire_all()
    return list(db.session.scalars(db.select(Journal).where(Journal.kind == kind).order_by(Journal.id)))


def entries(journal):
    return {e.account: e.amount_minor for e in journal.entries}


@pytest.fixture
def funded(logged_in, visitor, outbox):
    return funded_contract(logged_in, visitor, outbox)


def test_request_payment_then_approve_releases_at_once(logged_in, visitor, funded, outbox, db):
    cid, link = funded
    m1 = contract(db, cid).milestones[0]
    form = logged_in.get(f"/contracts/{cid}/milestones/{m1.id}/request-payment")
    assert 'label for="note"' in form.text and 'label for="url"' in form.text
    bad = logged_in.post(f"/contracts/{cid}/milestones/{m1.id}/request-payment", {"note": "", "url": "ftp://x"})
    assert bad.status_code == 422 and "Say what you delivered." in bad.text
    request_payment(logged_in, cid, m1.id)
    m = contract(db, cid).milestones[0]
    assert m.state == "submitted" and (m.auto_release_at - m.submitted_at).days == 14
    email = outbox()[-1]
    assert email.subject == "Payment requested: Milestone 1 — Website redesign"
    assert "released automatically on" in email.body_text and "/c/" in email.body_text
    # the client sees it, with the date, and approves after a confirmation that states the amount
    page = visitor.get(link)
    assert "Payment requested:" in page.text and "Approve and release" in page.text
    confirm = visitor.get(f"{link}/milestones/{m1.id}/approve")
    assert "$1,000.00" in confirm.text and "immediately" in confirm.text and "cannot be undone" in confirm.text
    approve(visitor, link, m1.id)
    assert contract(db, cid).milestones[0].state == "released"
    [release] = journals(db, "release")
    assert entries(release) == {"escrow": -100000, "freelancer": 96600, "fees": 3400}
    # twice is once
    approve(visitor, link, m1.id)
    assert len(journals(db, "release")) == 1
    subjects = [e.subject for e in outbox()]
    assert "Released: $966.00 for Milestone 1 — Website redesign" in subjects
    assert "Receipt: Milestone 1 released — Website redesign" in subjects
    assert any("you receive $966.00 ($34.00 fee)" in n.message for n in db.session.scalars(db.select(Notification)))
    show = logged_in.get(f"/contracts/{cid}")
    for text in ("fee $34.00, you received $966.00", 'data-testid="in-escrow">$2,500.00<',
                 'data-testid="released">$1,000.00<', 'data-testid="fees">$34.00<', 'data-testid="received">$966.00<'):
        assert text in show.text, text
    listing = logged_in.get("/contracts")
    assert 'data-testid="received">$966.00<' in listing.text


def test_client_requests_changes_and_the_clock_stops(logged_in, visitor, funded, outbox, db):
    cid, link = funded
    mid = contract(db, cid).milestones[0].id
    request_payment(logged_in, cid, mid)
    assert visitor.post(f"{link}/milestones/{mid}/changes", {"message": ""}).status_code == 422
    r = visitor.post(f"{link}/milestones/{mid}/changes", {"message": "The logo is blurry."})
    assert r.status_code == 303
    m = contract(db, cid).milestones[0]
    assert m.state == "funded" and m.auto_release_at is None
    assert "The logo is blurry." in outbox()[-1].body_text and outbox()[-1].to_addr == "fran@example.com"
    request_payment(logged_in, cid, mid, note="Sharper logo.")
    approve(visitor, link, mid)
    assert contract(db, cid).milestones[0].state == "released"


def test_wrong_parties_are_refused(logged_in, visitor, funded, outbox, db, make_member, app, login_as):
    cid, link = funded
    mid = contract(db, cid).milestones[0].id
    # the client cannot approve before payment is requested, nor request payment
    r = visitor.post(f"{link}/milestones/{mid}/approve")
    assert r.status_code == 409 and "Cannot approve: This milestone is funded" in r.text
    assert visitor.post(f"/contracts/{cid}/milestones/{mid}/request-payment", {"note": "x"}).status_code == 302
    # the freelancer has no client session: approving needs the client's verified device
    request_payment(logged_in, cid, mid)
    r = logged_in.post(f"{link}/milestones/{mid}/approve")
    assert r.status_code == 303 and "/verify" in r.location
    assert contract(db, cid).milestones[0].state == "submitted"
    # another member cannot touch it
    other = app.test_client()
    from tests.conftest import Client
    other = Client(other)
    login_as(make_member("bob@example.com", "Bob", owner=False), other)
    for url in (f"/contracts/{cid}/milestones/{mid}/request-payment", f"/contracts/{cid}/milestones/{mid}/refund",
                f"/contracts/{cid}/end"):
        assert other.post(url, {"note": "x", "reason": "x"}).status_code == 404
        assert other.get(url).status_code == 404
    # requesting payment twice: refused with a reason, nothing changes
    r = logged_in.post(f"/contracts/{cid}/milestones/{mid}/request-payment", {"note": "again"}, follow_redirects=True)
    assert "Payment has already been requested" in r.text


def test_refund_voids_an_unsettled_single_milestone_charge(logged_in, visitor, outbox, db, gateway):
    cid, link = funded_contract(logged_in, visitor, outbox, choice="first")
    mid = contract(db, cid).milestones[0].id
    confirm = logged_in.get(f"/contracts/{cid}/milestones/{mid}/refund")
    assert "$1,000.00" in confirm.text and "cannot be undone" in confirm.text
    assert logged_in.post(f"/contracts/{cid}/milestones/{mid}/refund", {"reason": ""}).status_code == 422
    r = logged_in.post(f"/contracts/{cid}/milestones/{mid}/refund", {"reason": "Project cancelled."})
    assert r.status_code == 303
    assert contract(db, cid).milestones[0].state == "refunded"
    [refund] = journals(db, "refund")
    assert entries(refund) == {"escrow": -100000, "client": 100000}
    assert sales(gateway)[0]["status"] == "voided"
    email = outbox()[-1]
    assert email.subject == "Refund: $1,000.00 for Milestone 1 — Website redesign" and "Project cancelled." in email.body_text
    # twice: refused, nothing more
    again = logged_in.post(f"/contracts/{cid}/milestones/{mid}/refund", {"reason": "again"}, follow_redirects=True)
    assert "Cannot refund: This milestone was refunded." in again.text and len(journals(db, "refund")) == 1


def test_partial_refund_of_a_multi_milestone_charge(logged_in, visitor, funded, outbox, db, gateway):
    cid, link = funded  # one charge of $3,500 for three milestones
    m2 = contract(db, cid).milestones[1]
    r = logged_in.post(f"/contracts/{cid}/milestones/{m2.id}/refund", {"reason": "Out of scope."},
                       follow_redirects=True)
    # Unsettled: Braintree refuses partial refunds, so the refund waits for the settlement.
    assert "Refund pending: it will be issued when the payment settles" in r.text
    assert contract(db, cid).milestones[1].state == "funded" and journals(db, "refund") == []
    gateway.settle(sales(gateway)[0]["id"])
    from directcontracts.services import funding
    assert funding.mark_settled(sales(gateway)[0]["id"]) == 1
    [refund] = journals(db, "refund")
    assert entries(refund) == {"escrow": -200000, "client": 200000}
    assert sales(gateway)[0]["refunded_minor"] == 200000


def test_end_is_refused_while_money_is_held_then_completes(logged_in, visitor, outbox, db):
    cid, link = funded_contract(logged_in, visitor, outbox, choice="first")
    r = logged_in.post(f"/contracts/{cid}/end", follow_redirects=True)
    assert "Money is still in escrow for “Milestone 1”. Release or refund it first." in r.text
    assert contract(db, cid).state == "active"
    mid = contract(db, cid).milestones[0].id
    request_payment(logged_in, cid, mid)
    approve(visitor, link, mid)
    assert logged_in.post(f"/contracts/{cid}/end").status_code == 303
    c = contract(db, cid)
    assert c.state == "ended" and [m.state for m in c.milestones] == ["released", "cancelled", "cancelled"]
    assert outbox()[-1].subject == "Contract ended: Website redesign"


def test_contract_completes_by_itself(logged_in, visitor, funded, outbox, db, gateway):
    cid, link = funded
    ids = [m.id for m in contract(db, cid).milestones]
    for mid in ids[:2]:
        request_payment(logged_in, cid, mid)
        approve(visitor, link, mid)
    gateway.settle(sales(gateway)[0]["id"])  # a partial refund needs a settled sale
    assert logged_in.post(f"/contracts/{cid}/milestones/{ids[2]}/refund", {"reason": "Not needed."}).status_code == 303
    c = contract(db, cid)
    assert [m.state for m in c.milestones] == ["released", "released", "refunded"]
    assert c.state == "completed"
    assert "Completed: Website redesign" in [e.subject for e in outbox()]
    money = ledger.contract_money([c])[cid]
    assert (money.in_escrow.minor, money.released.minor, money.fees.minor, money.refunded.minor) == (0, 300000, 10200, 50000)


@pytest.mark.parametrize("currency, amounts, fees", [
    ("USD", ("333.33", "333.33", "333.34"), [1133, 1134, 1133]),   # 34.00 in all = 3.4% of 1,000.00
    ("JPY", ("1001", "1001", "1001"), [34, 34, 34]),               # ¥102 = round(3003 × 0.034 = 102.10)
    ("USD", ("14.71", "14.71", "14.73"), [50, 50, 50]),            # 1.50 = round(44.15 × 0.034 = 1.5011)
])
def test_fees_are_exact_over_the_contract(logged_in, visitor, outbox, db, currency, amounts, fees):
    cid, link = funded_contract(logged_in, visitor, outbox, amounts=amounts, currency=currency)
    for m in contract(db, cid).milestones:
        request_payment(logged_in, cid, m.id)
        approve(visitor, link, m.id)
    charged = [entries(j)["fees"] for j in journals(db, "release")]
    assert charged == fees
    total = sum(int(a.replace(".", "")) for a in amounts)
    assert sum(charged) == (2 * total * 340 + 10000) // 20000  # round_half_up(3.4% × total released)


def test_active_contract_milestones_can_be_added_changed_removed(logged_in, visitor, outbox, db):
    cid, link = funded_contract(logged_in, visitor, outbox, choice="first")
    c = contract(db, cid)
    funded_id, pending_id = c.milestones[0].id, c.milestones[1].id
    page = logged_in.get(f"/contracts/{cid}/terms")
    assert page.status_code == 200 and "This contract is active" in page.text and "Contract title" not in page.text
    r = logged_in.post(f"/contracts/{cid}/milestones", {"title": "Extra page", "amount": "300"}, htmx=True)
    assert r.status_code == 200
    assert outbox()[-1].subject == "Milestone added: Extra page — Website redesign"
    r = logged_in.post(f"/contracts/{cid}/milestones/{pending_id}", {"title": "Build v2", "amount": "2100"}, htmx=True)
    assert r.status_code == 200 and outbox()[-1].subject == "Milestone changed: Build v2 — Website redesign"
    r = logged_in.post(f"/contracts/{cid}/milestones/{funded_id}", {"title": "x", "amount": "1"}, htmx=True)
    assert r.status_code == 409 and "not funded" in r.text
    r = logged_in.post(f"/contracts/{cid}/milestones/{c.milestones[2].id}/delete", htmx=True)
    assert r.status_code == 200 and outbox()[-1].subject.startswith("Milestone removed: Milestone 3")
    c = contract(db, cid)
    assert [(m.title, m.state) for m in c.milestones] == [
        ("Milestone 1", "funded"), ("Build v2", "pending"), ("Milestone 3", "cancelled"), ("Extra page", "pending")]
    page = visitor.get(link)
    assert "updated" in page.text and "Build v2" in page.text and "Cancelled" in page.text
    # funding the new milestone is the client's acceptance of it
    extra = c.milestones[3].id
    assert fund(visitor, link, choice=f"m{extra}", sign=False).status_code == 303
    assert contract(db, cid).milestones[3].state == "funded"


def test_payouts_report_and_csv(client, make_member, login_as, visitor, outbox, db):
    owner = make_member("olive@example.com", "Olive Owner", owner=True)
    login_as(owner)
    cid, link = funded_contract(client, visitor, outbox, choice="first")
    mid = contract(db, cid).milestones[0].id
    request_payment(client, cid, mid)
    approve(visitor, link, mid)
    page = client.get("/admin/payouts")
    month = f"{utcnow():%Y-%m}"
    assert "Olive Owner" in page.text and month in page.text and "$966.00" in page.text
    rows = list(csv.DictReader(io.StringIO(client.get("/admin/payouts.csv").text)))
    assert rows == [{"member": "Olive Owner", "email": "olive@example.com", "period": month, "currency": "USD",
                     "released": "1000.00", "fees": "34.00", "taken_back": "0.00", "net": "966.00"}]
    assert "Nothing was released" in client.get("/admin/payouts?start=2000-01-01&end=2000-01-31").text
    assert "YYYY-MM-DD" in client.get("/admin/payouts?start=garbage").text


def test_bell_count_fragment(logged_in, visitor, funded, db):
    r = logged_in.get("/notifications/count", htmx=True)
    assert r.status_code == 200 and "<html" not in r.text and 'id="bell-count"' in r.text and ">1<" in r.text
    logged_in.post("/notifications/read")
    assert ">0<" in logged_in.get("/notifications/count", htmx=True).text
