"""The transition tables, every state × action."""
import pytest

from directcontracts.domain.states import (
    CONTRACT_ALLOWED, MILESTONE_ALLOWED, ContractAction, ContractState, InvalidTransition,
    MilestoneAction, MilestoneState, NotPermitted, allowed_contract_actions,
    allowed_milestone_actions, check_role, contract_transition, milestone_transition,
    MILESTONE_ACTION_ROLES,
)

EXPECTED_CONTRACT = {
    ("draft", "edit"): "draft", ("draft", "send"): "sent", ("draft", "withdraw"): "withdrawn",
    ("sent", "revise"): "draft", ("sent", "request_changes"): "changes_requested",
    ("sent", "decline"): "declined", ("sent", "withdraw"): "withdrawn", ("sent", "activate"): "active",
    ("changes_requested", "revise"): "draft", ("changes_requested", "withdraw"): "withdrawn",
    ("active", "complete"): "completed", ("active", "end"): "ended",
}

EXPECTED_MILESTONE = {
    ("pending", "fund"): "funded", ("pending", "cancel"): "cancelled",
    ("funded", "submit"): "submitted", ("funded", "refund"): "refunded", ("funded", "dispute"): "disputed",
    ("submitted", "request_changes"): "funded", ("submitted", "approve"): "released",
    ("submitted", "auto_release"): "released", ("submitted", "refund"): "refunded",
    ("submitted", "dispute"): "disputed",
    ("disputed", "resolve_release"): "released", ("disputed", "resolve_refund"): "refunded",
    ("disputed", "resolve_split"): "split",
}


@pytest.mark.parametrize("state", list(ContractState))
@pytest.mark.parametrize("action", list(ContractAction))
def test_contract_table_exhaustively(state, action):
    expected = EXPECTED_CONTRACT.get((state.value, action.value))
    if expected:
        assert contract_transition(state, action) == expected
    else:
        with pytest.raises(InvalidTransition, match=r"^Cannot .+: .+\.$"):
            contract_transition(state, action)


@pytest.mark.parametrize("state", list(MilestoneState))
@pytest.mark.parametrize("action", list(MilestoneAction))
def test_milestone_table_exhaustively(state, action):
    expected = EXPECTED_MILESTONE.get((state.value, action.value))
    if expected:
        assert milestone_transition(state, action) == expected
    else:
        with pytest.raises(InvalidTransition, match=r"^Cannot .+: .+\.$"):
            milestone_transition(state, action)


def test_tables_have_nothing_unexpected():
    assert {(s.value, a.value): n.value for (s, a), n in CONTRACT_ALLOWED.items()} == EXPECTED_CONTRACT
    assert {(s.value, a.value): n.value for (s, a), n in MILESTONE_ALLOWED.items()} == EXPECTED_MILESTONE


def test_allowed_actions_by_role():
    assert allowed_milestone_actions("submitted", "client") == ["request_changes", "approve", "dispute"]
    assert allowed_milestone_actions("submitted", "freelancer") == ["refund", "dispute"]
    assert allowed_milestone_actions("funded", "freelancer") == ["submit", "refund", "dispute"]
    assert allowed_milestone_actions("released", "client") == []
    assert allowed_contract_actions("sent", "client") == ["request_changes", "decline", "activate"]
    assert allowed_contract_actions("draft", "freelancer") == ["edit", "send", "withdraw"]


def test_roles_are_checked():
    check_role(MILESTONE_ACTION_ROLES, MilestoneAction.APPROVE, "client")
    with pytest.raises(NotPermitted):
        check_role(MILESTONE_ACTION_ROLES, MilestoneAction.APPROVE, "freelancer")
    with pytest.raises(NotPermitted):
        check_role(MILESTONE_ACTION_ROLES, MilestoneAction.SUBMIT, "client")
