"""The signed agreement: the terms exactly as the client signed them, the signature, and the money so far.

Read-only. The terms come from the signed revision's snapshot (``ContractRevision.snapshot``,
written when the proposal was sent), never from the contract as it stands now: milestones
added or changed while the contract runs do not rewrite what was signed. The signature is the
``Acceptance`` on the current revision (the one the rest of the app calls "signed"); a revision
sent after a signature needs its own. The money per milestone is the client's page's
(``services.client_money``), from the ledger.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime

from ..domain.fees import percent_label
from ..domain.money import Money
from ..domain.states import MilestoneState
from ..extensions import db
from ..models import Contract, ContractRevision, utcnow
from . import client_money
from .client_actions import acceptance_of_current


@dataclass(frozen=True)
class SignedMilestone:
    """One milestone as the signed revision listed it."""

    id: int
    title: str
    amount: Money
    due_date: date | None
    description: str


@dataclass(frozen=True)
class SignedTerms:
    """What the client read and signed (one revision's snapshot)."""

    title: str
    scope: str
    kind: str
    client_name: str
    client_email: str
    client_company: str
    fee_bps: int
    milestones: list[SignedMilestone]
    currency: str

    @property
    def total(self) -> Money:
        return sum((m.amount for m in self.milestones), Money(0, self.currency))

    @property
    def fee_label(self) -> str:
        return percent_label(self.fee_bps)


@dataclass(frozen=True)
class MoneyLine:
    """A milestone's money so far; ``in_terms``: it is one of the signed milestones (else added after)."""

    title: str
    funded: Money
    released: Money
    refunded: Money
    held: Money
    charged_back: Money
    in_terms: bool


@dataclass(frozen=True)
class Agreement:
    contract: Contract
    revision: int
    terms: SignedTerms
    signer_name: str
    signed_at: datetime
    ip_address: str
    user_agent: str
    money: list[MoneyLine]
    funded: Money
    released: Money
    refunded: Money
    held: Money
    charged_back: Money
    #: When these money figures were read.
    as_of: datetime


def parse_terms(snapshot: str) -> SignedTerms:
    """A revision's snapshot (``services.proposals``) as terms."""
    data = json.loads(snapshot)
    currency = data["currency"]
    name, email, company = (list(data.get("client") or []) + ["", "", ""])[:3]
    return SignedTerms(
        title=data.get("title", ""), scope=data.get("scope", ""), kind=data.get("kind", "milestones"),
        client_name=name, client_email=email, client_company=company, fee_bps=int(data.get("fee_bps") or 0),
        currency=currency,
        milestones=[SignedMilestone(id=m.get("id"), title=m["title"], amount=Money(int(m["amount_minor"]), currency),
                                    due_date=date.fromisoformat(m["due_date"]) if m.get("due_date") else None,
                                    description=m.get("description", ""))
                    for m in data.get("milestones", [])],
    )


def signed(contract: Contract) -> Agreement | None:
    """The agreement the client signed, or None while the current revision is not signed.

    Whoever calls it has already checked that the viewer may see this contract (the client's
    verified device, the contract's member, or the owner).
    """
    acceptance = acceptance_of_current(contract)
    if acceptance is None:
        return None
    revision = db.session.get(ContractRevision, acceptance.revision_id)
    terms = parse_terms(revision.snapshot)
    signed_ids = {m.id for m in terms.milestones}
    money = client_money.ClientMoney(milestones=client_money.milestones(contract), currency=contract.currency)
    lines = [MoneyLine(title=m.milestone.title, funded=m.funded, released=m.released,
                       refunded=m.refunded, held=m.held,
                       charged_back=m.charged_back or Money(0, contract.currency), in_terms=m.milestone.id in signed_ids)
             for m in money.milestones
             if m.milestone.id in signed_ids or m.funded.minor or m.milestone.state != MilestoneState.CANCELLED]
    return Agreement(contract=contract, revision=revision.number, terms=terms, signer_name=acceptance.signer_name,
                     signed_at=acceptance.accepted_at, ip_address=acceptance.ip_address,
                     user_agent=acceptance.user_agent, money=lines, funded=money.funded,
                     released=money.released, refunded=money.refunded, held=money.held,
                     charged_back=money.charged_back, as_of=utcnow())
