"""The whole app on the Braintree adapter (real SDK) against the local stand-in of Braintree's API."""
import re

import pytest

from directcontracts.models import PaymentAttempt
from tests.web.builders import contract, fund, sent_contract, verify


@pytest.fixture
def braintree_app(app, make_adapter):
    """The app's gateway is the Braintree adapter for this test."""
    previous = app.extensions["gateway"]
    app.extensions["gateway"] = make_adapter(read_timeout=5.0)
    yield app.extensions["gateway"]
    app.extensions["gateway"] = previous


def test_client_funds_through_braintree(braintree_app, standin, logged_in, visitor, outbox, db):
    cid, link = sent_contract(logged_in, outbox)
    verify(visitor, link, outbox)
    page = visitor.get(f"{link}/fund")
    assert "Test mode" in page.text  # the stand-in counts as a sandbox: no real money
    assert "fake-valid-nonce" not in page.text  # but the card form is Braintree's Drop-in, not test choices
    assert 'id="dropin" data-client-token="' in page.text and "braintree-web-drop-in-1.48.0.js" in page.text
    r = fund(visitor, link, nonce="fake-valid-nonce")
    assert r.status_code == 303
    receipt = visitor.get(r.location)
    attempt = db.session.scalar(db.select(PaymentAttempt))
    [sale] = standin.sales_for(attempt.id)  # order id = attempt id
    assert sale["amount"] == "1000.00" and sale["merchant_account_id"] == "usd_account"
    assert sale["status"] == "submitted_for_settlement"
    assert attempt.transaction_id == sale["id"] and sale["id"] in receipt.text
    assert contract(db, cid).milestones[0].state == "funded"
    # the freelancer refunds it: Braintree voids the unsettled sale
    r = logged_in.post(f"/contracts/{cid}/milestones/{contract(db, cid).milestones[0].id}/refund",
                       {"reason": "Cancelled."})
    assert r.status_code == 303 and standin.sales_for(attempt.id)[0]["status"] == "voided"


def test_declined_through_braintree_shows_the_processor_reason(braintree_app, logged_in, visitor, outbox, db):
    cid, link = sent_contract(logged_in, outbox)
    verify(visitor, link, outbox)
    r = fund(visitor, link, nonce="fake-processor-declined-visa-nonce")
    assert r.status_code == 422 and "Payment declined." in r.text and "Do Not Honor" in r.text
    assert re.search(r'name="idempotency_key" value="[0-9a-f]+"', r.text)
    assert contract(db, cid).milestones[0].state == "pending"
