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
    LedgerDay,
    LedgerEntry,
    Milestone,
    PaymentAttempt,
    Refund,
    SaleReturn,
    WebhookNotification,
    utcnow,
)
from . import ledger_days, memo

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
    """``_sums``' statement, to run or to build a cached statement on."""
    return (db.select(key, Journal.kind, LedgerEntry.account, db.func.sum(LedgerEntry.amount_minor))
            .join(Journal, Journal.id == LedgerEntry.journal_id).where(*where)
            .group_by(key, Journal.kind, LedgerEntry.account))


@cache
def _contract_entries_select():
    """``contract_entries``' statement, built once (parameter ``cid``): every contract page asks it."""
    return (db.select(Journal.id, Journal.kind, Journal.created_at, LedgerEntry.milestone_id, LedgerEntry.account,
                      LedgerEntry.amount_minor)
            .join(Journal, Journal.id == LedgerEntry.journal_id)
            .where(LedgerEntry.contract_id == db.bindparam("cid"), Journal.contract_id == db.bindparam("cid"))
            .order_by(Journal.created_at, Journal.id, LedgerEntry.id))


@memo.per_request
def contract_entries(contract_id: int) -> list:
    """One contract's entries as (journal id, journal kind, posted at, milestone, account, amount) rows, oldest
    first: its sums (``contract_sums``) and the client's money timeline (``thread.money_events``) both read
    these, one statement a request (a write in it asks again). A contract has tens of entries, not thousands."""
    return db.session.execute(_contract_entries_select(), {"cid": contract_id}).all()


def contract_sums(contract_id: int) -> list:
    """One contract's (milestone, journal kind, account, sum) rows: the page's money questions all read these."""
    sums: dict[tuple, int] = defaultdict(int)
    for _journal, kind, _at, milestone_id, account, amount in contract_entries(contract_id):
        sums[(milestone_id, kind, account)] += amount
    return [(*key, total) for key, total in sums.items()]


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


@cache
def _contracts_sums():
    """``_sums`` per contract of the contracts ``ids`` (expanding), built once: a list page asks it every time.

    The journals are narrowed to the same contracts (a journal and its entries are always one contract's:
    ``post``), so PostgreSQL joins the page's few journals by index instead of hashing every journal."""
    ids = db.bindparam("ids", expanding=True)
    return _sums_select(LedgerEntry.contract_id, LedgerEntry.contract_id.in_(ids), Journal.contract_id.in_(ids))


def contract_money(contracts: list[Contract]) -> dict[int, ContractMoney]:
    """Totals for each contract (or list row: its id and currency are all this reads): one query for the
    whole list, summed per contract by the database."""
    if not contracts:
        return {}
    per_contract = _tally(db.session.execute(_contracts_sums(), {"ids": [c.id for c in contracts]}).all())
    return {c.id: _as_contract_money(per_contract.get(c.id, MilestoneMoney()), c.currency) for c in contracts}


def money_of(contract: Contract) -> tuple[ContractMoney, dict[int, MilestoneMoney]]:
    """A contract's totals and each of its milestones' money, from one query (a contract page needs both)."""
    milestones = per_milestone(contract)
    total = MilestoneMoney()
    for p in milestones.values():
        for name in ("funded", "released", "refunded", "fees", "returned", "clawed", "owed", "lost"):
            setattr(total, name, getattr(total, name) + getattr(p, name))
    return _as_contract_money(total, contract.currency), milestones


@cache
def _member_money_statement(summed_days: bool):
    """The statement of ``member_money``, with or without the summed days: built once each (bound parameters
    ``member_id``, ``since`` and ``through``), not at every request."""
    def wanted(account, kind):
        return db.and_(account != rules.CLIENT, db.or_(account != rules.FREELANCER, kind.in_(TAKE_BACKS)))
    live = _sums_select(LedgerEntry.currency, Contract.member_id == db.bindparam("member_id"),
                        wanted(LedgerEntry.account, Journal.kind)).join(Contract, Contract.id == Journal.contract_id)
    if not summed_days:
        return live
    return db.union_all(
        live.where(Journal.created_at >= db.bindparam("since")),
        db.select(LedgerDay.currency, LedgerDay.kind, LedgerDay.account, db.func.sum(LedgerDay.amount_minor))
        .where(LedgerDay.member_id == db.bindparam("member_id"), LedgerDay.day < db.bindparam("through"),
               wanted(LedgerDay.account, LedgerDay.kind))
        .group_by(LedgerDay.currency, LedgerDay.kind, LedgerDay.account))


