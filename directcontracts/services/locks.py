"""Row locks for money-moving use cases: always the contract first, then a milestone.

One lock order everywhere means two processes never deadlock, and a
locked, freshly read contract is what every check of "may this happen now"
must look at.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from ..extensions import db
from ..models import Contract, Milestone, PaymentAttempt, Refund
from .errors import InvalidTransition, NotFound


#: While set (milliseconds), a lock taken here waits at most this long on PostgreSQL (``lock_timeout``),
#: then raises: for work that must answer quickly and can be done again later (a webhook).
_LOCK_WAIT_MS: ContextVar[int | None] = ContextVar("lock_wait_ms", default=None)


@contextmanager
def waiting_at_most(milliseconds: int) -> Iterator[None]:
    """Locks taken inside wait at most ``milliseconds`` (PostgreSQL; SQLite keeps its busy timeout)."""
    token = _LOCK_WAIT_MS.set(milliseconds)
    try:
        yield
    finally:
        _LOCK_WAIT_MS.reset(token)


def lock_contract(contract_id: int, milestone_id: int | None = None) -> tuple[Contract, Milestone | None]:
    """Lock the contract row (then the milestone row, if asked), reading fresh values.

    PostgreSQL: ``SELECT … FOR UPDATE``. SQLite has no row locks (SQLAlchemy
    drops ``FOR UPDATE``) and its driver begins a transaction only at the
    first write, so the checks that follow would race; a no-op write to the
    contract row first takes SQLite's database write lock, which makes every
    other writer wait (busy timeout) until this transaction ends — the same
    serialisation, coarser.
    """
    db.session.expire_all()
    wait = _LOCK_WAIT_MS.get()
    if wait is not None and db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(db.text(f"SET LOCAL lock_timeout = {int(wait)}"))  # this transaction only
    if db.session.get_bind().dialect.name == "sqlite":
        db.session.execute(db.update(Contract).where(Contract.id == contract_id).values(id=Contract.id)
                           .execution_options(synchronize_session=False))
    contract = db.session.scalar(db.select(Contract).where(Contract.id == contract_id).with_for_update())
    if contract is None:
        raise NotFound("No such contract.")
    milestone = None
    if milestone_id is not None:
        milestone = db.session.scalar(
            db.select(Milestone).where(Milestone.id == milestone_id, Milestone.contract_id == contract_id)
            .with_for_update())
        if milestone is None:
            raise NotFound("No such milestone.")
    return contract, milestone


def lock_attempt(attempt_id: str) -> tuple[Contract, PaymentAttempt]:
    """Lock a payment attempt's contract, then the attempt (the one lock order), reading fresh values."""
    contract_id = db.session.scalar(db.select(PaymentAttempt.contract_id).where(PaymentAttempt.id == attempt_id))
    contract, _ = lock_contract(contract_id)
    attempt = db.session.scalar(db.select(PaymentAttempt).where(PaymentAttempt.id == attempt_id).with_for_update())
    return contract, attempt


#: What either party is told when a change would race a client's payment being confirmed.
PAYMENT_IN_FLIGHT = ("A payment for this contract is being confirmed with the payment processor. "
                     "Wait until it is settled (usually a few minutes) and try again.")


def lock_without_payment(contract_id: int, message: str = PAYMENT_IN_FLIGHT) -> Contract:
    """Lock the contract row; refuse while a client payment is in flight (its milestones are held).

    Every change of a contract's state takes this lock, as funding does, so a
    payment being confirmed can never land on a contract that changed under it.
    """
    contract, _ = lock_contract(contract_id)
    if any(m.hold_attempt_id for m in contract.milestones):
        db.session.rollback()
        raise InvalidTransition(message)
    return contract


def lock_refund(refund_id: int) -> tuple[Contract, Milestone, Refund] | tuple[None, None, None]:
    """Lock a refund's contract and milestone (``lock_contract``), then read the refund afresh under them.

    Every change of a refund's status goes through here, so two processes (a request, reconciliation,
    a settlement) never act on one refund at once. (None, None, None) when there is no such refund.
    """
    found = db.session.execute(db.select(Refund.milestone_id, Milestone.contract_id).join(
        Milestone, Milestone.id == Refund.milestone_id).where(Refund.id == refund_id)).first()
    if found is None:
        return None, None, None
    contract, milestone = lock_contract(found.contract_id, found.milestone_id)
    row = db.session.get(Refund, refund_id)
    db.session.refresh(row)
    return contract, milestone, row

