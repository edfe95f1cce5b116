"""Comparing the books with the gateway's own records (a transaction search by date).

``compare`` reads every sale and credit the gateway made in a period, in one
search, and loads the app's payments, refunds, give-backs and journals of
that period in a few queries. It records the settlements the app did not know
yet (``funding.mark_settled`` / ``mark_settlement_declined``: "settled what
was unknown", not a mismatch), then reports, in plain sentences naming the
rows:

- a gateway sale no payment of ours accounts for (no journal holds it), a sale
  that took money while the app has its payment as not taken (or taken with
  no funding journal), a sale whose amount is not the payment's, and a sale
  voided / declined while the app still holds its money;
- a payment the app took whose sale the gateway does not have;
- a gateway credit (refund) no refund or give-back of ours accounts for, one
  whose amount differs, a refund the books posted whose credit the gateway
  does not have, and a void the books posted of a sale the gateway did not void.

The totals per currency (charged and refunded at the gateway, funded and
refunded in the ledger) are shown beside the rows for a person to read; they
are not themselves a mismatch, as a movement near either end of the period
may be dated on one side of it by the gateway and on the other by the books.
Sales given back because no escrow could take them (``SaleReturn``) are left
out of both sides.

``run`` compares and keeps the result (``ReconciliationRun``) for the owner's
page; ``daily`` is its once-a-day run in ``jobs run-due``.
"""
from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ..domain.money import Money
from ..domain.payments import GatewayTransaction, GatewayUnavailable
from ..extensions import db
from ..models import Journal, LedgerEntry, PaymentAttempt, ReconciliationRun, Refund, SaleReturn, utcnow
from ..payments import current_gateway
from ..payments.outcomes import SUCCEEDED_STATUSES
from . import funding
from .lifecycle import refund_order_id
from .refunds import RECHECK_FAILED

log = logging.getLogger(__name__)

#: The period ``payments reconcile`` and the owner's "Check now" compare by default.
DEFAULT_DAYS = 30
#: ``jobs run-due`` compares once a day: in the run whose clock reads this (hour, minute) UTC, as the
#: late-sales audit does (``late_sales.AUDIT_AT``) — a cron every minute or every 5 minutes hits it.
DAILY_AT = (0, 30)
#: The gateway is searched this much past the period's end, so that a payment made just before the
#: end whose sale the gateway dated just after it is not reported as missing.
SLACK = timedelta(hours=1)

#: Stored runs older than this are deleted by the next run.
KEEP_RUNS = timedelta(days=7)
#: Gateway statuses in which the sale holds no money (cancelled, declined or never taken).
NOT_TAKEN = frozenset({"voided", "settlement_declined", "failed", "processor_declined", "gateway_rejected",
                       "authorization_expired"})
#: Sales that took money at some point (the ledger funded them, even if later voided or declined).
CHARGED = SUCCEEDED_STATUSES | {"voided", "settlement_declined"}
#: Payment statuses under which a sale that took money is accounted for.
ACCOUNTED = frozenset({"succeeded", "reversed", "returned"})
SETTLED = ("settled", "settlement_confirmed")


@dataclass
class AuditReport:
    """What one comparison found. ``ok``: the gateway answered and nothing disagrees."""

    since: datetime
    until: datetime
    reachable: bool = True
    problems: list[str] = field(default_factory=list)
    settled: list[str] = field(default_factory=list)
    #: What was compared; ``waiting``: refunds declared not made that landed since, which the refund
    #: reconciliation looks up again and posts (``refunds.RECHECK_FAILED``), and sales of payments still
    #: being confirmed (pending, unknown), which the payment reconciliation settles: not a mismatch yet.
    counts: dict[str, int] = field(default_factory=lambda: {"sales": 0, "credits": 0, "payments": 0,
                                                             "refunds": 0, "waiting": 0})
    #: Per currency, in minor units: charged and refunded at the gateway, funded and refunded in the ledger.
    totals: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.reachable and not self.problems

    def summary(self) -> str:
        """One line: the period, what was compared, and the outcome."""
        period = f"{self.since:%Y-%m-%d %H:%M} to {self.until:%Y-%m-%d %H:%M} UTC"
        if not self.reachable:
            return f"gateway audit {period}: the gateway could not be reached, nothing was compared"
        c = self.counts
        compared = (f"{c['sales']} sales and {c['credits']} refunds at the gateway, {c['payments']} payments and "
                    f"{c['refunds']} refunds in the books")
        settled = (f"; recorded {len(self.settled)} settlement outcome(s) the app did not know"
                   if self.settled else "")
        if c.get("waiting"):
            settled += f"; {c['waiting']} still being confirmed, settled by the next look-ups"
        if self.ok:
            return f"gateway audit {period}: everything matches ({compared}{settled})"
        return f"gateway audit {period}: {len(self.problems)} mismatch(es) ({compared}{settled})"

    def total_rows(self) -> list[dict]:
        """The totals as rows (``currency`` and the four amounts in minor units), by currency."""
        return [{"currency": cur, **amounts} for cur, amounts in sorted(self.totals.items())]


