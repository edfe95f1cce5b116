"""No N+1: each page `make bench` times issues the same number of SQL statements with 50 contracts as with
2,000, and at most 8 (the issue's budget).

The shop is seeded as the bench seeds it (``bench.bench.seed_bulk``: drafts, sent, signed, active with
money in escrow and released, completed), after one contract that went through the app (its first milestone
funded and released, the others not yet funded) for the contract, terms, editor and client pages. Nothing
here is timed.
"""
from __future__ import annotations

import pytest
from sqlalchemy import event

from bench.bench import seed_bulk
from directcontracts.models import Milestone, PaymentAttempt
from directcontracts.services import ledger, ledger_days

from .builders import approve, funded_contract, request_payment


@pytest.fixture
def few_per_page(app):
    """Two contracts a page, so a late page exists at either size."""
    before = app.config["CONTRACTS_PER_PAGE"]
    app.config["CONTRACTS_PER_PAGE"] = 2
    yield
    app.config["CONTRACTS_PER_PAGE"] = before


def statements_per_page(db, urls) -> dict[str, int]:
    """Statements each GET sends (the second of two, so one-time work does not count)."""
    counts = {}
    seen = []

    def one(*args):
        seen.append(1)
    event.listen(db.engine, "before_cursor_execute", one)
    try:
        for url, browser in urls:
            htmx = url.endswith("/edit")  # the milestone editor: the fragment htmx asks for
            response = browser.get(url, htmx=htmx)
            assert response.status_code == 200, (url, response.status_code)
            seen.clear()
            assert browser.get(url, htmx=htmx).status_code == 200
            counts[url] = len(seen)
    finally:
        event.remove(db.engine, "before_cursor_execute", one)
    return counts


def test_statements_do_not_grow_with_contracts(app, db, logged_in, visitor, outbox, few_per_page):
    cid, link = funded_contract(logged_in, visitor, outbox, choice="first")
    first, second = db.session.scalars(db.select(Milestone.id).where(Milestone.contract_id == cid)
                                       .order_by(Milestone.position)).all()[:2]
    attempt = db.session.scalar(db.select(PaymentAttempt.id).where(PaymentAttempt.contract_id == cid))
    request_payment(logged_in, cid, first)
    approve(visitor, link, first)
    urls = [(u, logged_in) for u in ("/contracts", "/contracts?status=active", "/contracts?status=sent",
                                     "/contracts?page=2", f"/contracts/{cid}", f"/contracts/{cid}/terms",
                                     f"/contracts/{cid}/milestones/{second}/edit", "/notifications/count",
                                     "/notifications", "/admin/payouts", "/admin/payouts.csv")]
    urls += [(u, visitor) for u in (link, f"{link}/fund", f"{link}/payments/{attempt}")]

    seed_bulk(app, 50)
    small = statements_per_page(db, urls)
    ledger_days.roll_up()  # the closed days summed (jobs run-due): the totals and payouts read those
    assert statements_per_page(db, urls) == small
    seed_bulk(app, 1950)
    ledger_days.rebuild()  # the bulk copy wrote days already summed (a past no posting can write): sum anew
    large = statements_per_page(db, urls)
    assert large == small
    # the budget: every page in at most 8 statements
    over = {url: n for url, n in large.items() if n > 8}
    assert not over, over


def test_ledger_check_statements_do_not_grow(app, db, logged_in, visitor, outbox):
    funded_contract(logged_in, visitor, outbox)
    seen = []

    def one(*args):
        seen.append(1)

    def statements() -> int:
        db.session.expire_all()
        seen.clear()
        event.listen(db.engine, "before_cursor_execute", one)
        try:
            assert ledger.check() == []
        finally:
            event.remove(db.engine, "before_cursor_execute", one)
        return len(seen)

    seed_bulk(app, 5)
    small = statements()
    seed_bulk(app, 35)
    assert statements() == small
