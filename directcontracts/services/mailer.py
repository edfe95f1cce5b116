"""Email through the outbox.

``queue`` adds a row to the current transaction, so an email exists exactly
when the change that caused it was committed. ``deliver_pending`` runs after
commit: it claims each due row (so two processes never send one twice), sends
it by SMTP (or, with no MAIL_SERVER, keeps it for the local inbox) and records
the outcome. A failed send is retried with back-off and never touches the
change that queued it.

A web request never waits on SMTP: called inside a request with a mail server
configured, ``deliver_pending`` hands the work to one background sender thread
per process and returns at once (the jobs runner retries whatever that thread
could not send). The jobs runner and ``flask mail send-pending`` deliver in
their own thread, bounded by MAIL_TIMEOUT per SMTP step, a row limit and a
time budget. An email is given up after MAX_ATTEMPTS, or at once when the
server refuses it permanently (a 5xx for the recipient or the message); the
member is notified and the contract page says so (``undeliverable``).

Messages are built here rather than by Flask-Mail's ``Message``: Flask-Mail
registers utf-8 as an 8bit charset, so a long scope or milestone list became
one line of thousands of characters, which SMTP servers refuse (RFC 5321
allows 998). Quoted-printable bodies keep every line short whatever the
content. Flask-Mail still holds the SMTP settings (``mail`` in extensions).
"""
from __future__ import annotations

import logging
import smtplib
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.charset import QP, Charset
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formataddr, formatdate, make_msgid, parseaddr

from flask import current_app, has_request_context, render_template
from markupsafe import Markup

from ..extensions import db
from ..models import Contract, OutboxEmail, utcnow
from .isolation import backoff

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
#: A claim older than this is taken to belong to a deliverer that died
#: mid-send, and the row may be claimed (and sent) again. It must be far
#: longer than any one send can take (each SMTP step is bounded by MAIL_TIMEOUT).
CLAIM_TIMEOUT = timedelta(minutes=10)
#: A run of deliver_pending starts no new send after this many seconds, so a
#: slow (but answering) mail server cannot keep the jobs runner busy forever.
#: Kept well under CLAIM_TIMEOUT (each row is claimed just before its own send,
#: with the real clock, so a long batch cannot make its own claims stale anyway).
BATCH_SECONDS = 120


#: The outbox's subject column; subjects built from two 200-character titles can exceed it.
MAX_SUBJECT = OutboxEmail.__table__.c.subject.type.length


def fit_subject(subject: str, limit: int = MAX_SUBJECT) -> str:
    """The subject, shortened with an ellipsis to what the outbox (and a mail reader) holds."""
    subject = " ".join(subject.split())
    return subject if len(subject) <= limit else subject[:limit - 1].rstrip() + "…"


def _branded(kind: str, body: str, to: str, contract) -> str:
    """``body`` inside the shop's frame (``email/_layout.<kind>``): its name, logo and accent above; below, who
    sent it (to the client: the freelancer) and the address to write to."""
    from . import brand, links

    shop = brand.current()
    to_client = contract is not None and to.lower() == (contract.client_email or "").lower()
    sender = contract.member if to_client else None
    logo_url = links.external_url("brand.logo", v=shop.logo_version) if shop.logo_version else None
    return render_template(f"email/_layout.{kind}", body=Markup(body) if kind == "html" else body, shop=shop,
                           sender=sender, contact=shop.contact_for(sender) if to_client else shop.contact_email,
                           logo_url=logo_url)


def queue(to: str, subject: str, template: str, *, contract=None, **context) -> OutboxEmail:
    """Render ``templates/email/<template>.txt`` (and ``.html``), each in the shop's frame, into an outbox row."""
    from .preferences import display_for_address  # accounts (which preferences reads) queues email too
    subject = fit_subject(subject)
    # times and amounts in the recipient's zone and locale: a member's own, the shop's for a client
    context.update(contract=contract, subject=subject, display=display_for_address(to))
    email = OutboxEmail(
        to_addr=to,
        subject=subject,
        body_text=_branded("txt", render_template(f"email/{template}.txt", **context), to, contract),
        body_html=_branded("html", render_template(f"email/{template}.html", **context), to, contract),
        contract_id=contract.id if contract is not None else None,
    )
    db.session.add(email)
    if contract is not None:
        from .activity import record  # the timeline lists every email (subjects never carry secrets)
        record(contract, "email", "system", f"Email to {to}: “{subject}”.")
    return email


def _backoff(attempts: int) -> timedelta:
    return backoff(attempts, timedelta(minutes=1), timedelta(hours=6))