@dataclass
class _Books:
    """The app's rows that the period's gateway transactions are compared with."""

    attempts: dict[str, PaymentAttempt]
    by_transaction: dict[str, PaymentAttempt]
    funded: set[str]
    refunds: list  # (refund, the payment's currency) rows
    returns: list[SaleReturn]


def compare(since: datetime, until: datetime, now: datetime | None = None) -> AuditReport:
    """Compare the books with the gateway's sales and credits created between ``since`` and ``until``.

    Anyone's background run may call it (CLI, jobs, the owner's page). Never
    raises GatewayUnavailable: the report says the gateway could not be
    reached (and is not ``ok``). Records settlements the app did not know.
    """
    now = now or utcnow()
    report = AuditReport(since, until)
    db.session.rollback()  # no transaction stays open across the gateway call
    try:
        found = current_gateway().search_transactions(since, until + SLACK)
    except GatewayUnavailable as exc:
        log.warning("gateway audit: the gateway could not be reached: %s", exc)
        report.reachable = False
        report.problems.append(f"The gateway could not be reached ({exc}); nothing was compared.")
        return report
    sales = {t.id: t for t in found if t.type == "sale"}
    credits = {t.id: t for t in found if t.type == "credit"}
    in_period = lambda t: t.created_at is None or since <= t.created_at <= until  # noqa: E731
    books = _load(since, until, sales, credits)
    if _settle_unknown(filter(in_period, sales.values()), books, now, report):
        books = _load(since, until, sales, credits)  # as the settlements left them (committed)
    returned_sales = {r.transaction_id for r in books.returns}
    returned_credits = {r.return_transaction_id: r for r in books.returns if r.status == "refunded"}

    for sale in filter(in_period, sales.values()):
        report.counts["sales"] += 1
        if sale.id not in returned_sales:
            _check_sale(sale, books, now, report)
    for attempt in books.attempts.values():
        if since <= attempt.created_at <= until:
            report.counts["payments"] += 1
            if attempt.status in ("succeeded", "reversed") and attempt.transaction_id not in sales:
                report.problems.append(
                    f"Payment {attempt.id} ({attempt.amount.format()}) is held by the books as taken by gateway "
                    f"sale {attempt.transaction_id}, which the gateway does not have: a journal with no gateway "
                    f"transaction.")
    refunds_by_credit = {row.transaction_id: (row, cur) for row, cur in books.refunds if row.kind == "refunded"
                         and row.transaction_id}
    rechecked = {refund_order_id(row): row for row, _ in books.refunds if row.status == "failed"
                 and row.transaction_id is None and row.next_check_at is not None
                 and row.failed_at is not None and row.failed_at >= now - RECHECK_FAILED}
    for credit in filter(in_period, credits.values()):
        report.counts["credits"] += 1
        if credit.id not in refunds_by_credit and credit.order_id in rechecked:
            report.counts["waiting"] += 1  # declared not made, landed since: the next look-up posts it
            continue
        _check_credit(credit, refunds_by_credit.get(credit.id), returned_credits.get(credit.id), report)
    for row, currency in books.refunds:
        if since <= row.created_at <= until and row.status != "queued":  # queued: not asked of the gateway yet
            report.counts["refunds"] += 1
            _check_refund(row, Money(row.amount_minor, currency), sales, credits, report)
    _totals(since, until, filter(in_period, found), returned_sales, set(returned_credits), report)
    db.session.rollback()
    return report


def _load(since: datetime, until: datetime, sales: dict[str, GatewayTransaction],
          credits: dict[str, GatewayTransaction]) -> _Books:
    """The period's payments, refunds and give-backs, and those the gateway's transactions name (5 queries)."""
    order_ids = {s.order_id for s in sales.values() if s.order_id}
    attempts = list(db.session.scalars(db.select(PaymentAttempt).where(db.or_(
        PaymentAttempt.created_at.between(since, until), PaymentAttempt.id.in_(order_ids),
        PaymentAttempt.transaction_id.in_(list(sales))))))
    ids = [a.id for a in attempts]
    funded = set(db.session.scalars(db.select(Journal.payment_attempt_id).where(
        Journal.kind == "funding", Journal.payment_attempt_id.in_(ids))))
    refunds = list(db.session.execute(
        db.select(Refund, PaymentAttempt.currency).join(PaymentAttempt, PaymentAttempt.id == Refund.attempt_id)
        .where(db.or_(Refund.created_at.between(since, until), Refund.attempt_id.in_(ids),
                      Refund.transaction_id.in_(list(credits) + list(sales))))
        .order_by(Refund.id)).all())
    returns = list(db.session.scalars(db.select(SaleReturn).where(db.or_(
        SaleReturn.transaction_id.in_(list(sales)), SaleReturn.return_transaction_id.in_(list(credits)),
        SaleReturn.created_at.between(since, until)))))
    return _Books(attempts={a.id: a for a in attempts},
                  by_transaction={a.transaction_id: a for a in attempts if a.transaction_id},
                  funded=funded, refunds=refunds, returns=returns)


