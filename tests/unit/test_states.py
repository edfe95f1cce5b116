"""The transition tables, every state × action."""
import pytest

import itertools

from directcontracts.domain.states import (
    CONTRACT_ALLOWED, MILESTONE_ALLOWED, ContractAction, ContractFacts, ContractState, InvalidTransition,
    MilestoneAction, MilestoneFacts, MilestoneState, actions_for, check_milestone_edit, contract_transition,
    milestone_edit_refusal, milestone_transition, revision_refusal,
)

EXPECTED_CONTRACT = {
    ("draft", "edit"): "draft", ("draft", "send"): "sent", ("draft", "withdraw"): "withdrawn",
    ("sent", "revise"): "sent", ("sent", "send_revision"): "sent", ("sent", "request_changes"): "changes_requested",
    ("sent", "decline"): "declined", ("sent", "withdraw"): "withdrawn", ("sent", "activate"): "active",
    ("changes_requested", "revise"): "changes_requested", ("changes_requested", "send_revision"): "sent",
    ("changes_requested", "withdraw"): "withdrawn",
    ("active", "complete"): "completed", ("active", "end"): "ended",
    ("active", "change_milestones"): "active",
}

EXPECTED_MILESTONE = {
    ("pending", "fund"): "funded", ("pending", "cancel"): "cancelled",
    ("funded", "submit"): "submitted", ("funded", "refund"): "refunded", ("funded", "dispute"): "disputed",
    ("submitted", "request_changes"): "funded", ("submitted", "approve"): "released",
    ("submitted", "auto_release"): "released", ("submitted", "refund"): "refunded",
    ("submitted", "dispute"): "disputed",
    ("disputed", "resolve_release"): "released", ("disputed", "resolve_refund"): "refunded",
    ("disputed", "resolve_split"): "split",
    ("funded", "reverse"): "pending", ("submitted", "reverse"): "pending", ("disputed", "reverse"): "pending",
    ("funded", "charge_back"): "charged_back", ("submitted", "charge_back"): "charged_back",
    ("disputed", "charge_back"): "charged_back",
}


#: Every (state, action) pair of both tables, with the state it must lead to (None: refused).
EVERY_PAIR = [
    pytest.param(transition, state, action, expected.get((state.value, action.value)), id=f"{state}-{action}")
    for states, actions, expected, transition in (
        (ContractState, ContractAction, EXPECTED_CONTRACT, contract_transition),
        (MilestoneState, MilestoneAction, EXPECTED_MILESTONE, milestone_transition),
    )
    for state in states for action in actions
]


@pytest.mark.parametrize("transition, state, action, expected", EVERY_PAIR)
def test_transition_tables_exhaustively(transition, state, action, expected):
    if expected:
        assert transition(state, action) == expected
    else:
        with pytest.raises(InvalidTransition, match=r"^Cannot .+: .+\.$"):
            transition(state, action)


def test_tables_have_nothing_unexpected():
    assert {(s.value, a.value): n.value for (s, a), n in CONTRACT_ALLOWED.items()} == EXPECTED_CONTRACT
    assert {(s.value, a.value): n.value for (s, a), n in MILESTONE_ALLOWED.items()} == EXPECTED_MILESTONE


ROLES = ("freelancer", "client", "owner", "system")
FLAGS = (False, True)


def expected_contract_actions(state, role, paying, signed, fundable, draft_revision=False):
    """The buttons each party sees, written out by hand from the screens."""
    if role == "freelancer":
        table = {"draft": {"edit", "send", "withdraw"}, "sent": {"revise", "send_revision", "withdraw"},
                 "changes_requested": {"revise", "send_revision", "withdraw"},
                 "active": {"end", "change_milestones"}}
        actions = set(table.get(state, set()))
        if paying:
            actions -= {"revise", "send_revision", "withdraw", "end"}
        if signed and state == "sent":  # the client agreed to the revision they see: now it is funded, not revised
            actions -= {"revise", "send_revision"}
        return actions | ({"discard_revision"} if draft_revision else set())
    if role == "system":  # activated by a late payment, completed when every milestone is settled
        return {"sent": {"activate"}, "active": {"complete"}}.get(state, set()) - ({"activate"} if paying else set())
    if role == "client" and not paying:
        if state == "sent":
            return {"fund" if signed else "accept_and_fund", "request_changes", "decline"}
        if state == "active" and fundable:
            return {"fund_milestone"}
    return set()


