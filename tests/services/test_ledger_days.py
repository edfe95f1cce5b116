"""Issue 14: the closed days' ledger sums (``LedgerDay``) that the members' totals and the payouts report
read instead of every entry — the same figures as the entries give, before and after a roll-up, with a
stale ``through``, after entries posted since, run twice or at once; ``ledger check`` finds a changed sum."""
from __future__ import annotations

from datetime import timedelta

import pytest

from directcontracts.models import Contract, Journal, LedgerDay, ShopSettings, utcnow
from directcontracts.services import jobs, ledger, ledger_days, lifecycle, payouts
from tests.conftest import race
from tests.services.conftest import fund_as_shown


def release(app, db, cid: int, index: int) -> None:
    with app.test_request_context():
        c = db.session.get(Contract, cid)
        mid = c.milestones[index].id
        lifecycle.request_payment(c, mid, note="Done.")
        lifecycle.approve(c, mid)


def age_every_journal(db, days: int) -> None:
    """What has been posted so far happened ``days`` ago (before any roll-up: a summed day never changes)."""
    for journal in db.session.scalars(db.select(Journal)):
        journal.created_at -= timedelta(days=days)
    db.session.commit()


def figures(member_id: int) -> tuple:
    """The member's totals and the payouts report (all time and one period), as the pages read them."""
    db_session_settings = ShopSettings.get()
    today = utcnow().date()
    return (ledger.member_money(member_id), payouts.report(),
            payouts.report(start=today - timedelta(days=4), end=today - timedelta(days=1)),
            payouts.report(start=today - timedelta(days=2)), db_session_settings.ledger_days_through)


@pytest.fixture
def history(app, db, member, accepted_contract):
    """Money moved three days ago (funded, one release) and today (another release); the model of the ledger
    (test_ledger_model) compares the figures after every step of its refunds, splits and take-backs."""
    fund_as_shown(app, accepted_contract, "all", "k-all")
    release(app, db, accepted_contract, 0)
    age_every_journal(db, 3)
    release(app, db, accepted_contract, 1)
    return member.id


def test_the_totals_and_the_payouts_are_the_same_before_and_after_the_roll_up(app, db, history):
    live = figures(history)
    assert live[-1] is None and live[0]["USD"].released.minor == 300000
    written = ledger_days.roll_up()
    assert written > 0 and db.session.scalar(db.select(db.func.count(LedgerDay.id))) == written
    summed = figures(history)
    assert summed[:-1] == live[:-1]
    assert summed[-1] == (utcnow() - ledger_days.MARGIN).date()
    # the day sums hold the three-day-old postings only: today's release is still summed live
    assert db.session.scalar(db.select(db.func.max(LedgerDay.day))) == utcnow().date() - timedelta(days=3)
    assert ledger.check() == []


def test_entries_posted_after_the_roll_up_count_once(app, db, history, accepted_contract):
    ledger_days.roll_up()
    before = ledger.member_money(history)["USD"]
    release(app, db, accepted_contract, 2)
    after = ledger.member_money(history)["USD"]
    assert after.released.minor - before.released.minor == 50000
    assert after.in_escrow.minor == 0
    assert sum(r.released.minor for r in payouts.report()) == after.released.minor


def test_a_reader_holding_an_older_through_counts_every_entry_once(app, db, history, monkeypatch):
    """A request reads ``through`` from the settings row at its start; a roll-up may commit before it sums
    the days: it then reads the days before its own ``through`` and the entries from it on."""
    expected = figures(history)[:-1]
    ledger_days.roll_up()
    stored = ledger_days.through_stored()
    for older in (None, stored - timedelta(days=3), stored - timedelta(days=10)):
        monkeypatch.setattr(ledger_days, "through", lambda older=older: older)
        assert figures(history)[:-1] == expected, older


def test_a_roll_up_run_twice_writes_nothing_the_second_time_and_never_sums_a_future_day(app, db, history):
    first = ledger_days.roll_up()
    assert ledger_days.roll_up() == 0
    assert ledger_days.roll_up(utcnow() + timedelta(days=30)) == 0  # the real clock bounds it
    assert db.session.scalar(db.select(db.func.count(LedgerDay.id))) == first
    assert ledger_days.through_stored() == (utcnow() - ledger_days.MARGIN).date()


def test_two_roll_ups_at_once_sum_each_day_once(app, db, history, concurrent):
    expected = figures(history)[:-1]
    results = race(app, ledger_days.roll_up, ledger_days.roll_up)
    assert not [r for r in results if isinstance(r, Exception)], results
    assert sorted(results)[0] == 0 and sorted(results)[1] > 0
    db.session.expire_all()
    assert figures(history)[:-1] == expected
    assert ledger.check() == []


def test_ledger_check_names_a_changed_day_sum_and_rebuild_mends_it(app, db, history, runner):
    ledger_days.roll_up()
    row = db.session.scalars(db.select(LedgerDay).where(LedgerDay.kind == "release",
                                                         LedgerDay.account == "fees")).one()
    row.amount_minor += 1
    db.session.commit()
    problems = ledger.check()
    assert problems == [f"the day's ledger sums of member {history} on {row.day.isoformat()} (USD release, fees) "
                        f"say {row.amount_minor}, the entries {row.amount_minor - 1}: run `flask ledger days "
                        f"--rebuild`"]
    result = runner.invoke(args=["ledger", "check"])
    assert result.exit_code == 1 and "flask ledger days --rebuild" in result.output
    result = runner.invoke(args=["ledger", "days", "--rebuild"])
    assert result.exit_code == 0, result.output
    assert "day sums written; the days before" in result.output
    db.session.expire_all()
    assert ledger.check() == []


def test_jobs_run_due_sums_the_closed_days(app, db, history, runner):
    report = jobs.run_due()
    assert report.counts["ledger_days_summed"] > 0 and not report.failures
    assert jobs.run_due().counts["ledger_days_summed"] == 0
    assert "no day has closed yet" not in runner.invoke(args=["ledger", "days"]).output


def test_the_pages_show_the_same_money_before_and_after_the_roll_up(app, db, history, client, member, login_as):
    """Through HTTP: the member's summary cards, the payouts report and its CSV read the same."""
    import csv
    import io
    import re
    from decimal import Decimal
    login_as(member)

    def shown() -> tuple:
        cards = re.search(r'<dl class="money".*?</dl>', client.get("/contracts").text, re.S).group(0)
        report = client.get("/admin/payouts")
        table = re.search(r"<table.*?</table>", report.text, re.S).group(0)
        return cards, table, client.get("/admin/payouts.csv").text

    before = shown()
    assert 'data-testid="released">$3,000.00' in before[0] and 'data-testid="in-escrow">$500.00' in before[0]
    # today's release and the three-day-old one (one month's row, or two across a month's end)
    assert sum(Decimal(row["released"]) for row in csv.DictReader(io.StringIO(before[2]))) == Decimal("3000.00")
    ledger_days.roll_up()
    assert db.session.scalar(db.select(db.func.count(LedgerDay.id)))
    assert shown() == before
