"""Fixtures for service-level tests: contracts built through the services."""

import pytest

from directcontracts.services import client_actions, drafts, milestone_editor, proposals


@pytest.fixture
def accepted_contract(app, db, member):
    """A sent, signed 3-milestone contract (USD 1000 / 2000 / 500)."""
    with app.test_request_context():
        c = drafts.create_draft(member, client_name="Carla Client", client_email="carla@client-co.com")
        drafts.update_terms(c, title="Website redesign", scope="", currency="USD", kind="milestones")
        for n, amount in enumerate(("1000", "2000", "500"), 1):
            milestone_editor.add_milestone(c, {"title": f"Milestone {n}", "amount": amount})
        proposals.send(c, member)
        client_actions.accept(c, signer_name="Carla Client", agreed=True, ip="127.0.0.1", user_agent="pytest")
    return c.id


def fund_as_shown(app, contract_id: int, choice: str, key: str, nonce: str = "fake-valid-nonce"):
    """The client funds ``choice`` with the quote their page showed; returns the attempt."""
    from directcontracts.extensions import db
    from directcontracts.models import Contract
    from directcontracts.services import funding
    with app.test_request_context():
        contract = db.session.get(Contract, contract_id)
        return funding.fund(contract, key=key, choice=choice, shown=funding.quotes(contract)[choice].encode(),
                            nonce=nonce)