def member_money(member_id: int) -> dict[str, ContractMoney]:
    """Totals across all of a member's contracts, per currency: one statement, summed by the database.

    The closed days come summed already (``LedgerDay``, ``services.ledger_days``); only the entries of the
    days since are summed here, from the ``journal.created_at`` index, so the cost does not grow with the
    member's contracts. Only the sums ``_tally`` reads are asked for: never the client's side, and the
    freelancer's only in a take-back (their side of a release is the escrow's less the fee)."""
    through = ledger_days.through()
    params = {"member_id": member_id}
    if through is not None:
        params.update(since=ledger_days.start_of(through), through=through)
    rows = db.session.execute(_member_money_statement(through is not None), params).all()
    per_currency = _tally(rows)  # the sums are linear: the days' and the entries' rows add up
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


#: The journal kinds whose escrow entries make up what escrow holds (``MilestoneMoney.held``).
_ESCROW_KINDS = ("funding", "release", "refund", *TAKE_BACKS)
_IN_ESCROW = sorted(s.value for s in ESCROW_STATES)
_PAID = ("succeeded", "reversed")


def _escrow_sums(*where):
    """Per milestone with escrow entries matching ``where``: what escrow holds for it, what it released and
    refunded (``MilestoneMoney.held``, ``released``, ``refunded``), summed by the database (a select to nest),
    so that ``check`` fetches only the milestones whose money is wrong. Only escrow entries are read: the
    other accounts' are more than half of the ledger."""
    def out(kind):
        return -db.func.sum(db.case((Journal.kind == kind, LedgerEntry.amount_minor), else_=0))
    return (db.select(LedgerEntry.milestone_id, db.func.sum(LedgerEntry.amount_minor).label("held"),
                      out("release").label("released"), out("refund").label("refunded"))
            .join(Journal, Journal.id == LedgerEntry.journal_id)
            .where(LedgerEntry.account == rules.ESCROW, Journal.kind.in_(_ESCROW_KINDS), *where)
            .group_by(LedgerEntry.milestone_id))


def _journal_problems() -> list[str]:
    """Every journal balances and has entries."""
    total = db.func.sum(LedgerEntry.amount_minor)
    problems = [f"journal {journal_id} sums to {amount}, not 0" for journal_id, amount in db.session.execute(
        db.select(LedgerEntry.journal_id, total).group_by(LedgerEntry.journal_id).having(total != 0))]
    problems += [f"journal {journal_id} has no entries" for journal_id in db.session.scalars(
        db.select(Journal.id).where(~db.exists().where(LedgerEntry.journal_id == Journal.id)).order_by(Journal.id))]
    return problems