@pytest.mark.parametrize("state", list(ContractState))
@pytest.mark.parametrize("role", ROLES)
def test_contract_actions_exhaustively(state, role):
    for paying, signed, fundable, draft in itertools.product(FLAGS, FLAGS, FLAGS, FLAGS):
        facts = ContractFacts(state=state, paying=paying, signed=signed, fundable=fundable, draft_revision=draft)
        assert actions_for(facts, role) == expected_contract_actions(state.value, role, paying, signed, fundable,
                                                                     draft and role == "freelancer"), facts


def expected_milestone_actions(state, contract_state, role, refunding, being_paid, frozen=False):
    if refunding or frozen:
        return set()
    table = {
        "client": {"pending": {"fund"}, "submitted": {"request_changes", "approve", "dispute"},
                   "funded": {"dispute"}},
        "freelancer": {"pending": {"cancel"}, "funded": {"submit", "refund", "dispute"},
                       "submitted": {"refund", "dispute"}},
        "owner": {"disputed": {"resolve_release", "resolve_refund", "resolve_split"}},
        "system": {"pending": {"cancel"}, "submitted": {"auto_release", "reverse", "charge_back"},
                   "funded": {"reverse", "charge_back"}, "disputed": {"reverse", "charge_back"}},
    }
    actions = set(table[role].get(state, set()))
    if role == "freelancer":
        if contract_state == "draft" or (contract_state == "active" and state == "pending" and not being_paid):
            actions |= {"edit", "remove"}
        if contract_state == "draft":
            actions.add("move")
    return actions


@pytest.mark.parametrize("state", list(MilestoneState))
@pytest.mark.parametrize("contract_state", list(ContractState))
@pytest.mark.parametrize("role", ROLES)
def test_milestone_actions_exhaustively(state, contract_state, role):
    for refunding, being_paid, frozen in itertools.product(FLAGS, FLAGS, FLAGS):
        facts = MilestoneFacts(state=state, contract_state=contract_state, refunding=refunding,
                               being_paid=being_paid, frozen=frozen)
        assert actions_for(facts, role) == expected_milestone_actions(
            state.value, contract_state.value, role, refunding, being_paid, frozen), facts


def test_milestone_edit_rule():
    assert milestone_edit_refusal("draft") is None
    assert milestone_edit_refusal("draft", "funded", being_paid=True) is None
    assert milestone_edit_refusal("active") is None
    assert milestone_edit_refusal("active", "pending") is None
    assert milestone_edit_refusal("active", "pending", being_paid=True) == \
        "Only milestones that are not funded (and not being paid) can be changed."
    assert milestone_edit_refusal("active", "funded") == \
        "Only milestones that are not funded (and not being paid) can be changed."
    assert milestone_edit_refusal("sent") == "Cannot edit: This contract has been sent and is waiting for the client."
    for state in ("changes_requested", "declined", "withdrawn", "completed", "ended"):
        with pytest.raises(InvalidTransition, match=r"^Cannot edit: "):
            check_milestone_edit(state, "pending")


def test_a_draft_revision_is_sent_only_over_an_open_proposal():
    assert revision_refusal("sent", signed=False) is None
    assert revision_refusal("changes_requested", signed=False) is None
    assert revision_refusal("changes_requested", signed=True) is None  # signed, then asked for changes
    assert revision_refusal("sent", signed=True) == ("This proposal can no longer be revised: the client signed it, "
                                                      "and it starts when they fund it.")
    assert revision_refusal("active", signed=True) == "This proposal can no longer be revised: the client has funded it."
    assert revision_refusal("declined", signed=False) == "This proposal can no longer be revised: the client declined it."
    assert revision_refusal("withdrawn", signed=False) == "This proposal can no longer be revised: it was withdrawn."
