"""Reading a member's contracts: one contract, the list page, money totals, summaries.

Nothing here writes; every builder, proposal and milestone use case loads
through these, so "whose contract is it" is answered once.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache

from sqlalchemy.orm import joinedload

from ..domain.money import Money
from ..domain.states import SIGNED, ContractState, MilestoneState
from ..domain.terms import Summary, summarize
from ..extensions import db
from ..models import Acceptance, Contract, ContractRevision, Dispute, Member, Milestone, ShopSettings
from . import ledger, presence
from .errors import NotFound


def get_for_member(contract_id: int, member: Member, draft_revision: bool = False) -> Contract:
    """The member's own contract; NotFound for anyone else's (no hint it exists).

    A draft revision (the builder's copy of a sent contract's next revision) is found only when
    ``draft_revision`` says the caller edits or sends one: it is no contract of its own.
    """
    # with its milestones: every contract page shows them (one query, not two)
    contract = db.session.get(Contract, contract_id, options=[joinedload(Contract.milestones)])
    if contract is None or contract.member_id != member.id or (contract.draft_of_id and not draft_revision):
        raise NotFound("No such contract.")
    return contract


@dataclass(frozen=True)
class Row:
    """One line of a contracts list: only the columns the table shows (no Contract, no milestones loaded)."""

    id: int
    ref: str
    title: str
    client_name: str
    client_company: str
    state: str
    currency: str
    last_activity_at: datetime
    total_minor: int  # the live milestones' sum, as ``Contract.total``
    member_name: str | None  # the owner's list only

    @property
    def total(self) -> Money:
        return Money(self.total_minor, self.currency)


@dataclass
class Page:
    items: list[Row]
    page: int
    pages: int
    total: int
    money: dict  # contract id -> ledger.ContractMoney
    signed: set[int]  # ids of the contracts signed and awaiting funding


def _signed_current():
    """EXISTS: the client signed the contract's current revision."""
    return (db.select(Acceptance.id).join(ContractRevision, ContractRevision.id == Acceptance.revision_id)
            .where(Acceptance.contract_id == Contract.id, ContractRevision.number == Contract.revision)
            .exists())


def signed(contract: Contract) -> bool:
    """Whether the client signed the contract's current revision (a page: with its other small questions)."""
    asked, answer = presence.known(contract, "signed")
    return answer if asked else bool(signed_ids([contract]))


def signed_ids(contracts: list[Contract]) -> set[int]:
    """Of these contracts, the ones whose client signed the current revision."""
    if not contracts:
        return set()
    return set(db.session.scalars(db.select(Contract.id).where(
        Contract.id.in_([c.id for c in contracts]), _signed_current())))


def list_for_member(member: Member, state: str | None, page: int, per_page: int) -> Page:
    """The member's contracts, newest activity first, optionally of one status (LIST_STATUSES)."""
    return _list(state, page, per_page, member_id=member.id)


def list_for_shop(state: str | None, page: int, per_page: int) -> Page:
    """Every member's contracts (the owner's read-only view), newest activity first, as ``list_for_member``."""
    return _list(state, page, per_page)


def get_for_shop(contract_id: int, viewer: Member) -> Contract:
    """Any contract of the shop, for the owner only; NotFound for anyone else (no hint it exists)."""
    contract = db.session.get(Contract, contract_id)
    if contract is None or not viewer.is_owner or contract.draft_of_id:
        raise NotFound("No such contract.")
    return contract


def dispute_for_shop(dispute_id: int, viewer: Member) -> Dispute:
    """Any dispute of the shop, for the owner (the mediator) only; NotFound for anyone else."""
    dispute = db.session.get(Dispute, dispute_id)
    if dispute is None or not viewer.is_owner:
        raise NotFound("No such dispute.")
    return dispute


def _live_total():
    """The contract's total as a column: the sum of its live (not cancelled) milestones, as ``Contract.total``."""
    return (db.select(db.func.coalesce(db.func.sum(Milestone.amount_minor), 0))
            .where(Milestone.contract_id == Contract.id, Milestone.state != MilestoneState.CANCELLED)
            .scalar_subquery())