def _escrow_problems() -> tuple[list[str], list[str]]:
    """What escrow holds for each milestone agrees with its state and amount, a milestone in escrow has
    funding, no contract's escrow balance is negative and only an active contract's is not zero.

    The database compares (one row per milestone with escrow entries, a window sum per contract) and returns
    the milestones that are wrong or belong to a wrong contract, and the milestones without escrow entries
    whose state wants some; their messages are written from ``_tally`` of just those milestones.
    Returns the milestones' problems and the contracts'."""
    s = _escrow_sums().cte("escrow")  # read twice, summed once
    contract_id = db.func.coalesce(Milestone.contract_id, db.literal_column("-1"))  # -1: no such milestone
    rows = (db.select(s.c.milestone_id, s.c.held, s.c.released, s.c.refunded, Milestone.state,
                      Milestone.amount_minor, contract_id.label("contract_id"),
                      Contract.state.label("contract_state"),
                      db.func.sum(s.c.held).over(partition_by=contract_id).label("contract_held"))
            .select_from(s).outerjoin(Milestone, Milestone.id == s.c.milestone_id)
            .outerjoin(Contract, Contract.id == Milestone.contract_id).subquery())
    r, M = rows.c, MilestoneState
    wrong = db.or_(
        r.held < 0,
        db.and_(r.state.in_(_IN_ESCROW), r.held != r.amount_minor),
        db.and_(r.state.in_((M.PENDING.value, M.CHARGED_BACK.value)), r.held != 0),
        db.and_(r.state == M.RELEASED.value, db.or_(r.released != r.amount_minor, r.refunded != 0)),
        db.and_(r.state == M.REFUNDED.value, db.or_(r.released != 0, r.refunded != r.amount_minor)),
        db.and_(r.state == M.SPLIT.value, ~db.and_(r.released > 0, r.refunded > 0,
                                                   r.released + r.refunded == r.amount_minor)),
        r.contract_held < 0,
        db.and_(r.contract_held != 0, r.contract_state.is_distinct_from(ContractState.ACTIVE.value)),
    )
    # And the milestones without escrow entries whose state wants some (in escrow, released, refunded or
    # split): their held is NULL.
    bare = (db.select(Milestone.id, db.null(), db.null(), db.null(), Milestone.state, Milestone.amount_minor,
                      Milestone.contract_id, db.null(), db.null())
            .outerjoin(s, s.c.milestone_id == Milestone.id)
            .where(s.c.milestone_id.is_(None),
                   Milestone.state.in_((*_IN_ESCROW, M.RELEASED.value, M.REFUNDED.value, M.SPLIT.value))))
    both = db.union_all(db.select(rows).where(wrong), bare)
    found, bare = [], []
    for row in db.session.execute(both.order_by(both.selected_columns.milestone_id)):
        (found if row.held is not None else bare).append(row)
    if not found and not bare:
        return [], []
    ids = [row.milestone_id for row in found + bare]
    # The milestones' whole money, as the pages see it; a ledger wrong all over is tallied whole.
    money = _tally(_sums(LedgerEntry.milestone_id, *[LedgerEntry.milestone_id.in_(ids)] if len(ids) <= 500 else ()))
    milestones = {row.milestone_id: row for row in found + bare if row.state is not None}
    out = []
    for milestone_id in sorted(set(ids) & set(money)):
        mm, m = money[milestone_id], milestones.get(milestone_id)
        if mm.held < 0:
            out.append(f"milestone {milestone_id}: released {mm.released} + refunded {mm.refunded} "
                       f"exceed funded {mm.funded}")
        if m is not None and m.state in ESCROW_STATES and mm.held != m.amount_minor:
            out.append(f"milestone {milestone_id} is {m.state} but escrow holds {mm.held}, "
                       f"not its amount {m.amount_minor}")
        if m is not None and m.state == MilestoneState.PENDING and mm.held:
            out.append(f"milestone {milestone_id} is pending but escrow holds {mm.held}")
        if m is not None and (expected := _settled_as(m.state, m.amount_minor, mm)) is not None:
            out.append(f"milestone {milestone_id} is {m.state} but {expected}")
    out += [f"milestone {m.milestone_id} is {m.state} but has no funding in the ledger" for m in bare
            if m.state in ESCROW_STATES and m.milestone_id not in money]
    contracts, seen = [], set()
    for row in found:  # in the order of each contract's first milestone, as the milestones are
        if row.contract_id in seen or not (row.contract_held < 0 or row.contract_held != 0
                                           and row.contract_state != ContractState.ACTIVE):
            continue
        seen.add(row.contract_id)
        if row.contract_held < 0:
            contracts.append(f"contract {row.contract_id}: escrow balance {int(row.contract_held)} is negative")
        else:
            # Declined, withdrawn, completed or ended: nobody's page shows that money any more.
            contracts.append(f"contract {row.contract_id} is {row.contract_state} but escrow holds "
                             f"{int(row.contract_held)}")
    return out, contracts


def _dispute_problems() -> list[str]:
    """An open dispute freezes a disputed milestone; a closed one's decision is what the ledger holds."""
    s = _escrow_sums(LedgerEntry.milestone_id.in_(db.select(Dispute.milestone_id).where(Dispute.status == "closed")))
    s = s.subquery()
    released, refunded = db.func.coalesce(s.c.released, 0), db.func.coalesce(s.c.refunded, 0)
    disputed = MilestoneState.DISPUTED.value
    problems = []
    for d in db.session.execute(
        db.select(Dispute.id, Dispute.status, Dispute.milestone_id, Dispute.release_minor, Dispute.refund_minor,
                  Milestone.id.label("found"), Milestone.state, released.label("released"),
                  refunded.label("refunded"))
        .select_from(Dispute).outerjoin(Milestone, Milestone.id == Dispute.milestone_id)
        .outerjoin(s, s.c.milestone_id == Dispute.milestone_id)
        .where(db.or_(
            db.and_(Dispute.status == "open", db.or_(Milestone.id.is_(None), Milestone.state != disputed)),
            db.and_(Dispute.status == "closed", db.or_(released.is_distinct_from(Dispute.release_minor),
                                                       refunded.is_distinct_from(Dispute.refund_minor)))))
        .order_by(Dispute.id)
    ):
        if d.status == "open" and (d.found is None or d.state != MilestoneState.DISPUTED):
            problems.append(f"dispute {d.id} is open but milestone {d.milestone_id} is "
                            f"{None if d.found is None else d.state}")
        if d.status == "closed":
            got = (int(d.released), int(d.refunded))
            if got != (d.release_minor, d.refund_minor):
                problems.append(f"dispute {d.id} decided {d.release_minor} released and {d.refund_minor} "
                                f"refunded, the ledger holds {got[0]} and {got[1]}")
    problems += [f"milestone {mid} is disputed without an open dispute" for mid in db.session.scalars(
        db.select(Milestone.id).where(Milestone.state == disputed, ~db.exists().where(
            Dispute.milestone_id == Milestone.id, Dispute.status == "open")).order_by(Milestone.id))]
    return problems


