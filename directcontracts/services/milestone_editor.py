"""The milestone editor (htmx rows on the builder's terms step and the active contract's page).

A draft's milestones change freely. An active contract's unfunded ones can be
added, changed or removed too; the client is emailed each time. Every public
function commits once, then delivers queued email.
"""
from __future__ import annotations

from datetime import date

from ..domain.states import (
    ContractAction, ContractState, MilestoneAction, check_milestone_edit, contract_transition, milestone_transition,
)
from ..domain.terms import MilestoneInput, parse_milestone
from ..extensions import db
from ..models import Contract, Milestone, utcnow
from . import activity, mailer
from .contract_queries import milestone_of
from .drafts import limits, typing_locale
from .errors import ValidationFailed
from .lifecycle import maybe_complete
from .links import fresh_client_link
from .locks import lock_contract


def _require_milestone_edit(contract: Contract, milestone: Milestone | None = None) -> None:
    """The domain's one rule for milestone edits (``check_milestone_edit``), checked on fresh rows.

    On an active contract the rows are locked (contract, then milestone) and
    read afresh first, so an edit waits for a client's payment being started
    and never changes a milestone under it.
    """
    if contract.state == ContractState.ACTIVE:
        lock_contract(contract.id, milestone.id if milestone is not None else None)
    check_milestone_edit(contract.state, milestone.state if milestone is not None else None,
                         bool(milestone is not None and milestone.hold_attempt_id))


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


def _parse(contract: Contract, form: dict, today: date | None) -> MilestoneInput:
    return parse_milestone(
        title=form.get("title", ""), amount_text=form.get("amount", ""),
        due_text=form.get("due_date", ""), description=form.get("description", ""),
        currency=contract.currency, today=today or date.today(), limits=limits(),
        locale=typing_locale(contract),
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
    contract_transition(contract.state, ContractAction.EDIT)
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
