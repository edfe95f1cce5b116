"""One signature per revision: concurrent first submits never sign twice, and the second gets the first's
signature (on SQLite and PostgreSQL)."""
from __future__ import annotations

import pytest

from directcontracts.models import Acceptance, Contract
from directcontracts.services import client_actions, drafts, funding, milestone_editor, proposals
from directcontracts.services.errors import InvalidTransition, PageOutdated
from tests.conftest import race

SIGNATURE = {"signer_name": "Carla Client", "agreed": True, "ip": "127.0.0.1", "user_agent": "pytest"}


@pytest.fixture
def sent(app, db, member):
    with app.test_request_context():
        c = drafts.create_draft(member, client_name="Carla Client", client_email="carla@client-co.com")
        drafts.update_terms(c, title="Race", scope="", currency="USD", kind="milestones")
        for n, amount in enumerate(("300", "500"), 1):
            milestone_editor.add_milestone(c, {"title": f"M{n}", "amount": amount})
        proposals.send(c, member)
        return c.id


def signatures(db) -> list[Acceptance]:
    db.session.expire_all()
    return list(db.session.scalars(db.select(Acceptance)))


def test_two_first_signatures_at_once_make_one(app, db, sent, concurrent):
    first, second = race(app, *[lambda: client_actions.accept(db.session.get(Contract, sent), **SIGNATURE).id] * 2)
    [signature] = signatures(db)
    assert first == second == signature.id


def test_a_signature_that_lost_the_race_returns_the_first(app, db, sent, monkeypatch):
    """The check before the insert missed a signature committed meanwhile: the constraint catches it."""
    with app.test_request_context():
        first = client_actions.accept(db.session.get(Contract, sent), **SIGNATURE)
        real, calls = client_actions.acceptance_of_current, []

        def missed_once(contract):
            calls.append(1)
            return None if len(calls) == 1 else real(contract)

        monkeypatch.setattr(client_actions, "acceptance_of_current", missed_once)
        again = client_actions.accept(db.session.get(Contract, sent), **{**SIGNATURE, "signer_name": "Someone"})
    assert again.id == first.id and again.signer_name == "Carla Client"
    assert len(signatures(db)) == 1


def test_funding_that_lost_the_signature_race_pays_under_the_first(app, db, sent, monkeypatch, gateway):
    with app.test_request_context():
        contract = db.session.get(Contract, sent)
        shown = funding.quotes(contract)["first"].encode()
        first = client_actions.accept(contract, **SIGNATURE)
        real, calls = funding.acceptance_of_current, []

        def missed_once(c):
            calls.append(1)
            return None if len(calls) == 1 else real(c)

        monkeypatch.setattr(funding, "acceptance_of_current", missed_once)
        attempt = funding.fund(db.session.get(Contract, sent), key="k1", choice="first", shown=shown,
                               nonce="fake-valid-nonce", signature={**SIGNATURE, "signer_name": "Someone"})
        assert attempt.status == "succeeded"
    [signature] = signatures(db)
    assert signature.id == first.id


def test_two_first_fund_submits_at_once_sign_once(app, db, sent, concurrent, gateway):
    with app.test_request_context():
        shown = funding.quotes(db.session.get(Contract, sent))["first"].encode()

    def submit(key):
        return lambda: funding.fund(db.session.get(Contract, sent), key=key, choice="first", shown=shown,
                                    nonce="fake-valid-nonce", signature=SIGNATURE).status

    outcomes = race(app, submit("k1"), submit("k2"))
    for outcome in outcomes:
        assert not isinstance(outcome, Exception) or isinstance(outcome, (InvalidTransition, PageOutdated)), outcome
    assert [o for o in outcomes if not isinstance(o, Exception)] == ["succeeded"]
    assert len(signatures(db)) == 1
