"""Email through the outbox.

``queue`` adds a row to the current transaction, so an email exists exactly
when the change that caused it was committed. ``deliver_pending`` runs after
commit: it claims each due row (so two processes never send one twice), sends
it by SMTP (or, with no MAIL_SERVER, keeps it for the local inbox) and records
the outcome. A failed send is retried with back-off and never touches the
change that queued it.
"""
from __future__ import annotations

import logging
from datetime import timedelta

from flask import current_app, render_template
from flask_mail import Message

from ..extensions import db, mail
from ..models import OutboxEmail, utcnow

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
CLAIM_TIMEOUT = timedelta(minutes=5)


def queue(to: str, subject: str, template: str, *, contract=None, **context) -> OutboxEmail:
    """Render ``templates/email/<template>.txt`` (and ``.html``) into an outbox row."""
    context.update(contract=contract, subject=subject)
    email = OutboxEmail(
        to_addr=to,
        subject=subject,
        body_text=render_template(f"email/{template}.txt", **context),
        body_html=render_template(f"email/{template}.html", **context),
        contract_id=contract.id if contract is not None else None,
    )
    db.session.add(email)
    if contract is not None:
        from .activity import record  # the timeline lists every email (subjects never carry secrets)
        record(contract, "email", "system", f"Email to {to}: “{subject}”.")
    return email


def _backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(60 * 2 ** (attempts - 1), 6 * 3600))


def _claim(email_id: int, now) -> bool:
    """Atomically claim an unsent row; False if another process has it."""
    stale = now - CLAIM_TIMEOUT
    result = db.session.execute(
        db.update(OutboxEmail)
        .where(OutboxEmail.id == email_id, OutboxEmail.sent_at.is_(None),
               db.or_(OutboxEmail.claimed_at.is_(None), OutboxEmail.claimed_at < stale))
        .values(claimed_at=now)
    )
    db.session.commit()
    return result.rowcount == 1


def _send(email: OutboxEmail) -> str:
    """Send one email; returns the transport used."""
    if not current_app.config.get("MAIL_SERVER"):
        return "inbox"
    msg = Message(subject=email.subject, recipients=[email.to_addr], body=email.body_text,
                  html=email.body_html or None)
    mail.send(msg)
    return "smtp"


def deliver_pending(limit: int = 50, now=None) -> dict[str, int]:
    """Send due outbox rows; returns counts of sent and failed. Never raises for a send."""
    now = now or utcnow()
    ids = db.session.scalars(
        db.select(OutboxEmail.id)
        .where(OutboxEmail.sent_at.is_(None), OutboxEmail.attempts < MAX_ATTEMPTS,
               OutboxEmail.next_attempt_at <= now)
        .order_by(OutboxEmail.id).limit(limit)
    ).all()
    counts = {"sent": 0, "failed": 0}
    for email_id in ids:
        if not _claim(email_id, now):
            continue
        email = db.session.get(OutboxEmail, email_id)
        email.attempts += 1
        try:
            email.transport = _send(email)
        except Exception as exc:  # any SMTP/network failure is retried later
            log.warning("email %s to %s failed (attempt %s): %s", email.id, email.to_addr,
                        email.attempts, exc)
            email.last_error = f"{type(exc).__name__}: {exc}"[:2000]
            email.next_attempt_at = now + _backoff(email.attempts)
            email.claimed_at = None
            counts["failed"] += 1
        else:
            email.sent_at = utcnow()
            email.last_error = None
            counts["sent"] += 1
        db.session.commit()
    return counts


def recent(limit: int = 200) -> list[OutboxEmail]:
    """The newest emails, for the local inbox."""
    return list(db.session.scalars(db.select(OutboxEmail).order_by(OutboxEmail.id.desc()).limit(limit)))


def get(email_id: int) -> OutboxEmail | None:
    return db.session.get(OutboxEmail, email_id)
