"""The owner's Reconciliation page: the last comparison with the gateway's records as kept, "Check now"
(CSRF-protected), the mismatches in plain words; owner only."""
import pytest

from directcontracts.models import ReconciliationRun
from tests.conftest import sales
from tests.web.builders import funded_contract


def test_never_run_shows_an_empty_state_and_the_nav_links_to_it(logged_in, db):
    page = logged_in.get("/admin/reconciliation")
    assert page.status_code == 200
    assert 'data-testid="reconciliation-empty"' in page.text and "has not run yet" in page.text
    assert 'href="/admin/reconciliation"' in logged_in.get("/admin/payouts").text


def test_check_now_keeps_the_run_and_shows_ok_with_the_totals(logged_in, visitor, outbox, db, gateway):
    funded_contract(logged_in, visitor, outbox, amounts=("300", "500"), choice="all")
    r = logged_in.post("/admin/reconciliation")
    assert r.status_code == 303 and r.location.endswith("/admin/reconciliation")
    page = logged_in.get(r.location).text
    assert "Checked: the books match the gateway&#39;s records." in page
    assert 'data-testid="reconciliation-ok"' in page and "1 sales and 0 refunds at the gateway" in page
    assert "Charged at the gateway (USD)" in page and page.count("$800.00") >= 2
    assert db.session.scalar(db.select(db.func.count(ReconciliationRun.id))) == 1


@pytest.mark.gateway_gap
def test_mismatches_are_listed_in_plain_words(logged_in, visitor, outbox, db, gateway):
    funded_contract(logged_in, visitor, outbox, amounts=("300", "500"), choice="all")
    [sale] = sales(gateway)
    with gateway.store.locked() as data:
        data["transactions"][sale["id"]]["status"] = "voided"
    page = logged_in.post("/admin/reconciliation", follow_redirects=True).text
    assert "Checked: 1 mismatch(es)" in page and 'data-testid="reconciliation-problems"' in page
    assert "1 thing does not match" in page
    assert f"Gateway sale {sale['id']} ($800.00, voided): the books still hold payment" in page


def test_the_page_does_not_call_the_gateway(logged_in, db, gateway, monkeypatch):
    monkeypatch.setattr(gateway, "search_transactions", lambda since, until: pytest.fail("called the gateway"))
    assert logged_in.get("/admin/reconciliation").status_code == 200


def test_a_member_who_is_not_the_owner_gets_404(client, member, make_member, login_as, db):
    other = make_member("nico@example.com", "Nico Member", owner=False)
    login_as(other)
    assert client.get("/admin/reconciliation").status_code == 404
    assert client.post("/admin/reconciliation").status_code == 404
    assert 'href="/admin/reconciliation"' not in client.get("/contracts").text
    assert db.session.scalar(db.select(ReconciliationRun)) is None


def test_check_now_needs_the_csrf_token(logged_in, db):
    assert logged_in.post("/admin/reconciliation", csrf=False).status_code == 400
    assert db.session.scalar(db.select(ReconciliationRun)) is None
