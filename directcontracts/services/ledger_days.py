"""Each closed day's ledger sums, per member (``LedgerDay``): what a member's totals and the payouts report
add to a live sum of the days since, so neither reads every entry ever posted as the shop grows.

Why a day's sums cannot go stale: ledger entries are only ever added, never changed or removed (``ledger.post``
is their one writer), and a day is summed only once it ended more than ``MARGIN`` ago, when no transaction
that stamped a journal with that day can still be committing (a posting commits within seconds of being
stamped). A reader takes ``through`` (the first day not summed) from the shop's settings row it read at the
start of its request, sums the ``LedgerDay`` rows of the days before it and the entries from it on: every
entry is counted once with any ``through`` no later than the stored one, even one a roll-up moved on since.
``ledger check`` compares every day's sums with the entries; ``flask ledger days --rebuild`` sums them anew.
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta

from sqlalchemy import insert

from ..extensions import db
from ..models import Contract, Journal, LedgerDay, LedgerEntry, ShopSettings, utcnow
from . import preferences

#: A day is summed once it ended this long ago: far longer than any posting's transaction lasts.
MARGIN = timedelta(hours=1)
#: ``ledger check`` names at most this many differing days (then how many more).
SHOWN = 20


def through() -> date | None:
    """The first day whose entries are not in ``LedgerDay`` (None: none are), as this request read it."""
    return preferences.shop_settings().ledger_days_through


def through_stored() -> date | None:
    """``through`` as the database holds it now."""
    return db.session.scalar(db.select(ShopSettings.ledger_days_through).where(ShopSettings.id == 1))


def start_of(day: date) -> datetime:
    """The first instant of ``day`` (UTC, naive like every stored timestamp)."""
    return datetime.combine(day, time.min)


def day_of(column):
    """The UTC day of a timestamp column, in the database's own words."""
    if db.session.get_bind().dialect.name == "postgresql":
        return db.cast(column, db.Date)
    return db.func.date(column)


def _as_date(value) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)  # SQLite's date() is text


def _entry_sums(*where) -> dict[tuple, int]:
    """(member, day, currency, journal kind, account) -> sum of the entries matching ``where`` (none zero)."""
    day = day_of(Journal.created_at)
    key = (Contract.member_id, day, LedgerEntry.currency, Journal.kind, LedgerEntry.account)
    rows = db.session.execute(
        db.select(*key, db.func.sum(LedgerEntry.amount_minor))
        .join(Journal, Journal.id == LedgerEntry.journal_id).join(Contract, Contract.id == Journal.contract_id)
        .where(*where).group_by(*key))
    return {(member, _as_date(d), currency, kind, account): int(total)
            for member, d, currency, kind, account, total in rows if int(total)}


def _locked_settings() -> ShopSettings:
    """The settings row, locked for this transaction and read afresh (a no-op write: SQLite's write lock,
    PostgreSQL's row lock), so two roll-ups one after the other never sum a day twice."""
    ShopSettings.get()
    db.session.execute(db.update(ShopSettings).where(ShopSettings.id == 1)
                       .values(ledger_days_through=ShopSettings.ledger_days_through))
    return db.session.scalars(db.select(ShopSettings).where(ShopSettings.id == 1)
                              .execution_options(populate_existing=True)).one()


def _sum_days(settings: ShopSettings, target: date) -> int:
    start = settings.ledger_days_through
    where = [Journal.created_at < start_of(target)]
    if start is not None:
        where.append(Journal.created_at >= start_of(start))
    sums = _entry_sums(*where)
    if sums:
        db.session.execute(insert(LedgerDay), [
            {"member_id": member, "day": day, "currency": currency, "kind": kind, "account": account,
             "amount_minor": total}
            for (member, day, currency, kind, account), total in sorted(sums.items())])
    settings.ledger_days_through = target
    return len(sums)


def roll_up(now: datetime | None = None) -> int:
    """Sum every day that ended more than ``MARGIN`` ago and is not summed yet, and commit; returns the rows
    written (0 when there is nothing new: safe to run every minute, and twice at once).

    ``now`` never moves the bound past the real clock: a test's (or ``jobs run-due --now``'s) future would
    sum days whose entries are still to come."""
    target = (min(now or utcnow(), utcnow()) - MARGIN).date()
    settings = _locked_settings()
    if settings.ledger_days_through is not None and settings.ledger_days_through >= target:
        db.session.rollback()  # nothing to do: let go of the lock
        return 0
    written = _sum_days(settings, target)
    db.session.commit()
    return written


def rebuild() -> int:
    """Forget every day's sums and sum them anew from the entries (after ``ledger check`` found a difference)."""
    target = (utcnow() - MARGIN).date()
    settings = _locked_settings()
    db.session.execute(db.delete(LedgerDay))
    settings.ledger_days_through = None
    written = _sum_days(settings, target)
    db.session.commit()
    return written


def problems() -> list[str]:
    """Where ``LedgerDay`` and the entries disagree (one query each), naming the member and day."""
    stored_through = through_stored()
    stored = {(member, day, currency, kind, account): amount for member, day, currency, kind, account, amount
              in db.session.execute(db.select(LedgerDay.member_id, LedgerDay.day, LedgerDay.currency, LedgerDay.kind,
                                              LedgerDay.account, LedgerDay.amount_minor))}
    expected = _entry_sums(Journal.created_at < start_of(stored_through)) if stored_through else {}
    differing = sorted(key for key in set(stored) | set(expected) if stored.get(key, 0) != expected.get(key, 0))
    out = [f"the day's ledger sums of member {member} on {day.isoformat()} ({currency} {kind}, {account}) say "
           f"{stored.get((member, day, currency, kind, account), 0)}, the entries "
           f"{expected.get((member, day, currency, kind, account), 0)}: run `flask ledger days --rebuild`"
           for member, day, currency, kind, account in differing[:SHOWN]]
    if len(differing) > SHOWN:
        out.append(f"... and {len(differing) - SHOWN} more differing day sums")
    return out
