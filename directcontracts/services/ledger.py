"""Posting to the escrow ledger, reading balances, and checking every invariant."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from ..domain import ledger as rules
from ..domain.money import Money
from ..domain.states import ESCROW_STATES, ContractState, MilestoneState
from ..extensions import db
from ..models import (
    Chargeback,
    Contract,
    Dispute,
    Journal,
    LedgerEntry,
    Milestone,
    PaymentAttempt,
    Refund,
    SaleReturn,
    WebhookNotification,
    utcnow,
)
from . import memo

#: A refund still being confirmed, or a sale still being given back, after this long is not
#: going to settle by itself: ``check`` reports it for a person to look at in Braintree.
STUCK_AFTER = timedelta(hours=24)
#: A webhook notification not applied after this many tries needs a person (``services.webhooks``).
WEBHOOK_TRIES = 20
#: Journals that give the client money back outside escrow's normal ways (``rules.take_back``).
TAKE_BACKS = ("reversal", "chargeback")
#: A refund queued this long for its payment to settle (Braintree settles within a day) needs a person.
QUEUED_STUCK_AFTER = timedelta(days=3)


def post(kind: str, contract: Contract, entries: list[rules.Entry], *, attempt_id: str | None = None,
         memo: str = "") -> Journal:
    """Add a balanced journal to the current transaction."""
    rules.balanced(entries)
    journal = Journal(kind=kind, contract_id=contract.id, payment_attempt_id=attempt_id, memo=memo)
    journal.entries = [
        LedgerEntry(contract_id=contract.id, milestone_id=e.milestone_id, account=e.account,
                    amount_minor=e.amount_minor, currency=contract.currency)
        for e in entries
    ]
    db.session.add(journal)
    return journal


@dataclass
class MilestoneMoney:
    """What happened to one milestone's money, from the ledger."""

    funded: int = 0
    released: int = 0
    refunded: int = 0
    fees: int = 0  # net: a fee given back with a take-back is subtracted
    #: Taken back outside escrow's normal ways (reversal of a payment whose settlement was declined, a lost
    #: chargeback): from escrow (``returned``), from what was released (``clawed``, gross: the
    #: freelancer's part ``owed`` and the fee's), from the shop's own money (``lost``).
    returned: int = 0
    clawed: int = 0
    owed: int = 0
    lost: int = 0

    @property
    def held(self) -> int:
        return self.funded - self.released - self.refunded - self.returned

    @property
    def released_kept(self) -> int:
        """Released and not taken back."""
        return self.released - self.clawed

    @property
    def fees_charged(self) -> int:
        """The fee taken at the releases, before any of it went back with a take-back."""
        return self.fees + self.clawed - self.owed


def _tally(rows) -> dict:
    """MilestoneMoney per key from (key, journal kind, account, sum) rows; the sums are linear, so the key
    may be a milestone, a contract or a currency."""
    out: dict = defaultdict(MilestoneMoney)
    for key, kind, account, total in rows:
        amount = int(total)  # PostgreSQL's SUM of a BIGINT is NUMERIC (a Decimal); Money wants an int
        m = out[key]
        if account == rules.ESCROW and kind == "funding":
            m.funded += amount
        elif account == rules.ESCROW and kind == "release":
            m.released += -amount
        elif account == rules.ESCROW and kind == "refund":
            m.refunded += -amount
        elif account == rules.ESCROW and kind in TAKE_BACKS:
            m.returned += -amount
        if account == rules.FEES:
            m.fees += amount
        if kind in TAKE_BACKS and account in (rules.FREELANCER, rules.FEES):
            m.clawed += -amount
            m.owed += -amount if account == rules.FREELANCER else 0
        elif kind in TAKE_BACKS and account == rules.SHOP:
            m.lost += -amount
    return out


def _sums(key, *where):
    """(key, journal kind, account, sum of amounts) of the entries matching ``where``: one query."""
    return db.session.execute(_sums_select(key, *where)).all()


def _sums_select(key, *where):
    return (db.select(key, Journal.kind, LedgerEntry.account, db.func.sum(LedgerEntry.amount_minor))
            .join(Journal, Journal.id == LedgerEntry.journal_id).where(*where)
            .group_by(key, Journal.kind, LedgerEntry.account))


