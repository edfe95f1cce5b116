"""Contract and milestone state machines: every transition lives here.

``ALLOWED[(state, action)] -> new state``. Anything not in the table is
refused with :class:`InvalidTransition`, whose message is fit to show a user.
Who may take an action is a separate table (``ACTION_ROLES``) so the web layer
asks the domain which buttons to show (``allowed_actions``) instead of
guessing with ``if`` chains in templates.
"""
from __future__ import annotations

from enum import StrEnum


class InvalidTransition(Exception):
    """The action is not possible in the current state; the message says why."""


class NotPermitted(Exception):
    """This party may not take this action."""


class ContractState(StrEnum):
    DRAFT = "draft"
    SENT = "sent"
    CHANGES_REQUESTED = "changes_requested"
    DECLINED = "declined"
    WITHDRAWN = "withdrawn"
    ACTIVE = "active"
    COMPLETED = "completed"
    ENDED = "ended"


class ContractAction(StrEnum):
    EDIT = "edit"              # change terms while still a draft
    SEND = "send"              # draft -> sent (first time or a revision)
    REVISE = "revise"          # reopen a sent proposal for editing; the client link says so
    REQUEST_CHANGES = "request_changes"
    DECLINE = "decline"
    WITHDRAW = "withdraw"
    ACTIVATE = "activate"      # the first funding
    COMPLETE = "complete"      # every milestone settled
    END = "end"                # freelancer ends early


class MilestoneState(StrEnum):
    PENDING = "pending"
    FUNDED = "funded"
    SUBMITTED = "submitted"
    RELEASED = "released"
    REFUNDED = "refunded"
    DISPUTED = "disputed"
    SPLIT = "split"
    CANCELLED = "cancelled"


class MilestoneAction(StrEnum):
    FUND = "fund"
    SUBMIT = "submit"                      # freelancer requests payment
    REQUEST_CHANGES = "request_changes"    # client, on a submitted milestone
    APPROVE = "approve"                    # client releases
    AUTO_RELEASE = "auto_release"          # system, after N days
    REFUND = "refund"                      # freelancer gives the money back
    DISPUTE = "dispute"
    RESOLVE_RELEASE = "resolve_release"
    RESOLVE_REFUND = "resolve_refund"
    RESOLVE_SPLIT = "resolve_split"
    CANCEL = "cancel"


C, CA = ContractState, ContractAction
CONTRACT_ALLOWED: dict[tuple[ContractState, ContractAction], ContractState] = {
    (C.DRAFT, CA.EDIT): C.DRAFT,
    (C.DRAFT, CA.SEND): C.SENT,
    (C.DRAFT, CA.WITHDRAW): C.WITHDRAWN,
    (C.SENT, CA.REVISE): C.DRAFT,
    (C.SENT, CA.REQUEST_CHANGES): C.CHANGES_REQUESTED,
    (C.SENT, CA.DECLINE): C.DECLINED,
    (C.SENT, CA.WITHDRAW): C.WITHDRAWN,
    (C.SENT, CA.ACTIVATE): C.ACTIVE,
    (C.CHANGES_REQUESTED, CA.REVISE): C.DRAFT,
    (C.CHANGES_REQUESTED, CA.WITHDRAW): C.WITHDRAWN,
    (C.ACTIVE, CA.COMPLETE): C.COMPLETED,
    (C.ACTIVE, CA.END): C.ENDED,
}

M, MA = MilestoneState, MilestoneAction
MILESTONE_ALLOWED: dict[tuple[MilestoneState, MilestoneAction], MilestoneState] = {
    (M.PENDING, MA.FUND): M.FUNDED,
    (M.PENDING, MA.CANCEL): M.CANCELLED,
    (M.FUNDED, MA.SUBMIT): M.SUBMITTED,
    (M.FUNDED, MA.REFUND): M.REFUNDED,
    (M.FUNDED, MA.DISPUTE): M.DISPUTED,
    (M.SUBMITTED, MA.REQUEST_CHANGES): M.FUNDED,
    (M.SUBMITTED, MA.APPROVE): M.RELEASED,
    (M.SUBMITTED, MA.AUTO_RELEASE): M.RELEASED,
    (M.SUBMITTED, MA.REFUND): M.REFUNDED,
    (M.SUBMITTED, MA.DISPUTE): M.DISPUTED,
    (M.DISPUTED, MA.RESOLVE_RELEASE): M.RELEASED,
    (M.DISPUTED, MA.RESOLVE_REFUND): M.REFUNDED,
    (M.DISPUTED, MA.RESOLVE_SPLIT): M.SPLIT,
}