def _claim(email_id: int) -> datetime | None:
    """Atomically claim an unsent row; returns the claim's stamp, or None if another deliverer has it.

    The stamp is always the real clock, never a run's ``now``: the jobs runner
    passes the time its whole run started (or a pretend ``--now``), and a claim
    stamped with an old time would look stale -- free for another deliverer to
    take and send again -- the moment it was made. The stamp also identifies
    the claim: a second claim of the row is only possible once this one is
    CLAIM_TIMEOUT old, so it can never carry the same stamp.
    """
    stamp = utcnow()
    result = db.session.execute(
        db.update(OutboxEmail)
        .where(OutboxEmail.id == email_id, OutboxEmail.sent_at.is_(None),
               db.or_(OutboxEmail.claimed_at.is_(None), OutboxEmail.claimed_at < stamp - CLAIM_TIMEOUT))
        .values(claimed_at=stamp)
    )
    db.session.commit()
    return stamp if result.rowcount == 1 else None


def _load_if_ours(email_id: int, stamp: datetime) -> OutboxEmail | None:
    """The row, freshly read, if it is still unsent and still under our claim; else None."""
    email = db.session.scalars(
        db.select(OutboxEmail).where(OutboxEmail.id == email_id)
        .execution_options(populate_existing=True)
    ).one_or_none()
    if email is None or email.sent_at is not None or email.claimed_at != stamp:
        return None
    return email


def _quoted_printable_utf8() -> Charset:
    """utf-8 with quoted-printable bodies.

    Flask-Mail registers utf-8 process-wide with *no* body encoding (8bit, no
    wrapping), so this instance overrides it for our messages only.
    """
    charset = Charset("utf-8")
    charset.body_encoding = QP
    return charset


def build_message(email: OutboxEmail, sender: str | tuple[str, str]) -> Message:
    """The MIME message for an outbox row: text and HTML alternatives, quoted-printable.

    Quoted-printable wraps every body line at 76 characters with soft breaks
    that the reader's mail program removes, so the text arrives unchanged.
    Headers are ``email.header.Header`` objects under the compat32 policy:
    the newer policy's folding drops the space between two encoded words
    (a long non-ASCII subject lost spaces on CPython 3.11).
    """
    if isinstance(sender, (tuple, list)):
        sender = formataddr(tuple(sender), charset="utf-8")
    msg = MIMEMultipart("alternative")
    msg.attach(MIMEText(email.body_text, "plain", _quoted_printable_utf8()))
    if email.body_html:
        msg.attach(MIMEText(email.body_html, "html", _quoted_printable_utf8()))
    msg["Subject"] = Header(email.subject, "utf-8", header_name="Subject")
    msg["From"] = sender
    msg["To"] = email.to_addr
    msg["Date"] = formatdate(usegmt=True)
    # An explicit domain: make_msgid() would otherwise ask DNS for this host's name.
    domain = parseaddr(sender)[1].rpartition("@")[2] or "localhost"
    msg["Message-ID"] = make_msgid(domain=domain)
    for name in ("Subject", "From", "To"):
        if any(c in str(msg[name]) for c in "\r\n"):  # Header() would fold it in, not refuse it
            raise ValueError(f"line break in the {name} header")
    return msg


def _smtp_send(msg: Message) -> None:
    """Send one message; every SMTP step (connect, each reply) waits at most MAIL_TIMEOUT."""
    state = current_app.extensions["mail"]
    timeout = float(current_app.config.get("MAIL_TIMEOUT") or 10)
    smtp_class = smtplib.SMTP_SSL if state.use_ssl else smtplib.SMTP
    host = smtp_class(state.server, state.port, timeout=timeout)
    try:
        if state.use_tls:
            host.starttls()
        if state.username and state.password:
            host.login(state.username, state.password)
        host.send_message(msg)
    finally:
        # Once the server has accepted the message it is delivered: a failing
        # QUIT must not turn it into a failure that would send it twice.
        try:
            host.quit()
        except (OSError, smtplib.SMTPException):
            host.close()


class Unbuildable(Exception):
    """The outbox row cannot be turned into a valid message."""


def _send(email: OutboxEmail) -> str:
    """Send one email; returns the transport used."""
    if not current_app.config.get("MAIL_SERVER"):
        return "inbox"
    state = current_app.extensions["mail"]
    try:
        msg = build_message(email, state.default_sender)
    except (ValueError, TypeError) as exc:  # e.g. a line break in a header
        raise Unbuildable(f"{type(exc).__name__}: {exc}") from exc
    if state.suppress:  # MAIL_SUPPRESS_SEND: built (so it is checked) but not sent
        return "suppressed"
    _smtp_send(msg)
    return "smtp"


