"""Contract and milestone state machines: every transition lives here.

``ALLOWED[(state, action)] -> new state``. Anything not in the table is
refused with :class:`InvalidTransition`, whose message is fit to show a user.
Who may take an action is a separate table (``*_ACTION_ROLES``); with the
facts beyond the state (a payment or refund being confirmed, a signature),
:func:`actions_for` says which buttons a party sees, so templates test
membership instead of comparing states.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class InvalidTransition(Exception):
    """The action is not possible in the current state; the message says why."""


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
    REVISE = "revise"          # start a draft revision of a sent proposal; the client keeps the sent one
    SEND_REVISION = "send_revision"  # the draft revision replaces the sent one: a new revision for the client
    REQUEST_CHANGES = "request_changes"
    DECLINE = "decline"
    WITHDRAW = "withdraw"
    ACTIVATE = "activate"      # the first funding
    COMPLETE = "complete"      # every milestone settled
    END = "end"                # freelancer ends early
    CHANGE_MILESTONES = "change_milestones"  # add, or change unfunded milestones, while active


class MilestoneState(StrEnum):
    PENDING = "pending"
    FUNDED = "funded"
    SUBMITTED = "submitted"
    RELEASED = "released"
    REFUNDED = "refunded"
    DISPUTED = "disputed"
    SPLIT = "split"
    CANCELLED = "cancelled"
    CHARGED_BACK = "charged_back"  # the client's bank took the escrowed money back (a lost chargeback)


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
    REVERSE = "reverse"                    # system: the payment's settlement was declined, unfunded again
    CHARGE_BACK = "charge_back"            # system: a chargeback was lost while the money was in escrow


C, CA = ContractState, ContractAction
CONTRACT_ALLOWED: dict[tuple[ContractState, ContractAction], ContractState] = {
    (C.DRAFT, CA.EDIT): C.DRAFT,
    (C.DRAFT, CA.SEND): C.SENT,
    (C.DRAFT, CA.WITHDRAW): C.WITHDRAWN,
    (C.SENT, CA.REVISE): C.SENT,
    (C.SENT, CA.SEND_REVISION): C.SENT,
    (C.SENT, CA.REQUEST_CHANGES): C.CHANGES_REQUESTED,
    (C.SENT, CA.DECLINE): C.DECLINED,
    (C.SENT, CA.WITHDRAW): C.WITHDRAWN,
    (C.SENT, CA.ACTIVATE): C.ACTIVE,
    (C.CHANGES_REQUESTED, CA.REVISE): C.CHANGES_REQUESTED,
    (C.CHANGES_REQUESTED, CA.SEND_REVISION): C.SENT,
    (C.CHANGES_REQUESTED, CA.WITHDRAW): C.WITHDRAWN,
    (C.ACTIVE, CA.COMPLETE): C.COMPLETED,
    (C.ACTIVE, CA.END): C.ENDED,
    (C.ACTIVE, CA.CHANGE_MILESTONES): C.ACTIVE,
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
    (M.FUNDED, MA.REVERSE): M.PENDING,
    (M.SUBMITTED, MA.REVERSE): M.PENDING,
    (M.DISPUTED, MA.REVERSE): M.PENDING,
    (M.FUNDED, MA.CHARGE_BACK): M.CHARGED_BACK,
    (M.SUBMITTED, MA.CHARGE_BACK): M.CHARGED_BACK,
    (M.DISPUTED, MA.CHARGE_BACK): M.CHARGED_BACK,
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
    MA.REVERSE: frozenset({"system"}),
    MA.CHARGE_BACK: frozenset({"system"}),
}

CONTRACT_ACTION_ROLES: dict[ContractAction, frozenset[str]] = {
    CA.EDIT: frozenset({"freelancer"}),
    CA.SEND: frozenset({"freelancer"}),
    CA.REVISE: frozenset({"freelancer"}),
    CA.SEND_REVISION: frozenset({"freelancer"}),
    CA.REQUEST_CHANGES: frozenset({"client"}),
    CA.DECLINE: frozenset({"client"}),
    CA.WITHDRAW: frozenset({"freelancer"}),
    CA.ACTIVATE: frozenset({"client", "system"}),
    CA.COMPLETE: frozenset({"system"}),
    CA.END: frozenset({"freelancer"}),
    CA.CHANGE_MILESTONES: frozenset({"freelancer"}),
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
    M.CHARGED_BACK: "The client's bank took this milestone's money back (a chargeback).",
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


def milestone_edit_refusal(contract_state: ContractState | str, milestone_state: MilestoneState | str | None = None,
                           being_paid: bool = False) -> str | None:
    """Why milestones (or this one) cannot be added, changed or removed now; None if they can.

    Drafts: anything. Active contracts: add, or change or remove a milestone that
    is not funded and has no payment being confirmed. Nothing else.
    """
    contract_state = ContractState(contract_state)
    if (contract_state, CA.CHANGE_MILESTONES) in CONTRACT_ALLOWED:
        if milestone_state is not None and (MilestoneState(milestone_state) != M.PENDING or being_paid):
            return "Only milestones that are not funded (and not being paid) can be changed."
        return None
    if (contract_state, CA.EDIT) in CONTRACT_ALLOWED:
        return None
    return f"Cannot edit: {_CONTRACT_REFUSALS[contract_state]}"


def check_milestone_edit(contract_state: ContractState | str, milestone_state: MilestoneState | str | None = None,
                         being_paid: bool = False) -> None:
    """Raise InvalidTransition unless :func:`milestone_edit_refusal` allows the edit."""
    refusal = milestone_edit_refusal(contract_state, milestone_state, being_paid)
    if refusal:
        raise InvalidTransition(refusal)


@dataclass(frozen=True)
class ContractFacts:
    """What decides a contract's buttons: its state and what is under way."""
    state: ContractState
    paying: bool = False     # a client's payment is being confirmed
    signed: bool = False     # the client signed the current revision (sent, not funded yet)
    fundable: bool = False   # some milestone can be funded now
    sent: bool = False       # it was sent to the client at least once (the client has a link)
    draft_revision: bool = False  # the freelancer has a draft revision of it (not sent)