def _check_sale(sale: GatewayTransaction, books: _Books, now: datetime, report: AuditReport) -> None:
    """One gateway sale against its payment: accounted for, same amount, statuses agreeing."""
    attempt = books.by_transaction.get(sale.id) or books.attempts.get(sale.order_id or "")
    what = f"Gateway sale {sale.id} ({sale.amount.format()}, {sale.status.replace('_', ' ')})"
    if attempt is None:
        report.problems.append(f"{what}, order {sale.order_id or 'none'}, matches no payment of ours: a gateway "
                               f"transaction with no journal.")
        return
    if attempt.transaction_id not in (None, sale.id):
        if sale.status in SUCCEEDED_STATUSES:
            report.problems.append(f"{what} is a second sale for payment {attempt.id}, which the books hold as "
                                   f"sale {attempt.transaction_id}: a gateway transaction with no journal.")
        return
    if sale.amount != attempt.amount:
        report.problems.append(f"{what}: the books have payment {attempt.id} for {attempt.amount.format()}.")
    if sale.status in SUCCEEDED_STATUSES:
        if attempt.status in ("pending", "unknown"):
            report.counts["waiting"] += 1  # being confirmed: reconciliation settles it, both pages say so
        elif attempt.status not in ACCOUNTED:
            report.problems.append(f"{what} took the money, but the books have payment {attempt.id} as "
                                   f"{attempt.status}.")
        elif attempt.status == "succeeded" and attempt.id not in books.funded:
            report.problems.append(f"{what} took the money for payment {attempt.id}, which has no funding "
                                   f"journal.")
    if sale.status in NOT_TAKEN and attempt.status == "succeeded" and attempt.transaction_id == sale.id:
        given_back = sum(row.amount_minor for row, _ in books.refunds
                         if row.attempt_id == attempt.id and row.status == "succeeded")
        if given_back < attempt.amount_minor:
            held = Money(attempt.amount_minor - given_back, attempt.currency)
            report.problems.append(f"{what}: the books still hold payment {attempt.id} as taken, "
                                   f"{held.format()} of it not given back by any refund.")


def _settle_unknown(sales, books: _Books, now: datetime, report: AuditReport) -> int:
    """Record the settlements (settled, or declined) the gateway shows and the app does not know yet.

    Each is committed by ``funding``; returns how many were recorded.
    """
    todo = []
    for sale in sales:
        attempt = books.by_transaction.get(sale.id)
        if attempt is None or attempt.status not in ("succeeded", "reversed"):
            continue
        if sale.status in SETTLED and attempt.settlement not in SETTLED:
            todo.append((sale, attempt.id, attempt.amount, funding.mark_settled))
        elif sale.status == "settlement_declined" and attempt.settlement != "settlement_declined":
            todo.append((sale, attempt.id, attempt.amount, funding.mark_settlement_declined))
    for sale, attempt_id, amount, mark in todo:
        mark(sale.id, now)
        report.settled.append(f"Payment {attempt_id} ({amount.format()}, sale {sale.id}): recorded as "
                              f"{sale.status.replace('_', ' ')}, as the gateway shows.")
    return len(todo)


def _check_credit(credit: GatewayTransaction, match: tuple[Refund, str] | None, given_back: SaleReturn | None,
                  report: AuditReport) -> None:
    """One gateway credit against the refund (or give-back) of ours that it is."""
    what = (f"Gateway refund {credit.id} ({credit.amount.format()}, {credit.status.replace('_', ' ')}) of sale "
            f"{credit.refunded_transaction_id}")
    if match is None and given_back is None:
        report.problems.append(f"{what} matches no refund of ours: a gateway transaction with no journal.")
        return
    if given_back is not None:
        if credit.amount != given_back.amount:
            report.problems.append(f"{what}: the books gave back {given_back.amount.format()} of that sale.")
        return
    row, currency = match
    amount = Money(row.amount_minor, currency)
    if row.status != "succeeded":
        report.problems.append(f"{what}: the books have refund {row.id} of milestone {row.milestone_id} as "
                               f"{row.status}, not posted.")
    elif credit.amount != amount:
        report.problems.append(f"{what}: the books posted refund {row.id} of milestone {row.milestone_id} for "
                               f"{amount.format()}.")
    if row.status == "succeeded" and credit.status in NOT_TAKEN:
        report.problems.append(f"{what} gave nothing back, but the books posted refund {row.id} of milestone "
                               f"{row.milestone_id}.")


