"""What the shop owes each member: released minus fees, less what a chargeback or a payment that did not
settle took back from them, per member and month (a negative net: the member owes the shop)."""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, timedelta

from ..domain import ledger as rules
from ..domain.money import Money
from ..extensions import db
from ..models import Contract, Journal, LedgerDay, LedgerEntry, Member
from . import ledger_days


@dataclass(frozen=True)
class PayoutRow:
    member: str
    email: str
    period: str  # YYYY-MM
    released: Money
    fees: Money
    #: The member's part of releases taken back (a lost chargeback, a payment whose settlement was declined).
    taken_back: Money

    @property
    def net(self) -> Money:
        return self.released - self.fees - self.taken_back


def _month(column):
    """``YYYY-MM`` of a timestamp, in the database's own words (SQLite has no to_char, PostgreSQL no strftime)."""
    # The format is a literal, not a parameter: PostgreSQL would not match two parameters of the
    # select and the GROUP BY as the same expression.
    if db.session.get_bind().dialect.name == "postgresql":
        return db.func.to_char(column, db.literal_column("'YYYY-MM'"))
    return db.func.strftime(db.literal_column("'%Y-%m'"), column)


def _sums(kind, account, amount):
    """What the member was released (both the freelancer's part and the fee), its fees, and what a take-back
    took from them (the fee's part of a take-back is the shop's, not the member's), from rows of journal
    ``kind``, ``account`` and ``amount``."""
    release = kind == "release"
    return (db.func.sum(db.case((release, amount), else_=0)).label("released"),
            db.func.sum(db.case((release & (account == rules.FEES), amount), else_=0)).label("fees"),
            (-db.func.sum(db.case((~release & (account == rules.FREELANCER), amount), else_=0))).label("taken"))


KINDS = ("release", "reversal", "chargeback")


def report(start: date | None = None, end: date | None = None) -> list[PayoutRow]:
    """Releases and take-backs between ``start`` and ``end`` (inclusive), grouped by member, month and currency.

    Summed by the database, one statement: the closed days' sums (``LedgerDay``) and the entries of the days
    since (``services.ledger_days``), so a year's report reads a row per member and day, not every entry.
    """
    through = ledger_days.through()
    entries = (
        db.select(Contract.member_id.label("member_id"), _month(Journal.created_at).label("month"),
                  LedgerEntry.currency.label("currency"), *_sums(Journal.kind, LedgerEntry.account,
                                                                LedgerEntry.amount_minor))
        .select_from(Journal).join(LedgerEntry, LedgerEntry.journal_id == Journal.id)
        .join(Contract, Contract.id == Journal.contract_id)
        .where(Journal.kind.in_(KINDS), LedgerEntry.account.in_((rules.FREELANCER, rules.FEES)))
        .group_by(Contract.member_id, _month(Journal.created_at), LedgerEntry.currency)
    )
    since = max(filter(None, (start, through)), default=None)
    if since:
        entries = entries.where(Journal.created_at >= ledger_days.start_of(since))
    if end:
        entries = entries.where(Journal.created_at < ledger_days.start_of(end + timedelta(days=1)))
    parts = [entries]
    if through is not None and (start is None or start < through):
        days = (
            db.select(LedgerDay.member_id, _month(LedgerDay.day), LedgerDay.currency,
                      *_sums(LedgerDay.kind, LedgerDay.account, LedgerDay.amount_minor))
            .where(LedgerDay.kind.in_(KINDS), LedgerDay.account.in_((rules.FREELANCER, rules.FEES)),
                   LedgerDay.day < through)
            .group_by(LedgerDay.member_id, _month(LedgerDay.day), LedgerDay.currency)
        )
        if start:
            days = days.where(LedgerDay.day >= start)
        if end:
            days = days.where(LedgerDay.day <= end)
        parts.append(days)
    both = db.union_all(*parts).subquery() if len(parts) > 1 else entries.subquery()
    query = (db.select(Member.name, Member.email, both.c.month, both.c.currency, db.func.sum(both.c.released),
                       db.func.sum(both.c.fees), db.func.sum(both.c.taken))
             .join(Member, Member.id == both.c.member_id)
             .group_by(Member.name, Member.email, both.c.month, both.c.currency))
    rows = sorted((name, email, month, currency, int(released), int(fees), int(taken))
                  for name, email, month, currency, released, fees, taken in db.session.execute(query))
    return [
        PayoutRow(member=name, email=email, period=month, released=Money(released, currency),
                  fees=Money(fees, currency), taken_back=Money(taken, currency))
        for name, email, month, currency, released, fees, taken in rows
    ]


#: What makes a spreadsheet read a cell as a formula (OWASP, "CSV Injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def text_cell(value: str) -> str:
    """A text cell a spreadsheet shows as text: one starting like a formula gets a leading quote.

    Only text goes through here: amounts stay numbers (a negative net is ``-12.50``, not a formula).
    """
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def to_csv(rows: list[PayoutRow]) -> str:
    """The report as CSV with plain decimal amounts (spreadsheet-friendly); names cannot run as formulas."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["member", "email", "period", "currency", "released", "fees", "taken_back", "net"])
    for r in rows:
        writer.writerow([text_cell(r.member), text_cell(r.email), r.period, r.released.currency,
                         r.released.to_plain(), r.fees.to_plain(), r.taken_back.to_plain(), r.net.to_plain()])
    return out.getvalue()
