"""Two approvals of one milestone → one release: twice in a row, from two threads, from two processes."""
import multiprocessing

import pytest

from directcontracts.extensions import db as _db
from directcontracts.models import Contract, Journal
from directcontracts.services import lifecycle, ledger
from tests.conftest import race
from tests.services.conftest import fund_as_shown


@pytest.fixture
def submitted(app, db, accepted_contract):
    """Contract id and the id of a submitted milestone (funded first)."""
    fund_as_shown(app, accepted_contract, "all", "k-all")
    with app.test_request_context():
        c = db.session.get(Contract, accepted_contract)
        mid = c.milestones[0].id
        lifecycle.request_payment(c, mid, note="Done.")
        lifecycle.request_payment(c, c.milestones[1].id, note="Done.")
    return accepted_contract, mid


def releases(db):
    db.session.expire_all()
    return db.session.scalar(db.select(db.func.count(Journal.id)).where(Journal.kind == "release"))


def test_approve_twice_in_a_row(app, db, submitted):
    cid, mid = submitted
    with app.test_request_context():
        lifecycle.approve(db.session.get(Contract, cid), mid)
        lifecycle.approve(db.session.get(Contract, cid), mid)
    assert releases(db) == 1


def test_two_threads_approve_one_milestone(app, db, submitted, concurrent):
    cid, mid = submitted
    outcomes = race(app, *[lambda: lifecycle.approve(_db.session.get(Contract, cid), mid)] * 2)
    assert not [o for o in outcomes if isinstance(o, Exception)] and releases(db) == 1


def _approve_in_process(url, cid, mid, barrier, results):
    """Runs in a fresh process: its own app, engine and connections."""
    from directcontracts import create_app
    from directcontracts.extensions import db
    from directcontracts.models import Contract
    from directcontracts.services import lifecycle

    app = create_app({"TESTING": True, "SECRET_KEY": "x" * 32, "SQLALCHEMY_DATABASE_URI": url,
                      "MAIL_SERVER": None, "BASE_URL": "http://localhost"})
    with app.test_request_context():
        contract = db.session.get(Contract, cid)
        barrier.wait()
        try:
            lifecycle.approve(contract, mid)
            results.put("ok")
        except Exception as exc:  # noqa: BLE001
            results.put(repr(exc))


def test_two_processes_approve_one_milestone_and_fees_stay_exact(app, db, submitted, concurrent):
    """Two processes release two milestones of one contract at once: each releases once, and
    the cumulative fee is computed under the contract lock (no cent drifts)."""
    cid, mid = submitted
    mid2 = db.session.get(Contract, cid).milestones[1].id
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(3), ctx.Queue()
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    procs = [ctx.Process(target=_approve_in_process, args=(url, cid, m, barrier, results))
             for m in (mid, mid, mid2)]
    [p.start() for p in procs]
    [p.join(60) for p in procs]
    outcomes = sorted(results.get(timeout=5) for _ in procs)
    assert outcomes == ["ok", "ok", "ok"]
    assert releases(db) == 2 and ledger.check() == []
    money = ledger.contract_money([db.session.get(Contract, cid)])[cid]
    assert money.released.minor == 300000 and money.fees.minor == 10200  # 3.4% of $3,000.00 exactly


def test_two_threads_refund_one_milestone(app, db, accepted_contract, gateway, concurrent):
    fund_as_shown(app, accepted_contract, "first", "k-first")
    mid = db.session.get(Contract, accepted_contract).milestones[0].id
    outcomes = race(app, *[lambda: lifecycle.refund(_db.session.get(Contract, accepted_contract), mid,
                                                    reason="Cancelled.")] * 2)
    outcomes = [type(o).__name__ if isinstance(o, Exception) else "refunded" for o in outcomes]
    assert sorted(outcomes) == ["InvalidTransition", "refunded"]
    db.session.expire_all()
    assert db.session.scalar(db.select(db.func.count(Journal.id)).where(Journal.kind == "refund")) == 1
    from tests.conftest import sales
    assert [s["status"] for s in sales(gateway)] == ["voided"]