def _check_refund(row: Refund, amount: Money, sales: dict[str, GatewayTransaction],
                  credits: dict[str, GatewayTransaction], report: AuditReport) -> None:
    """A refund the books posted: its credit, or its void, must be at the gateway."""
    if row.status != "succeeded":
        return
    what = f"Refund {row.id} of milestone {row.milestone_id} ({amount.format()})"
    if row.kind == "refunded" and row.transaction_id not in credits:
        report.problems.append(f"{what} is posted as gateway refund {row.transaction_id}, which the gateway "
                               f"does not have: a journal with no gateway transaction.")
    elif row.kind == "voided":
        sale = sales.get(row.transaction_id)
        try:  # a sale made before the period (voided in it) is looked up on its own
            status = sale.status if sale else current_gateway().transaction_status(row.transaction_id)
        except GatewayUnavailable:
            report.problems.append(f"{what} is posted as the void of sale {row.transaction_id}, which could not "
                                   f"be looked up: the gateway did not answer.")
            return
        if status != "voided":
            report.problems.append(f"{what} is posted as the void of sale {row.transaction_id}, which the gateway "
                                   f"has as {(status or 'no such sale').replace('_', ' ')}.")


def _totals(since: datetime, until: datetime, found, returned_sales: set[str], returned_credits: set[str],
            report: AuditReport) -> None:
    """Charged and refunded per currency: the gateway's (period's transactions) beside the ledger's."""
    totals: dict[str, dict[str, int]] = defaultdict(lambda: {"gateway_charged": 0, "ledger_funded": 0,
                                                             "gateway_refunded": 0, "ledger_refunded": 0})
    for t in found:
        row = totals[t.amount.currency]
        if t.type == "sale" and t.id not in returned_sales and t.status in CHARGED:
            row["gateway_charged"] += t.amount.minor
            if t.status == "voided":
                row["gateway_refunded"] += t.amount.minor
        elif t.type == "credit" and t.id not in returned_credits and t.status not in NOT_TAKEN:
            row["gateway_refunded"] += t.amount.minor
    for currency, kind, total in db.session.execute(
        db.select(LedgerEntry.currency, Journal.kind, db.func.sum(LedgerEntry.amount_minor))
        .join(Journal, Journal.id == LedgerEntry.journal_id)
        .where(LedgerEntry.account == "escrow", Journal.kind.in_(("funding", "refund")),
               Journal.created_at.between(since, until))
        .group_by(LedgerEntry.currency, Journal.kind)
    ):
        key = "ledger_funded" if kind == "funding" else "ledger_refunded"
        totals[currency][key] += abs(int(total))  # PostgreSQL sums a BIGINT as NUMERIC
    report.totals = dict(totals)


def run(now: datetime | None = None, days: int = DEFAULT_DAYS) -> tuple[AuditReport, ReconciliationRun]:
    """Compare the ``days`` before ``now`` and keep the result for the owner's page (committed)."""
    now = now or utcnow()
    report = compare(now - timedelta(days=days), now, now)
    row = ReconciliationRun(ran_at=now, since=report.since, until=report.until, ok=report.ok,
                            reachable=report.reachable, problems=report.problems, settled=report.settled,
                            counts=report.counts, totals=report.total_rows())
    db.session.add(row)
    # Kept for the owner's page and its history, not for ever: a cron every 5 minutes adds 288 a day.
    db.session.execute(db.delete(ReconciliationRun).where(ReconciliationRun.ran_at < now - KEEP_RUNS)
                       .execution_options(synchronize_session=False))
    db.session.commit()
    return report, row


def daily(now: datetime, failures: list[str]) -> int:
    """The once-a-day run of ``jobs run-due`` (at DAILY_AT); returns how many mismatches it found.

    A run that found any is a failure of the jobs run (its exit code says so), naming where to read them.
    """
    report, _ = run(now)
    if not report.ok:
        failures.append(f"{report.summary()}: see the owner's Reconciliation page, or run "
                        f"`flask payments reconcile`")
    return len(report.problems)


def latest() -> ReconciliationRun | None:
    """The last run kept, or None if the comparison never ran."""
    # By id, the order they were made in: ``ran_at`` may be a pretended time (``--now``) or another host's clock.
    return db.session.scalar(db.select(ReconciliationRun).order_by(ReconciliationRun.id.desc()).limit(1))