@cache
def _contract_sums_select():
    """``contract_sums``' statement, built once (parameter ``cid``): every contract page asks it."""
    return _sums_select(LedgerEntry.milestone_id, LedgerEntry.contract_id == db.bindparam("cid"))


@memo.per_request
def contract_sums(contract_id: int) -> list:
    """One contract's (milestone, journal kind, account, sum) rows: the page's money questions all read these
    (once a request; a write in it asks again)."""
    return db.session.execute(_contract_sums_select(), {"cid": contract_id}).all()


def per_milestone(contract: Contract) -> dict[int, MilestoneMoney]:
    """``milestone_money`` of one contract, from the request's ``contract_sums``."""
    return _tally(contract_sums(contract.id))


def milestone_money(contract_ids: list[int]) -> dict[int, MilestoneMoney]:
    """Per milestone: funded, released (gross), refunded, fees, and what was taken back — summed from entries."""
    return _tally(_sums(LedgerEntry.milestone_id, LedgerEntry.contract_id.in_(contract_ids)))


@dataclass
class ContractMoney:
    """A contract's totals, in its currency."""

    funded: Money
    released: Money
    refunded: Money
    fees: Money
    #: Given back to the client by their bank (a lost chargeback) or by a payment that did not settle,
    #: from escrow or from what was released ...
    taken_back: Money
    #: ... of which the freelancer's part of releases: what they owe the shop if already paid out.
    owed: Money
    returned: Money  # ... of which from escrow, and from releases (gross: the owed part and the fee's):
    clawed: Money

    @property
    def in_escrow(self) -> Money:
        return self.funded - self.released - self.refunded - self.returned

    @property
    def received(self) -> Money:
        """Released to the freelancer, net of fees, less what was taken back from it."""
        return self.released - self.fees - self.clawed

    @property
    def fees_charged(self) -> Money:
        """The fees taken at the releases, before any went back with a take-back."""
        return self.fees + self.clawed - self.owed

    @property
    def charged_back(self) -> Money:
        """What left escrow for the client's bank (or a payment that did not settle), not from releases."""
        return self.returned

    def __add__(self, other: "ContractMoney") -> "ContractMoney":
        return ContractMoney(self.funded + other.funded, self.released + other.released,
                             self.refunded + other.refunded, self.fees + other.fees,
                             self.taken_back + other.taken_back, self.owed + other.owed,
                             self.returned + other.returned, self.clawed + other.clawed)


def _as_contract_money(p: MilestoneMoney, currency: str) -> ContractMoney:
    return ContractMoney(
        funded=Money(p.funded, currency), released=Money(p.released, currency),
        refunded=Money(p.refunded, currency), fees=Money(p.fees, currency),
        taken_back=Money(p.returned + p.clawed + p.lost, currency), owed=Money(p.owed, currency),
        returned=Money(p.returned, currency), clawed=Money(p.clawed, currency),
    )


def contract_money(contracts: list[Contract]) -> dict[int, ContractMoney]:
    """Totals for each contract: one query for the whole list, summed per contract by the database."""
    if not contracts:
        return {}
    per_contract = _tally(_sums(LedgerEntry.contract_id, LedgerEntry.contract_id.in_([c.id for c in contracts])))
    return {c.id: _as_contract_money(per_contract.get(c.id, MilestoneMoney()), c.currency) for c in contracts}


def money_of(contract: Contract) -> tuple[ContractMoney, dict[int, MilestoneMoney]]:
    """A contract's totals and each of its milestones' money, from one query (a contract page needs both)."""
    milestones = per_milestone(contract)
    total = MilestoneMoney()
    for p in milestones.values():
        for name in ("funded", "released", "refunded", "fees", "returned", "clawed", "owed", "lost"):
            setattr(total, name, getattr(total, name) + getattr(p, name))
    return _as_contract_money(total, contract.currency), milestones


def member_money(member_id: int) -> dict[str, ContractMoney]:
    """Totals across all of a member's contracts, per currency: one query, summed by the database.

    Only the entries ``_tally`` reads are summed: never the client's side, and the freelancer's only in a
    take-back (their side of a release is the escrow's less the fee). The account test is answered from
    the ledger_entry index ``ix_ledger_entry_contract_totals``, before the journal is looked up."""
    per_currency = _tally(_sums(
        LedgerEntry.currency, LedgerEntry.contract_id.in_(
            db.select(Contract.id).where(Contract.member_id == member_id).scalar_subquery()),
        LedgerEntry.account != rules.CLIENT,
        db.or_(LedgerEntry.account != rules.FREELANCER, Journal.kind.in_(TAKE_BACKS))))
    return {currency: _as_contract_money(p, currency) for currency, p in per_currency.items()}


