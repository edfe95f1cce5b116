"""The mail server down (connection refused) or hung (accepts, never answers) while a client funds.

The charge goes through the Braintree adapter on the stand-in; the receipts wait in the outbox and
leave when the server is back. Sending a contract with SMTP down or hung is tests/web/test_outbox.py.
"""
from __future__ import annotations

import time
from datetime import timedelta

import pytest
from aiosmtpd.controller import Controller

from directcontracts.models import PaymentAttempt
from directcontracts.services import mailer
from tests.faults.conftest import books_agree_with
from tests.web.builders import contract, fund, sent_contract, verify
from tests.web.test_outbox import HUNG_TIMEOUT, Catcher, dead_smtp, free_port, hung_smtp, use_mail_server  # noqa: F401

pytestmark = pytest.mark.faults


@pytest.mark.parametrize("server", ["dead_smtp", "hung_smtp"], ids=["smtp-down", "smtp-hung"])
def test_funding_while_the_mail_server_fails_charges_once_and_mails_later(braintree_app, standin, app, request,
                                                                          logged_in, visitor, outbox, db, server):
    cid, link = sent_contract(logged_in, outbox, amounts=("1000",))
    verify(visitor, link, outbox)
    request.getfixturevalue(server)
    assert mailer.wait_idle(HUNG_TIMEOUT * 3)
    before = {row.id for row in outbox()}
    started = time.monotonic()
    r = fund(visitor, link)
    elapsed = time.monotonic() - started
    assert r.status_code == 303, r.text
    assert elapsed < HUNG_TIMEOUT, f"funding took {elapsed:.2f}s: the request waited on SMTP"
    receipt = visitor.get(r.location)
    assert receipt.status_code == 200 and "$1,000.00" in receipt.text
    attempt = db.session.scalar(db.select(PaymentAttempt))
    assert attempt.status == "succeeded" and len(standin.sales_for(attempt.id)) == 1
    assert contract(db, cid).milestones[0].state == "funded"

    assert mailer.wait_idle(HUNG_TIMEOUT * 3)
    db.session.expire_all()
    receipts = [row for row in outbox() if row.id not in before]
    assert receipts and all(row.sent_at is None for row in receipts)
    assert any(row.attempts == 1 and row.last_error for row in receipts)

    # The mail server is back: at the retry time every receipt goes out, once.
    catcher = Catcher()
    controller = Controller(catcher, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        use_mail_server(app, controller.port, MAIL_TIMEOUT=10)
        latest = max(row.next_attempt_at or row.created_at for row in receipts)
        counts = mailer.deliver_pending(now=latest + timedelta(seconds=1))
    finally:
        controller.stop()
    assert counts["failed"] == 0 and counts["sent"] >= len(receipts)
    db.session.expire_all()
    assert all(row.sent_at for row in outbox() if row.id in {r.id for r in receipts})
    assert {m["To"] for m in catcher.parsed()} >= {"carla@client-co.com"}
    books_agree_with(standin, db)