@dataclass(frozen=True)
class _Failure:
    reason: str      # shown to the member
    permanent: bool  # retrying cannot help
    server_down: bool  # the next email in this run would fail the same way


def _failure(exc: Exception) -> _Failure:
    """Classify a send failure: what to tell the member, whether to retry, whether to stop the run."""
    name = type(exc).__name__
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        answers = "; ".join(f"{code} {text.decode(errors='replace')}" for code, text in exc.recipients.values())
        return _Failure(f"the mail server refused the address ({answers})",
                        permanent=all(500 <= code < 600 for code in codes), server_down=False)
    if isinstance(exc, smtplib.SMTPResponseException):
        text = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        # Only a refusal of this message (after DATA) concerns this email alone,
        # and a 5xx one is final; a refused sender, login or greeting is the
        # shop's mail set-up: every email would fail the same way until it is fixed.
        refused_message = isinstance(exc, smtplib.SMTPDataError)
        return _Failure(f"the mail server answered {exc.smtp_code} {text} ({name})",
                        permanent=refused_message and 500 <= exc.smtp_code < 600,
                        server_down=not refused_message)
    # smtplib turns a read that timed out into "disconnected"; the cause says which.
    if isinstance(exc, TimeoutError) or isinstance(exc.__context__, TimeoutError):
        timeout = current_app.config.get("MAIL_TIMEOUT") or 10
        return _Failure(f"the mail server did not answer within {timeout} seconds ({name})",
                        permanent=False, server_down=True)
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return _Failure(f"the mail server closed the connection ({name}: {exc})", permanent=False, server_down=True)
    if isinstance(exc, OSError) and not isinstance(exc, smtplib.SMTPException):
        return _Failure(f"could not reach the mail server ({name}: {exc})", permanent=False, server_down=True)
    if isinstance(exc, Unbuildable):  # the stored row never changes, so neither will the outcome
        return _Failure(f"the email could not be built ({exc})", permanent=True, server_down=False)
    return _Failure(f"{name}: {exc}", permanent=False, server_down=False)


def _give_up(email: OutboxEmail, reason: str) -> None:
    """No more retries; the member hears about it (bell and contract page) instead of never."""
    email.attempts = max(email.attempts, MAX_ATTEMPTS)  # the row is final: no retry selects it
    log.error("email %s to %s given up: %s", email.id, email.to_addr, reason)
    if email.contract_id is not None:
        from .activity import notify
        contract = db.session.get(Contract, email.contract_id)
        notify(contract, f"The email “{email.subject}” to {email.to_addr} could not be delivered: {reason}")


def deliver_pending(limit: int = 50, now=None, budget: float = BATCH_SECONDS) -> dict[str, int]:
    """Send due outbox rows; returns counts of sent and failed. Never raises for a send.

    Inside a web request with a mail server configured, only hands the work to
    the background sender and returns zeros: the response must not wait on
    SMTP. Elsewhere (jobs runner, CLI, tests) it sends now: at most ``limit``
    rows, none started after ``budget`` seconds, and it stops at the first
    sign that the server is down or hung (the rest wait for the next run).

    ``now`` (default: the real clock) decides which rows are due, so the jobs
    runner's ``--now`` and the tests can pretend it is later. Claims always use
    the real clock, and a retry is scheduled from the later of ``now`` and the
    real clock (an old ``now`` -- the start of a long jobs run -- must not make
    the retry due at once).
    """
    if has_request_context() and current_app.config.get("MAIL_SERVER"):
        _hand_off(current_app._get_current_object())
        return {"sent": 0, "failed": 0}
    now = now or utcnow()
    started = time.monotonic()
    ids = db.session.scalars(
        db.select(OutboxEmail.id)
        .where(OutboxEmail.sent_at.is_(None), OutboxEmail.attempts < MAX_ATTEMPTS,
               # a retry waits for its time; a new email is due once it exists (by the real clock, too:
               # one queued during this jobs run, after its ``now``, goes out in the same run)
               db.or_(OutboxEmail.next_attempt_at <= now,
                      db.and_(OutboxEmail.attempts == 0, OutboxEmail.next_attempt_at <= utcnow())))
        .order_by(OutboxEmail.id).limit(limit)
    ).all()
    counts = {"sent": 0, "failed": 0}
    for email_id in ids:
        if time.monotonic() - started > budget:
            break
        stamp = _claim(email_id)
        if stamp is None:
            continue
        email = _load_if_ours(email_id, stamp)  # re-checked right before the send
        if email is None:
            continue
        email.attempts += 1
        failure = None
        try:
            email.transport = _send(email)
        except Exception as exc:  # any SMTP/network failure is recorded, never raised
            failure = _failure(exc)
            log.warning("email %s to %s failed (attempt %s): %s", email.id, email.to_addr,
                        email.attempts, failure.reason)
            email.last_error = failure.reason[:2000]
            email.next_attempt_at = max(now, utcnow()) + _backoff(email.attempts)
            email.claimed_at = None
            counts["failed"] += 1
            if failure.permanent or email.attempts >= MAX_ATTEMPTS:
                _give_up(email, failure.reason)
        else:
            email.sent_at = utcnow()
            email.last_error = None
            counts["sent"] += 1
        db.session.commit()
        if failure is not None and failure.server_down:
            break
    return counts


