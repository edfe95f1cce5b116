"""What each party may do now: the facts beyond the state, gathered for the domain's ``actions_for``."""
from __future__ import annotations

from collections.abc import Callable

from ..domain.states import ContractFacts, MilestoneFacts, actions_for
from ..models import Contract, Milestone
from . import chargebacks, funding, refunds
from .client_actions import acceptance_of_current
from .proposals import draft_revision_of


def contract_actions(contract: Contract, role: str) -> frozenset[str]:
    """The contract's buttons for ``role`` (see :func:`directcontracts.domain.states.actions_for`)."""
    facts = ContractFacts(state=contract.state, paying=bool(funding.in_flight(contract)),
                          signed=acceptance_of_current(contract) is not None,
                          fundable=bool(funding.fundable(contract)), sent=contract.revision > 0,
                          draft_revision=(role == "freelancer" and contract.revision > 0
                                          and draft_revision_of(contract) is not None))
    return actions_for(facts, role)


def milestone_actions(contract: Contract, role: str) -> Callable[[Milestone], frozenset[str]]:
    """Each milestone's buttons for ``role``; nothing while its refund is being confirmed or a chargeback
    freezes it."""
    refunding, frozen = refunds.in_flight(contract), chargebacks.frozen_milestones(contract)
    return lambda m: actions_for(MilestoneFacts(state=m.state, contract_state=contract.state,
                                                refunding=m.id in refunding, frozen=m.id in frozen,
                                                being_paid=bool(m.hold_attempt_id)), role)

