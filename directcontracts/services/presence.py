"""A contract page's small questions about the contract's other tables, asked in one statement.

Most contracts have no chargeback, no dispute, no refund, no payment in flight and no email given up; their
pages used to ask each of those tables on its own and get nothing back, and asked in separate statements
whether the client signed the current revision, when the newest working link was sent and when the client
last opened it. A page (a GET request) now asks all of that at once (``EXISTS`` and ``max`` over each
table's ``contract_id`` index), and the readers skip the tables that have nothing for the contract.

The answer is per request (``memo``): never kept across requests, and forgotten at any write in the request
(the client's page records a view first: when it writes one, the page asks again), so a reader never
skips rows that exist. Outside a GET request (a form's POST, a job, a test's app context) every reader
asks its own table as before: a check made before a write never relies on this.
"""
from __future__ import annotations

from datetime import datetime
from functools import cache

from flask import has_request_context, request

from ..extensions import db
from ..models import (Acceptance, Chargeback, ClientToken, Contract, ContractRevision, Dispute, Message, Milestone,
                      OutboxEmail, PaymentAttempt, Refund, TimelineEvent)
from . import memo
from .mailer import MAX_ATTEMPTS

#: Asked as ``EXISTS``: the contract has rows of this kind.
ANY = ("chargebacks", "disputes", "refunds", "paying", "given_up", "messages", "signed", "draft_revision")


@cache
def _statement():
    """The probe, built once (parameters ``cid`` and ``revision``): building it anew each request cost more
    CPU than running it."""
    cid, revision = db.bindparam("cid"), db.bindparam("revision")
    exists = {
        "chargebacks": db.select(Chargeback.id).where(Chargeback.contract_id == cid),
        "disputes": db.select(Dispute.id).where(Dispute.contract_id == cid),
        "refunds": db.select(Refund.id).join(Milestone, Milestone.id == Refund.milestone_id)
        .where(Milestone.contract_id == cid),
        "paying": db.select(PaymentAttempt.id).where(PaymentAttempt.contract_id == cid,
                                                     PaymentAttempt.status.in_(("pending", "unknown"))),
        "given_up": db.select(OutboxEmail.id).where(OutboxEmail.contract_id == cid, OutboxEmail.sent_at.is_(None),
                                                    OutboxEmail.attempts >= MAX_ATTEMPTS),
        "messages": db.select(Message.id).where(Message.contract_id == cid),
        # contract_queries.signed_ids: the client signed the contract's current revision
        "signed": db.select(Acceptance.id).join(ContractRevision, ContractRevision.id == Acceptance.revision_id)
        .where(Acceptance.contract_id == cid, ContractRevision.number == revision),
        # proposals.draft_revision_of: the freelancer started a draft revision of it
        "draft_revision": db.select(Contract.id).where(Contract.draft_of_id == cid),
    }
    values = {
        # tokens.last_sent_at: when the newest link still working was issued
        "link_sent_at": db.select(db.func.max(ClientToken.created_at))
        .where(ClientToken.contract_id == cid, ClientToken.revoked_at.is_(None)),
        # client_actions.record_view: when the client last opened the contract (the newest "viewed" entry)
        "viewed_at": db.select(TimelineEvent.created_at)
        .where(TimelineEvent.contract_id == cid, TimelineEvent.kind == "viewed")
        .order_by(TimelineEvent.id.desc()).limit(1),
    }
    statement = db.select(*(q.exists().label(name) for name, q in exists.items()),
                          *(q.scalar_subquery().label(name) for name, q in values.items()))
    return statement, [*exists, *values]


@memo.per_request
def _probe(contract: Contract) -> dict:
    statement, names = _statement()
    row = db.session.execute(statement, {"cid": contract.id, "revision": contract.revision}).one()
    return dict(zip(names, row))


def _asked(contract: Contract) -> bool:
    return has_request_context() and request.method == "GET" and contract.id is not None


def none(contract: Contract, what: str) -> bool:
    """True when, in this GET request, the contract has no rows of ``what`` (one of ``ANY``): skip asking."""
    return _asked(contract) and not _probe(contract)[what]


def known(contract: Contract, what: str) -> tuple[bool, bool | datetime | None]:
    """(True, the answer) in a GET request — ``what``: one of ``ANY`` (a bool), "link_sent_at" or "viewed_at"
    (a time or None); else (False, None): the caller asks its own table."""
    if not _asked(contract):
        return False, None
    value = _probe(contract)[what]
    return True, bool(value) if what in ANY else value