# The background sender: at most one thread per process. ``_wanted`` records a
# hand-off that arrived while the thread was busy, so it runs once more
# instead of a second thread starting. The thread decides to stop and clears
# ``_worker`` in one locked block: a hand-off is then either seen by the
# running thread (``_wanted``) or starts a new one, never lost in between.
_lock = threading.Lock()
_worker: threading.Thread | None = None
_wanted = False


def _hand_off(app) -> None:
    global _worker, _wanted
    with _lock:
        _wanted = True
        if _worker is None:
            _worker = threading.Thread(target=_work, args=(app,), name="outbox-sender", daemon=True)
            _worker.start()


def _work(app) -> None:
    global _worker, _wanted
    me = threading.current_thread()
    try:
        with app.app_context():
            while True:
                with _lock:
                    if not _wanted:
                        _worker = None  # in the same locked block: the next hand-off starts a thread
                        return
                    _wanted = False
                try:
                    deliver_pending()
                except Exception:  # e.g. a database error: logged, and no retry until the next
                    # hand-off (each one runs this loop once more) or the jobs runner
                    log.exception("background email delivery failed")
                finally:
                    db.session.remove()
    finally:
        with _lock:  # only if the loop above did not get to clear it (an unexpected error)
            if _worker is me:
                _worker = None


def wait_idle(timeout: float | None = None) -> bool:
    """Wait until the background sender has finished (tests, and a clean shutdown)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        with _lock:
            worker = _worker
        if worker is None:
            return True
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            return False
        worker.join(remaining)


def undeliverable(contract: Contract) -> list[OutboxEmail]:
    """The contract's emails that were given up and still matter, oldest first.

    One stops mattering once a later email to the same address was delivered
    (the address works now) or the address is no longer the client's nor the
    member's (it was corrected).
    """
    from . import presence  # (presence reads MAX_ATTEMPTS from this module: imported here, not at the top)
    if presence.none(contract, "given_up"):
        return []
    given_up = db.session.scalars(
        db.select(OutboxEmail).where(OutboxEmail.contract_id == contract.id, OutboxEmail.sent_at.is_(None),
                                     OutboxEmail.attempts >= MAX_ATTEMPTS).order_by(OutboxEmail.id)).all()
    if not given_up:
        return []
    address = db.func.lower(OutboxEmail.to_addr)
    last_delivered = dict(db.session.execute(
        db.select(address, db.func.max(OutboxEmail.id))
        .where(OutboxEmail.contract_id == contract.id, OutboxEmail.sent_at.is_not(None)).group_by(address)
    ).all())
    current = {contract.client_email.lower(), contract.member.email.lower()}
    return [row for row in given_up
            if row.to_addr.lower() in current and last_delivered.get(row.to_addr.lower(), 0) < row.id]


def _seen_by(member) -> list:
    """The local inbox shows the owner every email, and a member those of their own contracts and to them
    (another freelancer's client link and code are not theirs to read)."""
    if member.is_owner:
        return []
    own = db.select(Contract.id).where(Contract.member_id == member.id)
    return [db.or_(OutboxEmail.contract_id.in_(own), db.func.lower(OutboxEmail.to_addr) == member.email.lower())]


def recent(member, limit: int = 200) -> list[OutboxEmail]:
    """The newest emails ``member`` may read, for the local inbox."""
    return list(db.session.scalars(db.select(OutboxEmail).where(*_seen_by(member))
                                   .order_by(OutboxEmail.id.desc()).limit(limit)))


def get(email_id: int, member) -> OutboxEmail | None:
    """One email of the local inbox, if ``member`` may read it."""
    return db.session.scalar(db.select(OutboxEmail).where(OutboxEmail.id == email_id, *_seen_by(member)))
