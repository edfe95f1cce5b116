"""The outbox: same transaction as the change, sent after commit, retried, real SMTP.

The SMTP servers here are real sockets on loopback: aiosmtpd (which itself
refuses DATA lines over 1,000 bytes) and a listener that never answers.
"""
from __future__ import annotations

import email
import email.policy
import re
import socket
import threading
import time
from datetime import timedelta

import pytest
from aiosmtpd.controller import Controller

from directcontracts.domain.rules import MESSAGE_LENGTH
from directcontracts.domain.terms import Limits
from directcontracts.models import Notification, OutboxEmail
from directcontracts.services import mailer
from tests.web.builders import (add_milestone, contract, create_draft, link_in, milestone_contract, save_terms,
                                send, verify)

RFC5321_LINE = 998  # characters a line of DATA may hold, CRLF not counted
HUNG_TIMEOUT = 2  # MAIL_TIMEOUT, in seconds, against the server that never answers


class Catcher:
    """aiosmtpd handler that keeps every message it receives.

    It refuses, as a strict server would, a message with a line over the RFC
    5321 limit, and recipients whose mailbox starts with ``nobody``.
    """

    def __init__(self):
        self.messages = []
        self.too_long = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("nobody@"):
            return "550 5.1.1 <%s>: Recipient address rejected: User unknown" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        longest = max(len(line) for line in envelope.original_content.split(b"\r\n"))
        if longest > RFC5321_LINE:
            self.too_long.append(longest)
            return "500 Line too long (RFC 5321 4.5.3.1.6)"
        self.messages.append(envelope)
        return "250 OK"

    def parsed(self):
        """The messages received, parsed as a mail program would."""
        return [email.message_from_bytes(e.original_content, policy=email.policy.default) for e in self.messages]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def use_mail_server(app, port, **config):
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=port, **config)
    app.extensions["mail"].server, app.extensions["mail"].port = "127.0.0.1", port


def no_mail_server(app):
    assert mailer.wait_idle(30), "the background sender must finish before the tables are emptied"
    app.config.update(MAIL_SERVER=None, MAIL_PORT=25, MAIL_TIMEOUT=10)
    app.extensions["mail"].server, app.extensions["mail"].port = None, 25


@pytest.fixture
def smtp(app):
    catcher = Catcher()
    controller = Controller(catcher, hostname="127.0.0.1", port=free_port())
    controller.start()
    use_mail_server(app, controller.port)
    yield catcher
    no_mail_server(app)
    controller.stop()


@pytest.fixture
def dead_smtp(app):
    port = free_port()  # nothing listens here
    use_mail_server(app, port)
    yield port
    no_mail_server(app)


