"""Steps shared by the refund tests on the offline gateway: faults, look-ups, the books."""
from __future__ import annotations

from directcontracts.models import Refund
from directcontracts.services import ledger
from tests.conftest import sales
from tests.web.builders import contract, funded_contract


def cli(runner, *args, when) -> tuple[int, str]:
    """Run a command as if it were ``when`` (UTC); returns (exit code, output)."""
    result = runner.invoke(args=[*args, "--now", when.strftime("%Y-%m-%d %H:%M:%S")])
    return result.exit_code, result.output


def refunds(db) -> list[Refund]:
    db.session.expire_all()
    return list(db.session.scalars(db.select(Refund).order_by(Refund.id)))


def credits(gateway) -> list[dict]:
    """Every refund (credit) the test gateway made."""
    with gateway.store.locked() as data:
        return [t for t in data.get("transactions", {}).values() if t["type"] == "credit"]


def escrow_held(db, cid) -> dict[str, int]:
    """What escrow holds per milestone title, from the ledger."""
    db.session.expire_all()
    money = ledger.milestone_money([cid])
    return {m.title: money[m.id].held for m in contract(db, cid).milestones}


def settled_sale_for_a_and_b(logged_in, visitor, outbox, db, gateway, amounts=("300", "500")):
    """One settled sale funding milestones A and B; returns (contract id, sale id, A, B, client link)."""
    cid, link = funded_contract(logged_in, visitor, outbox, amounts=amounts, choice="all")
    [sale] = sales(gateway)
    gateway.settle(sale["id"])
    a, b = (m.id for m in contract(db, cid).milestones)
    return cid, sale["id"], a, b, link


def refund_with_fault(logged_in, gateway, cid, mid, fault):
    """The member refunds while the gateway misbehaves (``fault``): the answer is not known (503)."""
    gateway.refund_fault = fault
    r = logged_in.post(f"/contracts/{cid}/milestones/{mid}/refund", {"reason": "Not needed."})
    gateway.refund_fault = None
    assert r.status_code == 503 and "We could not confirm the refund" in r.text
