"""services.memo: a request's read-only answers, forgotten at a write and at a lock."""
from __future__ import annotations

from directcontracts.models import Contract
from directcontracts.services import memo

calls = []


@memo.per_request
def _count(contract):
    calls.append(contract.id)
    return len(calls)


def test_asked_once_a_request_and_again_after_a_write_or_a_lock(app, db, accepted_contract):
    calls.clear()
    with app.test_request_context():
        contract = db.session.get(Contract, accepted_contract)
        assert _count(contract) == _count(db.session.get(Contract, accepted_contract)) == 1
        db.session.execute(db.select(Contract).where(Contract.id == contract.id).with_for_update())
        assert _count(contract) == 2
        db.session.execute(db.update(Contract).where(Contract.id == contract.id).values(id=Contract.id))
        assert _count(contract) == 3
        db.session.commit()
        assert _count(contract) == 4 and _count(contract) == 4
    with app.test_request_context():
        assert _count(db.session.get(Contract, accepted_contract)) == 5  # a new request asks again
    with app.app_context():
        assert _count(db.session.get(Contract, accepted_contract)) == 6  # outside a request: every time
        assert _count(db.session.get(Contract, accepted_contract)) == 7