def _payment_problems() -> list[str]:
    """A succeeded (or since reversed) payment attempt has one funding journal of its amount, and funding
    journals belong to such attempts; then ``_take_back_problems``. Only the wrong attempts come back."""
    def journals(kind):
        return (db.select(Journal.payment_attempt_id.label("id"), db.func.count(Journal.id).label("n"))
                .where(Journal.kind == kind).group_by(Journal.payment_attempt_id).subquery())
    fundings, reversals = journals("funding"), journals("reversal")
    funded = (db.select(Journal.payment_attempt_id.label("id"), db.func.sum(LedgerEntry.amount_minor).label("total"))
              .join(LedgerEntry, LedgerEntry.journal_id == Journal.id)
              .where(Journal.kind == "funding", LedgerEntry.account == rules.ESCROW)
              .group_by(Journal.payment_attempt_id).subquery())
    n_fundings, n_reversals = db.func.coalesce(fundings.c.n, 0), db.func.coalesce(reversals.c.n, 0)
    attempts = db.session.execute(
        db.select(PaymentAttempt.id, PaymentAttempt.status, PaymentAttempt.amount_minor,
                  n_fundings.label("fundings"), funded.c.total.label("funded"), n_reversals.label("reversals"))
        .outerjoin(fundings, fundings.c.id == PaymentAttempt.id).outerjoin(funded, funded.c.id == PaymentAttempt.id)
        .outerjoin(reversals, reversals.c.id == PaymentAttempt.id)
        .where(PaymentAttempt.status.in_(_PAID), db.or_(
            n_fundings != 1, funded.c.total.is_distinct_from(PaymentAttempt.amount_minor),
            PaymentAttempt.status == "reversed", n_reversals > 0))
        .order_by(PaymentAttempt.id)).all()
    strays = db.session.execute(
        db.select(Journal.payment_attempt_id, db.func.count(Journal.id))
        .outerjoin(PaymentAttempt, PaymentAttempt.id == Journal.payment_attempt_id)
        .where(Journal.kind == "funding", db.or_(PaymentAttempt.id.is_(None), PaymentAttempt.status.not_in(_PAID)))
        .group_by(Journal.payment_attempt_id).order_by(Journal.payment_attempt_id)).all()
    problems = [f"{count} funding journal(s) without a payment attempt" for attempt_id, count in strays
                if attempt_id is None]
    for a in attempts:
        if a.fundings != 1:
            problems.append(f"payment attempt {a.id} succeeded but has {a.fundings} funding journals")
        elif (got := None if a.funded is None else int(a.funded)) != a.amount_minor:
            problems.append(f"payment attempt {a.id} charged {a.amount_minor} but its journal funded {got}")
    problems += [f"funding journal for attempt {attempt_id}, which has not succeeded" for attempt_id, _ in strays
                 if attempt_id is not None]
    return problems + _take_back_problems(attempts)


def _take_back_problems(attempts) -> list[str]:
    """A reversed payment has one reversal journal (none otherwise); a lost or accepted chargeback of ours has
    one chargeback journal giving the client exactly its amount (none otherwise). ``attempts``: the paid
    attempts ``_payment_problems`` fetched, among them every one reversed or with a reversal journal."""
    problems = []
    for attempt in attempts:
        want = 1 if attempt.status == "reversed" else 0
        if attempt.reversals > want or (want and not attempt.reversals and not _refunded_whole(attempt)):
            problems.append(f"payment attempt {attempt.id} is {attempt.status} but has "
                            f"{attempt.reversals} reversal journals")
    given = dict(db.session.execute(
        db.select(Journal.chargeback_id, db.func.sum(LedgerEntry.amount_minor)).join(LedgerEntry)
        .where(Journal.kind == "chargeback", LedgerEntry.account == rules.CLIENT).group_by(Journal.chargeback_id)
    ).all())
    for row in db.session.execute(db.select(Chargeback.id, Chargeback.gateway_id, Chargeback.status,
                                            Chargeback.contract_id, Chargeback.amount_minor)
                                  .order_by(Chargeback.id)):
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
    """Every ledger invariant of DESIGN.md, and ``gateway_doubts``; returns the problems, naming the rows.

    The database sums and compares (a shop has tens of thousands of entries): the checks fetch only the
    rows that are wrong, so a clean ledger is checked without a Python object per milestone or entry."""
    problems = _journal_problems()
    milestones, contracts = _escrow_problems()
    return (problems + milestones + _dispute_problems() + contracts + _payment_problems() + ledger_days.problems()
            + gateway_doubts(now))