@cache
def _list_statements(member: bool, state: str | None, oldest_first: bool) -> tuple:
    """The list's count and page statements for one member (``member``) or the whole shop, and one kind of
    status filter (None, SIGNED, SENT, or any other: ``state``), built once: their parameters are bound
    (``member_id``, ``state``, ``offset``, ``limit``). Building them anew each request cost more than running them.

    The page's ids are picked first (ordered, offset) from the contract table alone; only those rows then get
    their columns, their live total and whether the client signed, so a late page or the owner's list (sorted
    without an index) never sums or looks up the rows it skips. ``oldest_first`` picks them counting from the
    other end (``_list``), the rows still come newest first."""
    whose = [Contract.member_id == db.bindparam("member_id")] if member else []
    where = [*whose, Contract.draft_of_id.is_(None)]  # a draft revision is part of its contract
    if state == SIGNED:
        where += [Contract.state == ContractState.SENT, _signed_current()]
    elif state == ContractState.SENT:
        where += [Contract.state == ContractState.SENT, ~_signed_current()]
    elif state:
        where.append(Contract.state == db.bindparam("state"))
    count = db.select(db.func.count()).select_from(Contract).where(*where)
    if not state:  # all of them: counted in the member_id index, less the few draft revisions found by theirs
        # (``> 0`` rather than IS NOT NULL: SQLite's planner then takes the draft_of_id index, not a table scan)
        count = db.select(db.select(db.func.count()).select_from(Contract).where(*whose).scalar_subquery()
                          - db.select(db.func.count()).select_from(Contract)
                          .where(*whose, Contract.draft_of_id > 0).scalar_subquery())
    newest = (Contract.last_activity_at.desc(), Contract.id.desc())
    oldest = (Contract.last_activity_at.asc(), Contract.id.asc())
    ids = (db.select(Contract.id).where(*where).order_by(*(oldest if oldest_first else newest))
           .offset(db.bindparam("offset")).limit(db.bindparam("limit")).subquery())
    page = (db.select(Contract.id, Contract.ref, Contract.title, Contract.client_name, Contract.client_company,
                      Contract.state, Contract.currency, Contract.last_activity_at, _live_total(),
                      db.null() if member else Member.name, _signed_current())
            .join(ids, ids.c.id == Contract.id))
    if not member:  # the owner's list names each contract's member
        page = page.join(Member, Member.id == Contract.member_id)
    return count, page.order_by(*newest)


def _list(state: str | None, page: int, per_page: int, member_id: int | None = None) -> Page:
    """A page of ``Row`` in three statements whatever its size: the count, the rows, and their money.

    A page in the older half is counted from the oldest end (the count is known): the database then walks
    past at most half the rows, and the last pages cost what the first do."""
    kind = state if state in (None, SIGNED, ContractState.SENT) else "state"
    params = {"member_id": member_id, "state": state}
    count = db.session.scalar(_list_statements(member_id is not None, kind, False)[0], params) or 0
    pages = max(1, -(-count // per_page))
    page = min(max(1, page), pages)
    offset, limit = (page - 1) * per_page, per_page
    oldest_first = offset > count // 2
    if oldest_first:  # the same rows: those after the page, counted from the oldest end, are skipped
        offset, limit = max(0, count - offset - per_page), min(per_page, count - offset)
    items, signed = [], set()
    for *values, total, name, is_signed in db.session.execute(
            _list_statements(member_id is not None, kind, oldest_first)[1], {**params, "offset": offset, "limit": limit}):
        items.append(Row(*values, total_minor=int(total), member_name=name))
        if is_signed:
            signed.add(items[-1].id)
    return Page(items=items, page=page, pages=pages, total=count, money=ledger.contract_money(items), signed=signed)


def money_totals(member: Member) -> list:
    """The member's money across all contracts, one ContractMoney per currency that was ever funded."""
    totals = ledger.member_money(member.id)
    return [totals[k] for k in sorted(totals) if totals[k].funded.minor]


def summary_of(contract: Contract, fee_bps: int | None = None) -> Summary:
    """Total, fee (paid by the freelancer) and net of the contract's live milestones.

    A draft shows the shop's current rate (it is snapshotted when sent); a
    sent contract keeps the rate it was sent with.
    """
    if fee_bps is None:
        draft = contract.state == ContractState.DRAFT
        fee_bps = ShopSettings.get().fee_bps if draft else contract.fee_bps
    return summarize([m.amount for m in contract.live_milestones], contract.currency, fee_bps)


def milestone_of(contract: Contract, milestone_id: int) -> Milestone:
    """The contract's milestone with this id; NotFound for any other id."""
    for m in contract.milestones:
        if m.id == milestone_id:
            return m
    raise NotFound("No such milestone.")
