"""The outbox: same transaction as the change, sent after commit, retried, real SMTP."""
from __future__ import annotations

import socket
from datetime import timedelta

import pytest
from aiosmtpd.controller import Controller

from directcontracts.services import mailer
from tests.web.builders import contract, link_in, milestone_contract, send


class Catcher:
    """aiosmtpd handler that keeps every message it receives."""

    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope)
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp(app):
    catcher = Catcher()
    controller = Controller(catcher, hostname="127.0.0.1", port=free_port())
    controller.start()
    old = {k: app.config.get(k) for k in ("MAIL_SERVER", "MAIL_PORT")}
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=controller.port)
    app.extensions["mail"].server, app.extensions["mail"].port = "127.0.0.1", controller.port
    yield catcher
    controller.stop()
    app.config.update(old)
    app.extensions["mail"].server, app.extensions["mail"].port = old["MAIL_SERVER"], old["MAIL_PORT"]


@pytest.fixture
def dead_smtp(app):
    port = free_port()  # nothing listens here
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=port)
    app.extensions["mail"].server, app.extensions["mail"].port = "127.0.0.1", port
    yield port
    app.config.update(MAIL_SERVER=None, MAIL_PORT=25)
    app.extensions["mail"].server, app.extensions["mail"].port = None, 25


def test_client_email_goes_through_real_smtp(logged_in, db, smtp, outbox):
    cid = milestone_contract(logged_in, amounts=("1000",))
    send(logged_in, cid)
    [envelope] = smtp.messages
    assert envelope.rcpt_tos == ["carla@client-co.com"]
    body = envelope.content.decode()
    assert "Subject: Fran Freelancer sent you a contract: Website redesign" in body
    assert "http://localhost/c/" in body
    [row] = outbox()
    assert row.transport == "smtp" and row.sent_at and row.attempts == 1


def test_failing_mail_server_never_loses_the_change(logged_in, db, dead_smtp, outbox, app):
    cid = milestone_contract(logged_in, amounts=("1000",))
    r = logged_in.post(f"/contracts/{cid}/send")
    assert r.status_code == 303
    assert contract(db, cid).state == "sent"  # the change is committed
    [row] = outbox()
    assert row.sent_at is None and row.attempts == 1 and "ConnectionRefusedError" in row.last_error
    # not due yet: nothing happens
    assert mailer.deliver_pending() == {"sent": 0, "failed": 0}
    # the server is back; at the retry time the email goes out
    catcher = Catcher()
    from aiosmtpd.controller import Controller
    controller = Controller(catcher, hostname="127.0.0.1", port=dead_smtp)
    controller.start()
    try:
        counts = mailer.deliver_pending(now=row.next_attempt_at + timedelta(seconds=1))
    finally:
        controller.stop()
    assert counts == {"sent": 1, "failed": 0}
    db.session.expire_all()
    assert outbox()[0].sent_at and outbox()[0].attempts == 2
    assert link_in(catcher.messages[0].content.decode())


def test_email_row_is_rolled_back_with_a_failed_change(app, db, member):
    from directcontracts.models import Contract
    with app.test_request_context():
        mailer.queue("x@example.com", "Will vanish", "withdrawn", contract=None, member=member)
        db.session.rollback()
    assert db.session.scalar(db.select(db.func.count()).select_from(Contract)) == 0
    from directcontracts.models import OutboxEmail
    assert db.session.scalar(db.select(db.func.count(OutboxEmail.id))) == 0


def test_a_claimed_row_is_not_sent_twice(app, db, member):
    from directcontracts.models import OutboxEmail, utcnow
    with app.test_request_context():
        row = mailer.queue("x@example.com", "Once", "withdrawn", contract=None, member=member)
    db.session.commit()
    assert mailer._claim(row.id, utcnow()) is True
    assert mailer._claim(row.id, utcnow()) is False  # a second process loses the race
    assert mailer._claim(row.id, utcnow() + mailer.CLAIM_TIMEOUT + timedelta(seconds=1)) is True
    assert db.session.get(OutboxEmail, row.id).sent_at is None


def test_send_pending_cli(app, db, member):
    with app.test_request_context():
        mailer.queue("x@example.com", "Queued", "withdrawn", contract=None, member=member)
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["mail", "send-pending"])
    assert result.exit_code == 0 and "sent 1, failed 0" in result.output
