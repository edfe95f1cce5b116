"""A milestone edit racing a funding submit (PostgreSQL row locks): never a changed amount charged."""
import threading

from directcontracts.models import Contract, Journal
from directcontracts.services import client_actions, funding
from directcontracts.services import contracts as contracts_svc
from directcontracts.services.errors import PageOutdated
from tests.conftest import sales
from tests.web.builders import contract


def test_an_edit_racing_a_submit_never_charges_a_changed_amount(app, db, member, concurrent, gateway):
    """A milestone edit and a funding submit at once (PostgreSQL row locks): one wins, cleanly."""
    with app.test_request_context():
        c = contracts_svc.create_draft(member, client_name="Carla Client", client_email="carla@client-co.com")
        contracts_svc.update_terms(c, title="Race", scope="", currency="USD", kind="milestones")
        for n, amount in enumerate(("300", "500"), 1):
            contracts_svc.add_milestone(c, {"title": f"M{n}", "amount": amount})
        contracts_svc.send(c, member)
        client_actions.accept(c, signer_name="Carla", agreed=True, ip="127.0.0.1", user_agent="pytest")
        funding.fund(c, key="k0", choice="first", shown=funding.quotes(c)["first"].encode(),
                     nonce="fake-valid-nonce")
        cid, m2 = c.id, c.milestones[1].id
        shown = funding.quotes(c)["first"].encode()
    outcomes = {}
    barrier = threading.Barrier(2)

    def pay():
        with app.test_request_context():
            c = db.session.get(Contract, cid)
            barrier.wait()
            try:
                outcomes["pay"] = funding.fund(c, key="k1", choice="first", shown=shown,
                                               nonce="fake-valid-nonce").status
            except PageOutdated:
                outcomes["pay"] = "outdated"
            finally:
                db.session.remove()

    def edit():
        with app.test_request_context():
            c = contract(db, cid)
            barrier.wait()
            try:
                contracts_svc.update_milestone(c, m2, {"title": "M2", "amount": "900"})
                outcomes["edit"] = "changed"
            except Exception as exc:  # noqa: BLE001 — the refusal is the outcome under test
                outcomes["edit"] = type(exc).__name__
            finally:
                db.session.remove()

    threads = [threading.Thread(target=pay), threading.Thread(target=edit)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    db.session.expire_all()
    m = contract(db, cid).milestones[1]
    if outcomes["pay"] == "succeeded":
        assert outcomes["edit"] == "InvalidTransition" and (m.amount_minor, m.state) == (50000, "funded")
    else:
        assert outcomes == {"pay": "outdated", "edit": "changed"} and (m.amount_minor, m.state) == (90000, "pending")
    assert [s["minor"] for s in sales(gateway)][1:] in ([], [50000])
    assert db.session.scalar(db.select(db.func.count(Journal.id))) == len(sales(gateway))
