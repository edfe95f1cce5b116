"""Sending a draft revision racing the client's funding submit: the client pays the revision their page showed.

Both take the contract's lock (``lock_without_payment`` / ``lock_contract``): either the payment holds
revision 1's milestones first (and the revision waits: "the client is paying"), or the revision is
applied first (and the payment, quoting revision 1, is refused as outdated). Never a charge of amounts
the client did not see, never a revision applied under a payment.
"""
import pytest

from directcontracts.models import Contract, Journal
from directcontracts.services import drafts, funding, milestone_editor, proposals
from directcontracts.services.errors import InvalidTransition, PageOutdated
from tests.conftest import race, sales
from tests.web.builders import contract

SIGNATURE = {"signer_name": "Carla Client", "agreed": True, "ip": "127.0.0.1", "user_agent": "pytest"}


@pytest.mark.parametrize("attempt", range(3))
def test_sending_a_revision_racing_a_payment_never_charges_unseen_amounts(app, db, member, concurrent, gateway,
                                                                          attempt):
    with app.test_request_context():
        c = drafts.create_draft(member, client_name="Carla Client", client_email="carla@client-co.com")
        drafts.update_terms(c, title="Race", scope="", currency="USD", kind="milestones")
        milestone_editor.add_milestone(c, {"title": "M1", "amount": "300"})
        proposals.send(c, member)
        draft = proposals.revise(c, member)
        milestone_editor.update_milestone(draft, draft.milestones[0].id, {"title": "M1", "amount": "3300"})
        cid, draft_id = c.id, draft.id
        shown = funding.quotes(c)["first"].encode()  # revision 1's page
    paid, sent = race(
        app,
        lambda: funding.fund(db.session.get(Contract, cid), key=f"k{attempt}", choice="first", shown=shown,
                             nonce="fake-valid-nonce", signature=SIGNATURE).status,
        lambda: proposals.send(db.session.get(Contract, draft_id), member).revision)
    db.session.expire_all()
    c = contract(db, cid)
    if paid == "succeeded":  # the payment held revision 1 first: the revision was refused, the draft kept
        assert isinstance(sent, InvalidTransition), sent
        assert (c.state, c.revision, c.milestones[0].amount_minor) == ("active", 1, 30000)
        assert [s["minor"] for s in sales(gateway)] == [30000]
        assert db.session.scalar(db.select(Contract.id).where(Contract.draft_of_id == cid)) == draft_id
    else:  # the revision was applied first: the payment quoting revision 1 charged nothing
        assert isinstance(paid, PageOutdated) and sent == 2, (paid, sent)
        assert (c.state, c.revision, c.milestones[0].amount_minor) == ("sent", 2, 330000)
        assert sales(gateway) == []
    assert db.session.scalar(db.select(db.func.count(Journal.id))) == len(sales(gateway))