@dataclass(frozen=True)
class MilestoneFacts:
    """What decides a milestone's buttons: its state, its contract's, and what is under way."""
    state: MilestoneState
    contract_state: ContractState
    refunding: bool = False  # a refund of it is being confirmed
    being_paid: bool = False  # a client's payment for it is being confirmed
    frozen: bool = False     # the client's bank is reviewing a chargeback of the payment that funded it


#: Contract actions a payment being confirmed holds back.
_WAIT_FOR_PAYMENT = frozenset({CA.REVISE, CA.SEND_REVISION, CA.WITHDRAW, CA.END, CA.DECLINE, CA.REQUEST_CHANGES,
                               CA.ACTIVATE})
#: A signature on the revision the client sees: it is no longer an open proposal to revise.
_SIGNED_HOLDS = frozenset({CA.REVISE, CA.SEND_REVISION})


def _table_actions(table: dict, roles: dict, state, role: str) -> list:
    return [a for (s, a) in table if s == state and role in roles[a]]


def actions_for(facts: ContractFacts | MilestoneFacts, role: str) -> frozenset[str]:
    """The buttons ``role`` sees now: the transition and role tables, narrowed by the facts.

    Contract, freelancer: edit, send, withdraw, revise and send_revision (not once the client signed the
    revision they see), end, change_milestones, send_link (a new client link) once sent and unless
    withdrawn, and discard_revision while a draft revision exists (whatever happened to the contract since).
    Contract, client: request_changes, decline, and one way to pay: accept_and_fund
    (sent, not signed), fund (sent, signed) or fund_milestone (active, something fundable).
    Milestone: the table's actions (none while a refund is being confirmed or a chargeback freezes it); for the
    freelancer also edit and remove (:func:`milestone_edit_refusal`) and move (drafts).
    """
    if isinstance(facts, MilestoneFacts):
        return _milestone_actions(facts, role)
    state = ContractState(facts.state)
    actions = set(_table_actions(CONTRACT_ALLOWED, CONTRACT_ACTION_ROLES, state, role))
    if facts.paying:
        actions -= _WAIT_FOR_PAYMENT
    if facts.signed and state == C.SENT:
        actions -= _SIGNED_HOLDS
    if role == "client" and CA.ACTIVATE in actions:  # the client activates by paying
        actions.remove(CA.ACTIVATE)
        actions.add("fund" if facts.signed else "accept_and_fund")
    if role == "client" and state == C.ACTIVE and facts.fundable and not facts.paying:
        actions.add("fund_milestone")
    if role == "freelancer" and can_send_link(state, facts.sent):
        actions.add("send_link")
    if role == "freelancer" and facts.draft_revision:
        actions.add("discard_revision")
    return frozenset(str(a) for a in actions)


