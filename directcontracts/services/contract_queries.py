"""Reading a member's contracts: one contract, the list page, money totals, summaries.

Nothing here writes; every builder, proposal and milestone use case loads
through these, so "whose contract is it" is answered once.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import joinedload, selectinload

from ..domain.states import SIGNED, ContractState
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


@dataclass
class Page:
    items: list[Contract]
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
    # their own list needs no member rows: the contracts' member is the one already loaded (identity map)
    return _list(db.select(Contract).where(Contract.member_id == member.id), state, page, per_page, members=False)


def list_for_shop(state: str | None, page: int, per_page: int) -> Page:
    """Every member's contracts (the owner's read-only view), newest activity first, as ``list_for_member``."""
    return _list(db.select(Contract), state, page, per_page, members=True)


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


def _list(query, state: str | None, page: int, per_page: int, members: bool) -> Page:
    query = query.where(Contract.draft_of_id.is_(None))  # a draft revision is part of its contract
    if state == SIGNED:
        query = query.where(Contract.state == ContractState.SENT, _signed_current())
    elif state == ContractState.SENT:
        query = query.where(Contract.state == ContractState.SENT, ~_signed_current())
    elif state:
        query = query.where(Contract.state == state)
    count = db.session.scalar(db.select(db.func.count()).select_from(query.subquery())) or 0
    pages = max(1, -(-count // per_page))
    page = min(max(1, page), pages)
    # The rows' totals read their milestones, and the owner's list their members: loaded with the page.
    options = [selectinload(Contract.milestones)] + ([selectinload(Contract.member)] if members else [])
    items = db.session.scalars(
        query.options(*options)
        .order_by(Contract.last_activity_at.desc(), Contract.id.desc())
        .offset((page - 1) * per_page).limit(per_page)
    ).all()
    return Page(items=list(items), page=page, pages=pages, total=count,
                money=ledger.contract_money(list(items)), signed=signed_ids(list(items)))


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
