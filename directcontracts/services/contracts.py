"""The freelancer's contract builder and the sent contract's life before funding.

Every public function is one use case: it loads what it needs, checks the
member may act and the state allows it (through the domain's state machine),
applies the change, commits once, and only then delivers queued email.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date

from sqlalchemy.exc import IntegrityError

from ..domain import rules
from ..domain.money import SUPPORTED_CURRENCIES, Money, MoneyError
from ..domain.rules import check_text
from ..domain.states import (
    SIGNED, ContractAction, ContractState, MilestoneAction, MilestoneState, contract_transition,
    milestone_transition,
)
from ..domain.terms import (
    Limits, MilestoneInput, Summary, check_amount, parse_amount, parse_milestone, summarize,
)
from ..extensions import db
from ..models import Acceptance, Contract, ContractRevision, Member, Milestone, ShopSettings, utcnow
from . import activity, ledger, mailer, tokens
from .accounts import find_member_by_email, normalise_email
from .errors import InvalidTransition, NotFound, ValidationFailed
from .lifecycle import maybe_complete
from .links import client_link, fresh_client_link
from .locks import lock_contract, lock_without_payment


# ---- loading and listing -------------------------------------------------

def get_for_member(contract_id: int, member: Member) -> Contract:
    """The member's own contract; NotFound for anyone else's (no hint it exists)."""
    contract = db.session.get(Contract, contract_id)
    if contract is None or contract.member_id != member.id:
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


def signed_ids(contracts: list[Contract]) -> set[int]:
    """Of these contracts, the ones whose client signed the current revision."""
    if not contracts:
        return set()
    return set(db.session.scalars(db.select(Contract.id).where(
        Contract.id.in_([c.id for c in contracts]), _signed_current())))


def list_for_member(member: Member, state: str | None, page: int, per_page: int) -> Page:
    """The member's contracts, newest activity first, optionally of one status (LIST_STATUSES)."""
    query = db.select(Contract).where(Contract.member_id == member.id)
    if state == SIGNED:
        query = query.where(Contract.state == ContractState.SENT, _signed_current())
    elif state == ContractState.SENT:
        query = query.where(Contract.state == ContractState.SENT, ~_signed_current())
    elif state:
        query = query.where(Contract.state == state)
    count = db.session.scalar(db.select(db.func.count()).select_from(query.subquery())) or 0
    pages = max(1, -(-count // per_page))
    page = min(max(1, page), pages)
    items = db.session.scalars(
        query.order_by(Contract.last_activity_at.desc(), Contract.id.desc())
        .offset((page - 1) * per_page).limit(per_page)
    ).all()
    return Page(items=list(items), page=page, pages=pages, total=count,
                money=ledger.contract_money(list(items)), signed=signed_ids(list(items)))


def money_totals(member: Member) -> list:
    """The member's money across all contracts, one ContractMoney per currency."""
    contracts = list(db.session.scalars(db.select(Contract).where(Contract.member_id == member.id,
                                                                  Contract.revision > 0)))
    per_contract = ledger.contract_money(contracts)
    totals: dict[str, ledger.ContractMoney] = {}
    for c in contracts:
        cm = per_contract[c.id]
        totals[c.currency] = totals[c.currency] + cm if c.currency in totals else cm
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


# ---- client details ------------------------------------------------------

def _client_errors(member: Member, name: str, email: str, company: str) -> tuple[dict, str]:
    errors: dict[str, str] = {}
    name, company = (name or "").strip(), (company or "").strip()
    if err := check_text(name, rules.CLIENT_NAME):
        errors["client_name"] = err
    if err := check_text(company, rules.CLIENT_COMPANY):
        errors["client_company"] = err
    try:
        email = normalise_email(email)
    except ValueError as exc:
        errors["client_email"] = str(exc)
    else:
        if email.lower() == member.email.lower():
            errors["client_email"] = "That is your own email. Enter your client's email."
        elif find_member_by_email(email):
            errors["client_email"] = (
                "That email belongs to a member of this shop. Direct contracts are "
                "for clients outside the shop."
            )
    return errors, email


def create_draft(member: Member, *, client_name: str, client_email: str,
                 client_company: str = "") -> Contract:
    """Step 1: a new draft with the client's details. Raises ValidationFailed."""
    errors, email = _client_errors(member, client_name, client_email, client_company)
    if errors:
        raise ValidationFailed(errors)
    settings = ShopSettings.get()
    for _ in range(5):
        contract = Contract(
            ref=tokens.new_ref(), member_id=member.id, client_name=client_name.strip(),
            client_email=email, client_company=(client_company or "").strip(),
            fee_bps=settings.fee_bps, currency="USD", kind="milestones",
            state=ContractState.DRAFT,
        )
        db.session.add(contract)
        try:
            db.session.flush()
        except IntegrityError:  # a reference collision: try another
            db.session.rollback()
            continue
        activity.record(contract, "created", "freelancer", "Draft created.")
        db.session.commit()
        return contract
    raise RuntimeError("could not allocate a contract reference")


def _require_editable(contract: Contract) -> None:
    contract_transition(contract.state, ContractAction.EDIT)


def milestones_editable(contract: Contract) -> bool:
    """A draft's milestones, or an active contract's unfunded ones, can be changed."""
    return contract.state in (ContractState.DRAFT, ContractState.ACTIVE)


def _require_milestone_edit(contract: Contract, milestone: Milestone | None = None) -> None:
    """Drafts: anything. Active contracts: add, or change/remove an unfunded milestone.

    On an active contract the rows are locked (contract, then milestone) and
    read afresh, so an edit waits for a client's payment being started and
    never changes a milestone under it.
    """
    if contract.state == ContractState.ACTIVE:
        lock_contract(contract.id, milestone.id if milestone is not None else None)
        if contract.state != ContractState.ACTIVE:
            raise InvalidTransition("This contract can no longer be changed.")
        if milestone is not None and (milestone.state != MilestoneState.PENDING or milestone.hold_attempt_id):
            raise InvalidTransition("Only milestones that are not funded (and not being paid) can be changed.")
        return
    _require_editable(contract)


def milestone_is_editable(contract: Contract, milestone: Milestone) -> bool:
    """Whether the editor offers Edit / Remove for this row."""
    if contract.state == ContractState.DRAFT:
        return True
    return (contract.state == ContractState.ACTIVE and milestone.state == MilestoneState.PENDING
            and not milestone.hold_attempt_id)


def _tell_client_about(contract: Contract, milestone: Milestone, what: str) -> None:
    """On an active contract, the client hears of every milestone added, changed or removed."""
    if contract.state != ContractState.ACTIVE:
        return
    milestone.revised_at = utcnow()
    activity.record(contract, f"milestone_{what}", "freelancer",
                    f"Milestone “{milestone.title}” ({milestone.amount.format()}) {what}.")
    mailer.queue(contract.client_email, f"Milestone {what}: {milestone.title} — {contract.title}",
                 "milestone_revised", contract=contract, milestone=milestone, what=what,
                 link=fresh_client_link(contract))


def update_client(contract: Contract, member: Member, *, client_name: str, client_email: str,
                  client_company: str = "") -> Contract:
    """Change the client's details of a draft. Raises ValidationFailed, InvalidTransition."""
    _require_editable(contract)
    errors, email = _client_errors(member, client_name, client_email, client_company)
    if errors:
        raise ValidationFailed(errors)
    contract.client_name = client_name.strip()
    contract.client_email = email
    contract.client_company = (client_company or "").strip()
    contract.last_activity_at = utcnow()
    db.session.commit()
    return contract


# ---- terms ---------------------------------------------------------------

def limits() -> Limits:
    return ShopSettings.get().limits()


def update_terms(contract: Contract, *, title: str, scope: str, currency: str, kind: str,
                 amount_text: str = "", due_text: str = "", today: date | None = None) -> Contract:
    """Save title, scope, currency and kind (and the single amount). Raises ValidationFailed.

    Amounts keep their value in major units when the currency changes; a
    change that would make one unrepresentable (12.50 in JPY) or out of
    limits is refused on the currency field, nothing lost.
    """
    _require_editable(contract)
    lim, today = limits(), today or date.today()
    title, scope = (title or "").strip(), (scope or "").strip()
    errors: dict[str, str] = {}
    if err := check_text(title, rules.TITLE):
        errors["title"] = err
    if err := check_text(scope, rules.SCOPE):
        errors["scope"] = err
    if currency not in SUPPORTED_CURRENCIES:
        errors["currency"] = "Choose one of the listed currencies."
    if kind not in ("single", "milestones"):
        errors["kind"] = "Choose a single amount or milestones."
    live = contract.live_milestones
    converted: dict[int, int] = {}
    if "currency" not in errors and currency != contract.currency:
        for number, m in enumerate(live, 1):
            try:
                new = Money.from_major(m.amount.as_decimal(), currency)
            except MoneyError:
                errors["currency"] = (f"Milestone {number} ({m.amount.format()}) has decimals "
                                      f"that {currency} does not allow. Change it first.")
                break
            if err := check_amount(new, lim):
                errors["currency"] = f"Milestone {number}: {err}"
                break
            converted[m.id] = new.minor
    single = None
    if kind == "single" and "currency" not in errors:
        if len(live) > 1:
            errors["kind"] = "Remove the extra milestones first: a single amount has one payment."
        else:
            single = parse_milestone(title=title or "Full amount", amount_text=amount_text,
                                     due_text=due_text, description="", currency=currency,
                                     today=today, limits=lim)
            for field in ("amount", "due_date"):
                if field in single.errors:
                    errors[field] = single.errors[field]
    if errors:
        raise ValidationFailed(errors)
    contract.title, contract.scope, contract.kind = title, scope, kind
    for m in live:
        if m.id in converted:
            m.amount_minor = converted[m.id]
    contract.currency = currency
    if single is not None:
        if live:
            milestone = live[0]
        else:
            milestone = Milestone(contract=contract, position=1, title=title, amount_minor=1)
            db.session.add(milestone)
        milestone.title = title
        milestone.amount_minor = single.amount.minor
        milestone.due_date = single.due_date
    contract.last_activity_at = utcnow()
    db.session.commit()
    return contract


def preview_summary(contract: Contract, amount_text: str) -> Summary | None:
    """Summary for a single amount being typed (not saved); None if it does not parse."""
    amount, _ = parse_amount(amount_text, contract.currency, limits())
    return summarize([amount], contract.currency, ShopSettings.get().fee_bps) if amount else None


# ---- milestones (the htmx editor) ----------------------------------------

def milestone_of(contract: Contract, milestone_id: int) -> Milestone:
    """The contract's milestone with this id; NotFound for any other id."""
    for m in contract.milestones:
        if m.id == milestone_id:
            return m
    raise NotFound("No such milestone.")


def _parse(contract: Contract, form: dict, today: date | None) -> MilestoneInput:
    return parse_milestone(
        title=form.get("title", ""), amount_text=form.get("amount", ""),
        due_text=form.get("due_date", ""), description=form.get("description", ""),
        currency=contract.currency, today=today or date.today(), limits=limits(),
    )


def add_milestone(contract: Contract, form: dict, today: date | None = None) -> Milestone:
    """Append a milestone (to a draft, or an active contract: the client is emailed).

    Raises ValidationFailed (the view keeps the typed values), InvalidTransition.
    """
    _require_milestone_edit(contract)
    lim = limits()
    if len(contract.live_milestones) >= lim.max_milestones:
        raise ValidationFailed({"title": f"A contract can have at most {lim.max_milestones} milestones."})
    parsed = _parse(contract, form, today)
    if parsed.errors:
        raise ValidationFailed(parsed.errors)
    position = max((m.position for m in contract.milestones), default=0) + 1
    milestone = Milestone(contract=contract, position=position, title=parsed.title,
                          amount_minor=parsed.amount.minor, due_date=parsed.due_date,
                          description=parsed.description)
    db.session.add(milestone)
    contract.kind = "milestones"
    contract.last_activity_at = utcnow()
    db.session.flush()
    _tell_client_about(contract, milestone, "added")
    db.session.commit()
    mailer.deliver_pending()
    return milestone


def update_milestone(contract: Contract, milestone_id: int, form: dict,
                     today: date | None = None) -> Milestone:
    """Edit a milestone in place. Raises ValidationFailed, NotFound, InvalidTransition."""
    milestone = milestone_of(contract, milestone_id)
    _require_milestone_edit(contract, milestone)
    parsed = _parse(contract, form, today)
    if parsed.errors:
        raise ValidationFailed(parsed.errors)
    milestone.title, milestone.amount_minor = parsed.title, parsed.amount.minor
    milestone.due_date, milestone.description = parsed.due_date, parsed.description
    contract.last_activity_at = utcnow()
    _tell_client_about(contract, milestone, "changed")
    db.session.commit()
    mailer.deliver_pending()
    return milestone


def remove_milestone(contract: Contract, milestone_id: int) -> None:
    """Delete a draft's milestone, or cancel an active contract's unfunded one (the client is told)."""
    milestone = milestone_of(contract, milestone_id)
    _require_milestone_edit(contract, milestone)
    if contract.state == ContractState.ACTIVE:
        milestone.state = milestone_transition(milestone.state, MilestoneAction.CANCEL)
        _tell_client_about(contract, milestone, "removed")
        maybe_complete(contract)
        db.session.commit()
        mailer.deliver_pending()
        return
    contract.milestones.remove(milestone)
    for position, m in enumerate(contract.milestones, 1):
        m.position = position
    contract.last_activity_at = utcnow()
    db.session.commit()


def move_milestone(contract: Contract, milestone_id: int, direction: str) -> None:
    """Swap a milestone with its neighbour ("up" or "down"); a no-op at either end."""
    _require_editable(contract)
    milestone = milestone_of(contract, milestone_id)
    ordered = list(contract.milestones)
    index = ordered.index(milestone)
    other = index - 1 if direction == "up" else index + 1
    if direction not in ("up", "down") or not 0 <= other < len(ordered):
        return
    ordered[index].position, ordered[other].position = ordered[other].position, ordered[index].position
    contract.last_activity_at = utcnow()
    db.session.commit()
    db.session.refresh(contract, ["milestones"])


# ---- sending, revising, withdrawing -------------------------------------

def readiness(contract: Contract, today: date | None = None) -> list[str]:
    """What still stops the contract from being sent (empty when ready)."""
    problems = []
    if not contract.title:
        problems.append("Give the contract a title (Terms).")
    if not contract.live_milestones:
        problems.append("Add an amount or at least one milestone (Terms).")
    today = today or date.today()
    for number, m in enumerate(contract.live_milestones, 1):
        if m.due_date and m.due_date < today:
            problems.append(f"Milestone {number}'s due date has passed; change it.")
    return problems


def _snapshot(contract: Contract) -> str:
    return json.dumps({
        "title": contract.title, "scope": contract.scope, "currency": contract.currency,
        "kind": contract.kind, "client": [contract.client_name, contract.client_email,
                                          contract.client_company],
        "fee_bps": contract.fee_bps,
        "milestones": [
            {"id": m.id, "title": m.title, "amount_minor": m.amount_minor,
             "due_date": m.due_date.isoformat() if m.due_date else None,
             "description": m.description}
            for m in contract.live_milestones
        ],
    }, sort_keys=True)


def send(contract: Contract, member: Member, today: date | None = None) -> Contract:
    """Send (or re-send after a revision): snapshot, link token, email. Commits once.

    The fee rate is snapshotted from the shop settings now, so the freelancer
    is bound to the rate shown on the review page.
    """
    new_state = contract_transition(contract.state, ContractAction.SEND)
    problems = readiness(contract, today)
    if problems:
        raise InvalidTransition(" ".join(problems))
    first = contract.revision == 0
    contract.fee_bps = ShopSettings.get().fee_bps
    contract.state = new_state
    contract.revision += 1
    contract.sent_at = utcnow()
    db.session.add(ContractRevision(contract_id=contract.id, number=contract.revision,
                                    snapshot=_snapshot(contract)))
    raw = tokens.issue_token(contract)
    subject = (f"{member.name} sent you a contract: {contract.title}" if first
               else f"{member.name} revised the contract: {contract.title}")
    mailer.queue(contract.client_email, subject, "proposal", contract=contract,
                 member=member, link=client_link(raw), revised=not first,
                 summary=summary_of(contract))
    activity.record(contract, "sent" if first else "revised", "freelancer",
                    f"Sent to {contract.client_email}." if first
                    else f"Revision {contract.revision} sent to {contract.client_email}.")
    db.session.commit()
    mailer.deliver_pending()
    return contract


_CLIENT_PAYING = "The client is paying right now. Wait until the payment is confirmed."


def revise(contract: Contract, member: Member) -> Contract:
    """Reopen a sent contract for editing; the client's link says it is being revised."""
    contract = lock_without_payment(contract.id, _CLIENT_PAYING)
    contract.state = contract_transition(contract.state, ContractAction.REVISE)
    activity.record(contract, "revising", "freelancer", "Reopened for revision.")
    db.session.commit()
    return contract


def withdraw(contract: Contract, member: Member) -> Contract:
    """Withdraw a draft or unfunded sent contract; the client is told if it was sent."""
    contract = lock_without_payment(contract.id, _CLIENT_PAYING)
    contract.state = contract_transition(contract.state, ContractAction.WITHDRAW)
    if contract.revision > 0:
        mailer.queue(contract.client_email, f"Contract withdrawn: {contract.title}",
                     "withdrawn", contract=contract, member=member)
    activity.record(contract, "withdrawn", "freelancer", "Withdrawn.")
    db.session.commit()
    mailer.deliver_pending()
    return contract