def revision_refusal(state: ContractState | str, signed: bool) -> str | None:
    """Why a draft revision cannot replace the sent proposal now (None: it can be sent).

    Only a proposal still waiting for the client's answer can be revised: sent and not signed, or
    with changes asked for (even after signing). Once the client signed or funded it, declined it,
    or it was withdrawn, its draft revision can only be discarded. (A payment being confirmed makes
    it wait: services.locks.lock_without_payment refuses then.)
    """
    state = ContractState(state)
    if (state, CA.SEND_REVISION) not in CONTRACT_ALLOWED:
        reason = {C.ACTIVE: "the client has funded it", C.COMPLETED: "it is completed", C.ENDED: "it was ended",
                  C.DECLINED: "the client declined it", C.WITHDRAWN: "it was withdrawn"}.get(state, f"it is {state}")
        return f"This proposal can no longer be revised: {reason}."
    if signed and state == C.SENT:  # a client who signed and then asked for changes wants a revision
        return "This proposal can no longer be revised: the client signed it, and it starts when they fund it."
    return None


def can_send_link(state: ContractState, sent: bool) -> bool:
    """A new client link (revoking the older ones) for a contract the client has seen, unless withdrawn."""
    return sent and state != C.WITHDRAWN


def _milestone_actions(facts: MilestoneFacts, role: str) -> frozenset[str]:
    if facts.refunding or facts.frozen:
        return frozenset()
    actions = {str(a) for a in _table_actions(MILESTONE_ALLOWED, MILESTONE_ACTION_ROLES,
                                               MilestoneState(facts.state), role)}
    if role == "freelancer":
        if milestone_edit_refusal(facts.contract_state, facts.state, facts.being_paid) is None:
            actions |= {"edit", "remove"}
        if (ContractState(facts.contract_state), CA.EDIT) in CONTRACT_ALLOWED:
            actions.add("move")
    return frozenset(actions)


#: Milestones in these states hold money in escrow.
ESCROW_STATES = frozenset({M.FUNDED, M.SUBMITTED, M.DISPUTED})
#: Milestones in these states are settled: nothing more can happen to them.
SETTLED_STATES = frozenset({M.RELEASED, M.REFUNDED, M.SPLIT, M.CANCELLED, M.CHARGED_BACK})

#: Shown, never stored: a sent proposal whose current revision the client has signed, funding next.
SIGNED = "signed"
#: The statuses a contract list can be filtered by, in the order a contract moves through them.
#: States a contract never leaves: its client links expire some days after it got there.
FINISHED = frozenset({C.COMPLETED, C.ENDED, C.DECLINED, C.WITHDRAWN})

LIST_STATUSES = (C.DRAFT.value, C.SENT.value, SIGNED, C.CHANGES_REQUESTED.value, C.DECLINED.value,
                 C.WITHDRAWN.value, C.ACTIVE.value, C.COMPLETED.value, C.ENDED.value)


def display_state(state: ContractState | str, signed: bool) -> str:
    """The status both parties read: "signed" for a sent proposal signed but not funded yet."""
    return SIGNED if state == C.SENT and signed else str(state)