@pytest.fixture
def hung_smtp(app):
    """A mail server that accepts the connection and never says a word."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)  # the kernel completes the handshakes; nobody ever accepts or answers
    use_mail_server(app, listener.getsockname()[1], MAIL_TIMEOUT=HUNG_TIMEOUT)
    yield listener
    no_mail_server(app)
    listener.close()


def body_of(msg, subtype: str) -> str:
    """A decoded body part with its line breaks as the app wrote them (on the wire they are CRLF)."""
    return msg.get_body((subtype,)).get_content().replace("\r\n", "\n")


def delivered(smtp):
    """The messages the server accepted, once the background sender is done."""
    assert mailer.wait_idle(30)
    return smtp.parsed()


def test_client_email_goes_through_real_smtp(logged_in, db, smtp, outbox):
    cid = milestone_contract(logged_in, amounts=("1000",))
    send(logged_in, cid)
    [msg] = delivered(smtp)
    assert smtp.messages[0].rcpt_tos == ["carla@client-co.com"]
    assert msg["Subject"] == "Fran Freelancer sent you a contract: Website redesign"
    assert "http://localhost/c/" in body_of(msg, "plain")
    assert "http://localhost/c/" in body_of(msg, "html")
    [row] = outbox()
    assert row.transport == "smtp" and row.sent_at and row.attempts == 1


def test_failing_mail_server_never_loses_the_change(logged_in, db, dead_smtp, outbox, app):
    cid = milestone_contract(logged_in, amounts=("1000",))
    r = logged_in.post(f"/contracts/{cid}/send")
    assert r.status_code == 303
    assert contract(db, cid).state == "sent"  # the change is committed
    assert mailer.wait_idle(30)
    db.session.expire_all()
    [row] = outbox()
    assert row.sent_at is None and row.attempts == 1 and "ConnectionRefusedError" in row.last_error
    # not due yet: nothing happens
    assert mailer.deliver_pending() == {"sent": 0, "failed": 0}
    # the server is back; at the retry time the email goes out
    catcher = Catcher()
    controller = Controller(catcher, hostname="127.0.0.1", port=dead_smtp)
    controller.start()
    try:
        counts = mailer.deliver_pending(now=row.next_attempt_at + timedelta(seconds=1))
    finally:
        controller.stop()
    assert counts == {"sent": 1, "failed": 0}
    db.session.expire_all()
    assert outbox()[0].sent_at and outbox()[0].attempts == 2
    assert link_in(body_of(catcher.parsed()[0], "plain"))


def longest_proposal(logged_in, email="carla@client-co.com") -> int:
    """A draft at every limit: 50 milestones, 200-character titles, a 20,000-character scope."""
    limits = Limits()
    cid = create_draft(logged_in, email=email)
    # One paragraph, no line breaks, non-ASCII, and one word longer than any line may be.
    scope = ("https://example.com/" + "spec" * 300 + " " + "Design — “build” é, ship. " * 1000)[:limits.max_scope - 1] + "."
    save_terms(logged_in, cid, title=("Long title “é” " * 20)[:limits.max_title].strip(), scope=scope)
    for n in range(1, limits.max_milestones + 1):
        add_milestone(logged_in, cid, f"{n:02d} " + ("Milestone “é” " * 20)[:limits.max_title - 3], "1000",
                      description=("Described — é " * 400)[:limits.max_description])
    return cid


def test_the_longest_proposal_arrives_whole_with_short_lines(logged_in, db, smtp, outbox):
    cid = longest_proposal(logged_in)
    send(logged_in, cid)
    [msg] = delivered(smtp)
    assert smtp.too_long == []
    [row] = outbox()
    assert row.sent_at and row.transport == "smtp"
    longest = max(len(line) for line in smtp.messages[0].original_content.split(b"\r\n"))
    assert longest <= 78  # quoted-printable and folded headers
    # the reader's mail program gets back exactly what was rendered
    assert msg["Subject"] == row.subject
    text, html = body_of(msg, "plain"), body_of(msg, "html")
    assert text.rstrip("\n") == row.body_text.rstrip("\n")
    assert html.rstrip("\n") == row.body_html.rstrip("\n")
    c = contract(db, cid)
    assert c.scope in text and len(c.scope) == Limits().max_scope
    assert all(m.title in text and m.title in html for m in c.live_milestones) and len(c.live_milestones) == 50
    assert link_in(text) == link_in(row.body_text) and link_in(row.body_text) in html


def test_the_longest_change_request_reaches_the_freelancer(logged_in, visitor, db, smtp, outbox):
    cid = milestone_contract(logged_in, amounts=("1000",))
    send(logged_in, cid)
    assert mailer.wait_idle(30)
    link = link_in(outbox()[-1].body_text)
    verify(visitor, link, outbox, "changes")
    message = ("Please change “this” — é. " + "x" * 1500 + " ")
    message = (message * 10)[:MESSAGE_LENGTH].strip()
    r = visitor.post(f"{link}/changes", {"message": message})
    assert r.status_code == 303, r.text
    msg = [m for m in delivered(smtp) if m["To"] == "fran@example.com"][-1]
    assert smtp.too_long == []
    assert message in body_of(msg, "plain")
    assert message in body_of(msg, "html")
    assert f"http://localhost/contracts/{cid}" in body_of(msg, "plain")


def test_a_hung_mail_server_never_holds_up_a_request(logged_in, db, hung_smtp, outbox):
    cid = milestone_contract(logged_in, amounts=("1000",))
    started = time.monotonic()
    send(logged_in, cid)
    elapsed = time.monotonic() - started
    assert elapsed < HUNG_TIMEOUT / 2, f"sending took {elapsed:.2f}s: the request waited on SMTP"
    assert contract(db, cid).state == "sent"
    # the background sender gives up on this attempt after MAIL_TIMEOUT and records it
    assert mailer.wait_idle(HUNG_TIMEOUT * 3)
    db.session.expire_all()
    [row] = outbox()
    assert row.sent_at is None and row.attempts == 1 and f"did not answer within {HUNG_TIMEOUT} seconds" in row.last_error
    assert row.next_attempt_at > row.created_at


def test_delivery_to_a_hung_server_is_bounded_by_the_timeout(app, runner, db, member, hung_smtp, outbox):
    with app.test_request_context():
        for n in range(3):
            mailer.queue("x@example.com", f"Queued {n}", "withdrawn", contract=None, member=member)
    db.session.commit()
    started = time.monotonic()
    counts = mailer.deliver_pending()
    elapsed = time.monotonic() - started
    # one timeout, not one per email: a server that hangs once will hang for the next one too
    assert counts == {"sent": 0, "failed": 1} and HUNG_TIMEOUT * 0.9 < elapsed < HUNG_TIMEOUT * 2
    first, *rest = outbox()
    assert first.attempts == 1 and "did not answer" in first.last_error
    assert [r.attempts for r in rest] == [0, 0]
    started = time.monotonic()
    result = runner.invoke(args=["mail", "send-pending"])
    assert result.exit_code == 0 and "sent 0, failed 1" in result.output
    assert time.monotonic() - started < HUNG_TIMEOUT * 2


def test_a_refused_address_is_given_up_at_once_and_shown_to_the_member(logged_in, db, smtp, outbox):
    cid = create_draft(logged_in, email="nobody@client-co.com")
    save_terms(logged_in, cid)
    add_milestone(logged_in, cid, "Build", "1000")
    send(logged_in, cid)
    assert delivered(smtp) == []
    db.session.expire_all()
    [row] = outbox()
    assert row.sent_at is None and row.attempts == mailer.MAX_ATTEMPTS  # no retry of a 5xx refusal
    assert mailer.deliver_pending(now=row.next_attempt_at + timedelta(days=1)) == {"sent": 0, "failed": 0}
    page = logged_in.get(f"/contracts/{cid}").text
    notice = re.search(r'<div id="undeliverable-emails">(.*?)</div>', page, re.S).group(1)
    assert "could not be delivered" in notice and "nobody@client-co.com" in notice
    assert "550 5.1.1" in notice and "Recipient address rejected" in notice
    [note] = db.session.scalars(db.select(Notification)).all()
    assert "nobody@client-co.com could not be delivered" in note.message
    assert ">1</span>" in logged_in.get("/contracts").text  # the bell


def test_an_email_given_up_after_every_retry_is_shown_until_one_gets_through(logged_in, db, dead_smtp, outbox):
    cid = milestone_contract(logged_in, amounts=("1000",))
    send(logged_in, cid)
    assert mailer.wait_idle(30)
    assert "could not be delivered" not in logged_in.get(f"/contracts/{cid}").text  # still retrying
    db.session.expire_all()
    [row] = outbox()
    while row.attempts < mailer.MAX_ATTEMPTS:
        mailer.deliver_pending(now=row.next_attempt_at + timedelta(seconds=1))
        db.session.expire_all()
        row = db.session.get(OutboxEmail, row.id)
    assert row.sent_at is None and row.attempts == mailer.MAX_ATTEMPTS
    page = logged_in.get(f"/contracts/{cid}").text
    assert "to carla@client-co.com could not be delivered: could not reach the mail server" in page
    # once a later email reaches that address, the notice has done its job
    later = OutboxEmail(to_addr="carla@client-co.com", subject="Later", body_text="x", contract_id=cid,
                        attempts=1, sent_at=row.next_attempt_at, transport="smtp")
    db.session.add(later)
    db.session.commit()
    assert "could not be delivered" not in logged_in.get(f"/contracts/{cid}").text


def test_email_row_is_rolled_back_with_a_failed_change(app, db, member):
    from directcontracts.models import Contract
    with app.test_request_context():
        mailer.queue("x@example.com", "Will vanish", "withdrawn", contract=None, member=member)
        db.session.rollback()
    assert db.session.scalar(db.select(db.func.count()).select_from(Contract)) == 0
    from directcontracts.models import OutboxEmail
    assert db.session.scalar(db.select(db.func.count(OutboxEmail.id))) == 0


def test_a_claimed_row_is_not_sent_twice(app, db, member, monkeypatch):
    from directcontracts.models import OutboxEmail
    with app.test_request_context():
        row = mailer.queue("x@example.com", "Once", "withdrawn", contract=None, member=member)
    db.session.commit()
    first = mailer._claim(row.id)
    assert first is not None
    assert mailer._claim(row.id) is None  # a second process loses the race
    # the clock moves on: still claimed just before the timeout, free (its deliverer died) after it
    monkeypatch.setattr(mailer, "utcnow", lambda: first + mailer.CLAIM_TIMEOUT - timedelta(seconds=1))
    assert mailer._claim(row.id) is None
    monkeypatch.setattr(mailer, "utcnow", lambda: first + mailer.CLAIM_TIMEOUT + timedelta(seconds=1))
    assert mailer._claim(row.id) == first + mailer.CLAIM_TIMEOUT + timedelta(seconds=1)
    assert db.session.get(OutboxEmail, row.id).sent_at is None


def test_a_batch_cannot_outlast_its_own_claims():
    assert timedelta(seconds=mailer.BATCH_SECONDS) * 4 <= mailer.CLAIM_TIMEOUT


def test_a_run_with_an_old_now_claims_with_the_real_clock(app, db, smtp, outbox):
    """jobs.run_due passes the start of its run: after a slow reconciliation it is long past.

    A claim stamped with that time was stale when made, so a second deliverer
    (the web process's background sender, on the real clock) re-claimed the
    row while it was being sent, and the email went out twice.
    """
    from directcontracts.models import utcnow
    run_started = utcnow() - mailer.CLAIM_TIMEOUT - timedelta(minutes=1)
    db.session.add(OutboxEmail(to_addr="x@example.com", subject="Once only", body_text="x",
                               next_attempt_at=run_started - timedelta(minutes=1)))
    db.session.commit()
    [row] = outbox()
    real_send, seen = mailer._smtp_send, {}

    def second_deliverer():
        with app.app_context():
            try:
                seen["counts"] = mailer.deliver_pending()  # real clock, no request: sends at once
            finally:
                db.session.remove()

    def send_slowly(msg):  # mid-send, another process looks for due mail
        with app.app_context():
            seen["claimed_at"] = db.session.get(OutboxEmail, row.id).claimed_at
            db.session.remove()
        other = threading.Thread(target=second_deliverer)
        other.start()
        other.join(30)
        real_send(msg)

    before = utcnow()
    mailer._smtp_send = send_slowly
    try:
        counts = mailer.deliver_pending(now=run_started)
    finally:
        mailer._smtp_send = real_send
    assert counts == {"sent": 1, "failed": 0}
    assert seen["claimed_at"] >= before  # not the run's old now: the claim is fresh
    assert seen["counts"] == {"sent": 0, "failed": 0}  # the row was not re-claimed mid-send
    assert [m["Subject"] for m in delivered(smtp)] == ["Once only"]
    db.session.expire_all()
    [row] = outbox()
    assert row.sent_at and row.attempts == 1


def test_a_deliverer_sends_nothing_whose_claim_it_lost(app, db, smtp, outbox, monkeypatch):
    """The claim is re-checked right before the send: a row taken over meanwhile is left to its new owner."""
    db.session.add(OutboxEmail(to_addr="x@example.com", subject="Taken over", body_text="x"))
    db.session.commit()
    [row] = outbox()
    real_claim = mailer._claim

    def claim_then_lose_it(email_id):
        stamp = real_claim(email_id)
        db.session.execute(db.update(OutboxEmail).where(OutboxEmail.id == email_id)
                           .values(claimed_at=stamp + timedelta(seconds=1)))  # someone else's claim now
        db.session.commit()
        return stamp

    monkeypatch.setattr(mailer, "_claim", claim_then_lose_it)
    assert mailer.deliver_pending() == {"sent": 0, "failed": 0}
    assert delivered(smtp) == []
    db.session.expire_all()
    [row] = outbox()
    assert row.sent_at is None and row.attempts == 0


def test_a_retry_after_a_run_with_an_old_now_is_not_due_at_once(app, db, dead_smtp, outbox):
    from directcontracts.models import utcnow
    run_started = utcnow() - timedelta(minutes=30)
    db.session.add(OutboxEmail(to_addr="x@example.com", subject="Retry later", body_text="x",
                               next_attempt_at=run_started - timedelta(minutes=1)))
    db.session.commit()
    before = utcnow()
    assert mailer.deliver_pending(now=run_started) == {"sent": 0, "failed": 1}
    db.session.expire_all()
    [row] = outbox()
    assert row.claimed_at is None and row.next_attempt_at >= before + mailer._backoff(1)


class HandOffWhenTheSenderStops:
    """The sender's lock, delivering a hand-off at the worst moment.

    Right after the background sender has decided, under the lock, that there
    is no more work, a request (in its own thread, as in production) queues an
    email and hands it off. Before the fix the sender still counted as running
    then, so the hand-off started no thread and the email waited for cron.
    """

    def __init__(self, app):
        self.app, self.lock, self.fired = app, threading.Lock(), False
        self.handed_off = threading.Event()

    def __enter__(self):
        self.lock.acquire()
        self.wanted_on_entry = mailer._wanted

    def __exit__(self, *exc_info):
        stopping = threading.current_thread().name == "outbox-sender" and not self.wanted_on_entry
        self.lock.release()
        if stopping and not self.fired:
            self.fired = True
            request = threading.Thread(target=self.request)
            request.start()
            request.join(30)
            self.handed_off.set()

    def request(self):
        with self.app.test_request_context():
            try:
                db_ = mailer.db
                db_.session.add(OutboxEmail(to_addr="x@example.com", subject="Second", body_text="x"))
                db_.session.commit()
                mailer.deliver_pending()  # in a request: hands off
            finally:
                db_.session.remove()


def test_a_hand_off_as_the_sender_stops_is_not_lost(app, db, smtp, outbox, monkeypatch):
    lock = HandOffWhenTheSenderStops(app)
    monkeypatch.setattr(mailer, "_lock", lock)
    db.session.add(OutboxEmail(to_addr="x@example.com", subject="First", body_text="x"))
    db.session.commit()
    with app.test_request_context():
        mailer.deliver_pending()
    assert lock.handed_off.wait(30)  # so that wait_idle cannot return between the two senders
    assert [m["Subject"] for m in delivered(smtp)] == ["First", "Second"]
    assert lock.fired and mailer._wanted is False


def test_send_pending_cli(app, runner, db, member):
    with app.test_request_context():
        for n in range(2):
            mailer.queue("x@example.com", f"Queued {n}", "withdrawn", contract=None, member=member)
    db.session.commit()
    result = runner.invoke(args=["mail", "send-pending", "--limit", "1"])
    assert result.exit_code == 0 and "sent 1, failed 0" in result.output
    result = runner.invoke(args=["mail", "send-pending"])
    assert result.exit_code == 0 and "sent 1, failed 0" in result.output


def test_subjects_built_from_the_longest_titles_fit_and_nothing_fails(logged_in, visitor, outbox, db, gateway):
    """Two 200-character titles in one subject ("Refund: … for <milestone> — <contract>") used to
    overflow the subject column on PostgreSQL: the refund was made at the gateway, the app answered 500."""
    from tests.conftest import sales
    from tests.web.builders import fund, request_payment, save_terms, send, verify

    title, milestone = "T" * 200, "M" * 200
    cid = create_draft(logged_in)
    save_terms(logged_in, cid, title=title)
    add_milestone(logged_in, cid, milestone, "100")
    add_milestone(logged_in, cid, milestone, "200")
    send(logged_in, cid)
    link = link_in(outbox()[-1].body_text)
    verify(visitor, link, outbox)
    assert fund(visitor, link, choice="all").status_code == 303
    first, second = contract(db, cid).milestones
    request_payment(logged_in, cid, first.id)
    gateway.settle(sales(gateway)[0]["id"])  # a partial refund needs a settled sale
    r = logged_in.post(f"/contracts/{cid}/milestones/{second.id}/refund", {"reason": "Not needed."})
    assert r.status_code == 303, r.text
    assert contract(db, cid).milestones[1].state == "refunded"
    subjects = [e.subject for e in outbox()]
    assert max(map(len, subjects)) <= mailer.MAX_SUBJECT == 300
    assert any(s.startswith("Refund: $200.00 for MMM") and s.endswith("…") for s in subjects)
