"""What the shop owes each member: released minus fees, less what a chargeback or a payment that did not
settle took back from them, per member and month (a negative net: the member owes the shop)."""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from ..domain import ledger as rules
from ..domain.money import Money
from ..extensions import db
from ..models import Contract, Journal, LedgerEntry, Member


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


def report(start: date | None = None, end: date | None = None) -> list[PayoutRow]:
    """Releases and take-backs between ``start`` and ``end`` (inclusive), grouped by member, month and currency.

    Summed by the database (one row per group comes back, however many entries there are).
    """
    period = _month(Journal.created_at)
    release = Journal.kind == "release"
    query = (
        db.select(Member.name, Member.email, period, LedgerEntry.currency,
                  # both the freelancer's part and the fee were released
                  db.func.sum(db.case((release, LedgerEntry.amount_minor), else_=0)),
                  db.func.sum(db.case((release & (LedgerEntry.account == rules.FEES), LedgerEntry.amount_minor),
                                      else_=0)),
                  # a take-back: the fee's part of it is the shop's, not the member's
                  -db.func.sum(db.case((~release & (LedgerEntry.account == rules.FREELANCER),
                                        LedgerEntry.amount_minor), else_=0)))
        .join(Journal, Journal.id == LedgerEntry.journal_id)
        .join(Contract, Contract.id == LedgerEntry.contract_id)
        .join(Member, Member.id == Contract.member_id)
        .where(Journal.kind.in_(("release", "reversal", "chargeback")),
               LedgerEntry.account.in_((rules.FREELANCER, rules.FEES)))
        .group_by(Member.name, Member.email, period, LedgerEntry.currency)
    )
    if start:
        query = query.where(Journal.created_at >= datetime.combine(start, time.min))
    if end:
        query = query.where(Journal.created_at < datetime.combine(end + timedelta(days=1), time.min))
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
