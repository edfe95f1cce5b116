"""A milestone edit racing a funding submit (PostgreSQL row locks): never a changed amount charged."""
from directcontracts.models import Contract, Journal
from directcontracts.services import client_actions, drafts, funding, milestone_editor, proposals
from directcontracts.services.errors import PageOutdated
from tests.conftest import race, sales
from tests.web.builders import contract


def test_an_edit_racing_a_submit_never_charges_a_changed_amount(app, db, member, concurrent, gateway):
    """A milestone edit and a funding submit at once (PostgreSQL row locks): one wins, cleanly."""
    with app.test_request_context():
        c = drafts.create_draft(member, client_name="Carla Client", client_email="carla@client-co.com")
        drafts.update_terms(c, title="Race", scope="", currency="USD", kind="milestones")
        for n, amount in enumerate(("300", "500"), 1):
            milestone_editor.add_milestone(c, {"title": f"M{n}", "amount": amount})
        proposals.send(c, member)
        client_actions.accept(c, signer_name="Carla", agreed=True, ip="127.0.0.1", user_agent="pytest")
        funding.fund(c, key="k0", choice="first", shown=funding.quotes(c)["first"].encode(),
                     nonce="fake-valid-nonce")
        cid, m2 = c.id, c.milestones[1].id
        shown = funding.quotes(c)["first"].encode()
    paid, edited = race(
        app,
        lambda: funding.fund(db.session.get(Contract, cid), key="k1", choice="first", shown=shown,
                             nonce="fake-valid-nonce").status,
        lambda: milestone_editor.update_milestone(db.session.get(Contract, cid), m2, {"title": "M2", "amount": "900"}))
    outcomes = {"pay": "outdated" if isinstance(paid, PageOutdated) else paid,
                "edit": type(edited).__name__ if isinstance(edited, Exception) else "changed"}
    db.session.expire_all()
    m = contract(db, cid).milestones[1]
    if outcomes["pay"] == "succeeded":
        assert outcomes["edit"] == "InvalidTransition" and (m.amount_minor, m.state) == (50000, "funded")
    else:
        assert outcomes == {"pay": "outdated", "edit": "changed"} and (m.amount_minor, m.state) == (90000, "pending")
    assert [s["minor"] for s in sales(gateway)][1:] in ([], [50000])
    assert db.session.scalar(db.select(db.func.count(Journal.id))) == len(sales(gateway))
