"""The freelancer sends the client a new link; every older link stops working.

For a client whose link was forwarded, leaked, or lost: the old links then show
"this link was replaced" (410) and the client's email carries the only one that
works. The freelancer's contract page says when the last link was sent.
"""
from __future__ import annotations

from datetime import datetime

from ..domain.states import ContractState, can_send_link
from ..extensions import db
from ..models import Contract, Member
from . import activity, mailer, tokens
from .errors import InvalidTransition
from .links import client_link


def send_new_link(contract: Contract, member: Member) -> datetime:
    """Revoke every link of the contract and email the client a new one. Commits once.

    Raises InvalidTransition for a contract never sent or withdrawn. Returns when it was sent.
    """
    if not can_send_link(ContractState(contract.state), contract.revision > 0):
        raise InvalidTransition("This contract has no client link to replace."
                                if contract.revision == 0 else "This contract was withdrawn: its client needs no link.")
    tokens.revoke_tokens(contract)
    raw = tokens.issue_token(contract)
    mailer.queue(contract.client_email, f"A new link to your contract: {contract.title}", "new_link",
                 contract=contract, member=member, link=client_link(raw),
                 days=tokens.days_after_end() if contract.closed_at else None)
    activity.record(contract, "link_sent", "freelancer",
                    f"New link sent to {contract.client_email}; older links no longer work.")
    db.session.commit()
    mailer.deliver_pending()
    return tokens.last_sent_at(contract)