#: Who may take each milestone action: "freelancer", "client", "owner", "system".
MILESTONE_ACTION_ROLES: dict[MilestoneAction, frozenset[str]] = {
    MA.FUND: frozenset({"client"}),
    MA.CANCEL: frozenset({"freelancer", "system"}),
    MA.SUBMIT: frozenset({"freelancer"}),
    MA.REQUEST_CHANGES: frozenset({"client"}),
    MA.APPROVE: frozenset({"client"}),
    MA.AUTO_RELEASE: frozenset({"system"}),
    MA.REFUND: frozenset({"freelancer"}),
    MA.DISPUTE: frozenset({"freelancer", "client"}),
    MA.RESOLVE_RELEASE: frozenset({"owner"}),
    MA.RESOLVE_REFUND: frozenset({"owner"}),
    MA.RESOLVE_SPLIT: frozenset({"owner"}),
}

CONTRACT_ACTION_ROLES: dict[ContractAction, frozenset[str]] = {
    CA.EDIT: frozenset({"freelancer"}),
    CA.SEND: frozenset({"freelancer"}),
    CA.REVISE: frozenset({"freelancer"}),
    CA.REQUEST_CHANGES: frozenset({"client"}),
    CA.DECLINE: frozenset({"client"}),
    CA.WITHDRAW: frozenset({"freelancer"}),
    CA.ACTIVATE: frozenset({"client", "system"}),
    CA.COMPLETE: frozenset({"system"}),
    CA.END: frozenset({"freelancer"}),
}

_CONTRACT_REFUSALS = {
    C.DRAFT: "This contract has not been sent yet.",
    C.SENT: "This contract has been sent and is waiting for the client.",
    C.CHANGES_REQUESTED: "The client asked for changes; revise the contract first.",
    C.DECLINED: "The client declined this contract.",
    C.WITHDRAWN: "This contract was withdrawn.",
    C.ACTIVE: "This contract is active: the client has funded it.",
    C.COMPLETED: "This contract is completed.",
    C.ENDED: "This contract was ended.",
}

_MILESTONE_REFUSALS = {
    M.PENDING: "This milestone is not funded yet.",
    M.FUNDED: "This milestone is funded and work is under way.",
    M.SUBMITTED: "Payment has already been requested for this milestone.",
    M.RELEASED: "This milestone has already been paid.",
    M.REFUNDED: "This milestone was refunded.",
    M.DISPUTED: "This milestone is in dispute: its funds are frozen.",
    M.SPLIT: "This milestone's dispute was settled with a split.",
    M.CANCELLED: "This milestone was cancelled.",
}


def contract_transition(state: ContractState | str, action: ContractAction | str) -> ContractState:
    """The state after ``action``; raises InvalidTransition with a plain reason."""
    state, action = ContractState(state), ContractAction(action)
    try:
        return CONTRACT_ALLOWED[(state, action)]
    except KeyError:
        raise InvalidTransition(
            f"Cannot {action.value.replace('_', ' ')}: {_CONTRACT_REFUSALS[state]}"
        ) from None


def milestone_transition(state: MilestoneState | str, action: MilestoneAction | str) -> MilestoneState:
    """The state after ``action``; raises InvalidTransition with a plain reason."""
    state, action = MilestoneState(state), MilestoneAction(action)
    try:
        return MILESTONE_ALLOWED[(state, action)]
    except KeyError:
        raise InvalidTransition(
            f"Cannot {action.value.replace('_', ' ')}: {_MILESTONE_REFUSALS[state]}"
        ) from None


def check_role(roles: dict, action, role: str) -> None:
    """Raise NotPermitted unless ``role`` may take ``action``."""
    if role not in roles[action]:
        raise NotPermitted(f"A {role} cannot {action.value.replace('_', ' ')}.")


def allowed_milestone_actions(state: MilestoneState | str, role: str) -> list[MilestoneAction]:
    """Milestone actions ``role`` may take now, in table order."""
    state = MilestoneState(state)
    return [a for (s, a) in MILESTONE_ALLOWED if s == state and role in MILESTONE_ACTION_ROLES[a]]


def allowed_contract_actions(state: ContractState | str, role: str) -> list[ContractAction]:
    """Contract actions ``role`` may take now, in table order."""
    state = ContractState(state)
    return [a for (s, a) in CONTRACT_ALLOWED if s == state and role in CONTRACT_ACTION_ROLES[a]]


#: Milestones in these states hold money in escrow.
ESCROW_STATES = frozenset({M.FUNDED, M.SUBMITTED, M.DISPUTED})
#: Milestones in these states are settled: nothing more can happen to them.
SETTLED_STATES = frozenset({M.RELEASED, M.REFUNDED, M.SPLIT, M.CANCELLED})

#: Shown, never stored: a sent proposal whose current revision the client has signed, funding next.
SIGNED = "signed"
#: The statuses a contract list can be filtered by, in the order a contract moves through them.
LIST_STATUSES = (C.DRAFT.value, C.SENT.value, SIGNED, C.CHANGES_REQUESTED.value, C.DECLINED.value,
                 C.WITHDRAWN.value, C.ACTIVE.value, C.COMPLETED.value, C.ENDED.value)


def display_state(state: ContractState | str, signed: bool) -> str:
    """The status both parties read: "signed" for a sent proposal signed but not funded yet."""
    return SIGNED if state == C.SENT and signed else str(state)