def gateway_doubts(now: datetime | None = None) -> list[str]:
    """Where the gateway and the books may disagree and no automatic run will settle it, naming the rows.

    Refunds still pending/unknown after STUCK_AFTER, refunds queued for their payment to settle after
    QUEUED_STUCK_AFTER, payments whose settlement the processor declined, sales still being given
    back (``returning``) after STUCK_AFTER, and refunds the gateway made late
    that the books could not take (a ``failed`` row with the gateway's
    transaction: the milestone had been refunded or released meanwhile).
    """
    from .lifecycle import refund_order_id  # lifecycle builds on this module

    now = now or utcnow()
    doubts: list[str] = []
    for row, currency in _refunds_with_currency(Refund.status.in_(("pending", "unknown")),
                                                Refund.created_at < now - STUCK_AFTER):
        hours = int((now - row.created_at).total_seconds() // 3600)
        doubts.append(f"the gateway and the books may disagree: refund {row.id} of milestone {row.milestone_id} "
                      f"({Money(row.amount_minor, currency).format()}, order {refund_order_id(row)}) is still "
                      f"{row.status} after {hours} hours; check it in Braintree")
    for row, currency in _refunds_with_currency(Refund.status == "queued",
                                                Refund.created_at < now - QUEUED_STUCK_AFTER):
        hours = int((now - row.created_at).total_seconds() // 3600)
        doubts.append(f"refund {row.id} of milestone {row.milestone_id} ({Money(row.amount_minor, currency).format()})"
                      f" has waited {hours} hours for its payment to settle; check the payment in Braintree")
    for attempt in db.session.scalars(db.select(PaymentAttempt).where(
            PaymentAttempt.status == "succeeded", PaymentAttempt.settlement == "settlement_declined")
            .order_by(PaymentAttempt.created_at)):
        doubts.append(f"the gateway and the books disagree: payment {attempt.id} ({attempt.amount.format()}, "
                      f"sale {attempt.transaction_id}) is held in escrow, but the payment processor declined "
                      f"settling it; check it in Braintree")
    for row in db.session.scalars(
        db.select(SaleReturn).where(SaleReturn.status == "returning", SaleReturn.created_at < now - STUCK_AFTER)
        .order_by(SaleReturn.id)
    ):
        hours = int((now - row.created_at).total_seconds() // 3600)
        last = f" (last answer: {row.message})" if row.message else ""
        doubts.append(f"the gateway and the books may disagree: sale {row.transaction_id} "
                      f"({row.amount.format()}, order {row.order_id}) is still being given back after {hours} "
                      f"hours, {row.attempts} tries{last}; check it in Braintree")
    for row, currency in _refunds_with_currency(Refund.status == "failed", Refund.transaction_id.is_not(None)):
        doubts.append(f"the gateway and the books disagree: refund {row.id} of milestone {row.milestone_id} "
                      f"({Money(row.amount_minor, currency).format()}) was declared not made, then made at the "
                      f"gateway ({row.kind} {row.transaction_id}) after the milestone was settled otherwise; "
                      f"check it in Braintree")
    for row in db.session.scalars(db.select(WebhookNotification).where(
            WebhookNotification.status == "received", WebhookNotification.tries >= WEBHOOK_TRIES)
            .order_by(WebhookNotification.id)):
        doubts.append(f"webhook notification {row.id} ({row.kind} of {row.subject_id}) could not be applied after "
                      f"{row.tries} tries: {row.message}; check it in Braintree")
    return doubts


def _settled_as(state: str, amount: int, mm: MilestoneMoney) -> str | None:
    """What is wrong with a settled milestone's money (released, refunded or split), or None."""
    if state == MilestoneState.RELEASED and (mm.released, mm.refunded) != (amount, 0):
        return f"the ledger released {mm.released} and refunded {mm.refunded} of {amount}"
    if state == MilestoneState.REFUNDED and (mm.released, mm.refunded) != (0, amount):
        return f"the ledger released {mm.released} and refunded {mm.refunded} of {amount}"
    if state == MilestoneState.CHARGED_BACK and mm.held:
        return f"a chargeback left {mm.held} in escrow: the shop owner has to settle it by hand"
    if state == MilestoneState.SPLIT and not (mm.released > 0 and mm.refunded > 0
                                              and mm.released + mm.refunded == amount):
        return f"the ledger released {mm.released} and refunded {mm.refunded} of {amount}, not a split"
    return None


def _dispute_problems(milestones: dict, money: dict) -> list[str]:
    """An open dispute freezes a disputed milestone; a closed one's decision is what the ledger holds."""
    problems = []
    for d in db.session.scalars(db.select(Dispute).order_by(Dispute.id)):
        m = milestones.get(d.milestone_id)
        if d.status == "open" and (m is None or m.state != MilestoneState.DISPUTED):
            problems.append(f"dispute {d.id} is open but milestone {d.milestone_id} is {m and m.state}")
        if d.status == "closed":
            mm = money.get(d.milestone_id, MilestoneMoney())
            if (mm.released, mm.refunded) != (d.release_minor, d.refund_minor):
                problems.append(f"dispute {d.id} decided {d.release_minor} released and {d.refund_minor} "
                                f"refunded, the ledger holds {mm.released} and {mm.refunded}")
    disputed = {m.id for m in milestones.values() if m.state == MilestoneState.DISPUTED}
    open_ = set(db.session.scalars(db.select(Dispute.milestone_id).where(Dispute.status == "open")))
    problems += [f"milestone {mid} is disputed without an open dispute" for mid in sorted(disputed - open_)]
    return problems


def _take_back_problems(paid: dict) -> list[str]:
    """A reversed payment has one reversal journal (none otherwise); a lost or accepted chargeback of ours has
    one chargeback journal giving the client exactly its amount (none otherwise)."""
    problems = []
    reversals = dict(db.session.execute(
        db.select(Journal.payment_attempt_id, db.func.count(Journal.id)).where(Journal.kind == "reversal")
        .group_by(Journal.payment_attempt_id)).all())
    for attempt_id, attempt in paid.items():
        want = 1 if attempt.status == "reversed" else 0
        if reversals.get(attempt_id, 0) > want or (want and attempt_id not in reversals
                                                   and not _refunded_whole(attempt)):
            problems.append(f"payment attempt {attempt_id} is {attempt.status} but has "
                            f"{reversals.get(attempt_id, 0)} reversal journals")
    given = dict(db.session.execute(
        db.select(Journal.chargeback_id, db.func.sum(LedgerEntry.amount_minor)).join(LedgerEntry)
        .where(Journal.kind == "chargeback", LedgerEntry.account == rules.CLIENT).group_by(Journal.chargeback_id)
    ).all())
    for row in db.session.scalars(db.select(Chargeback).order_by(Chargeback.id)):
        lost = row.status in ("lost", "accepted") and row.contract_id is not None
        if lost and given.get(row.id) != row.amount_minor:
            problems.append(f"chargeback {row.id} ({row.gateway_id}) is {row.status} but the ledger gave the client "
                            f"{given.get(row.id, 0)}, not {row.amount_minor}")
        elif not lost and row.id in given:
            problems.append(f"chargeback {row.id} ({row.gateway_id}) is {row.status} but has a chargeback journal")
    return problems


def _refunded_whole(attempt) -> bool:
    """Was the whole payment refunded before it was reversed (nothing left to reverse)?"""
    refunded = db.session.scalar(db.select(db.func.coalesce(db.func.sum(Refund.amount_minor), 0))
                                 .where(Refund.attempt_id == attempt.id, Refund.status == "succeeded"))
    return int(refunded) >= attempt.amount_minor


def _refunds_with_currency(*where):
    """(refund, its contract's currency) for the refunds matching ``where``, oldest first."""
    return db.session.execute(
        db.select(Refund, Contract.currency).join(Milestone, Milestone.id == Refund.milestone_id)
        .join(Contract, Contract.id == Milestone.contract_id).where(*where).order_by(Refund.id))


def check(now: datetime | None = None) -> list[str]:
    """Every ledger invariant of DESIGN.md, and ``gateway_doubts``; returns the problems, naming the rows."""
    problems: list[str] = []
    for journal_id, total in db.session.execute(
        db.select(LedgerEntry.journal_id, db.func.sum(LedgerEntry.amount_minor))
        .group_by(LedgerEntry.journal_id).having(db.func.sum(LedgerEntry.amount_minor) != 0)
    ):
        problems.append(f"journal {journal_id} sums to {total}, not 0")
    for journal_id, in db.session.execute(
        db.select(Journal.id).outerjoin(LedgerEntry, LedgerEntry.journal_id == Journal.id)
        .group_by(Journal.id).having(db.func.count(LedgerEntry.id) == 0)
    ):
        problems.append(f"journal {journal_id} has no entries")

    # Rows of the four columns the checks read, not whole objects: a big shop has many milestones.
    milestones = {m.id: m for m in db.session.execute(
        db.select(Milestone.id, Milestone.contract_id, Milestone.state, Milestone.amount_minor))}
    money = _tally(_sums(LedgerEntry.milestone_id))
    per_contract: dict[int, int] = defaultdict(int)
    for milestone_id, mm in money.items():
        m = milestones.get(milestone_id)
        per_contract[m.contract_id if m else -1] += mm.held
        if mm.held < 0:
            problems.append(f"milestone {milestone_id}: released {mm.released} + refunded {mm.refunded} "
                            f"exceed funded {mm.funded}")
        if m is not None and m.state in ESCROW_STATES and mm.held != m.amount_minor:
            problems.append(f"milestone {milestone_id} is {m.state} but escrow holds {mm.held}, "
                            f"not its amount {m.amount_minor}")
        if m is not None and m.state == MilestoneState.PENDING and mm.held:
            problems.append(f"milestone {milestone_id} is pending but escrow holds {mm.held}")
        if m is not None and (expected := _settled_as(m.state, m.amount_minor, mm)) is not None:
            problems.append(f"milestone {milestone_id} is {m.state} but {expected}")
    for m in milestones.values():
        if m.state in ESCROW_STATES and m.id not in money:
            problems.append(f"milestone {m.id} is {m.state} but has no funding in the ledger")
    problems.extend(_dispute_problems(milestones, money))
    states = dict(db.session.execute(db.select(Contract.id, Contract.state)).all())
    for contract_id, held in per_contract.items():
        if held < 0:
            problems.append(f"contract {contract_id}: escrow balance {held} is negative")
        elif held and states.get(contract_id) != ContractState.ACTIVE:
            # Declined, withdrawn, completed or ended: nobody's page shows that money any more.
            problems.append(f"contract {contract_id} is {states.get(contract_id)} "
                            f"but escrow holds {held}")

    funding = dict(db.session.execute(
        db.select(Journal.payment_attempt_id, db.func.count(Journal.id))
        .where(Journal.kind == "funding").group_by(Journal.payment_attempt_id)
    ).all())
    if None in funding:
        problems.append(f"{funding.pop(None)} funding journal(s) without a payment attempt")
    succeeded = {a.id: a for a in db.session.execute(
        db.select(PaymentAttempt.id, PaymentAttempt.status, PaymentAttempt.amount_minor)
        .where(PaymentAttempt.status.in_(("succeeded", "reversed"))))}
    funded_by = {attempt_id: int(total) for attempt_id, total in db.session.execute(
        db.select(Journal.payment_attempt_id, db.func.sum(LedgerEntry.amount_minor)).join(Journal)
        .where(Journal.kind == "funding", LedgerEntry.account == rules.ESCROW)
        .group_by(Journal.payment_attempt_id))}
    for attempt_id, attempt in succeeded.items():
        count = funding.get(attempt_id, 0)
        if count != 1:
            problems.append(f"payment attempt {attempt_id} succeeded but has {count} funding journals")
        elif (funded := funded_by.get(attempt_id)) != attempt.amount_minor:
            problems.append(f"payment attempt {attempt_id} charged {attempt.amount_minor} "
                            f"but its journal funded {funded}")
    for attempt_id in set(funding) - set(succeeded):
        problems.append(f"funding journal for attempt {attempt_id}, which has not succeeded")
    problems.extend(_take_back_problems(succeeded))
    problems.extend(gateway_doubts(now))
    return problems
