"""The gateway's webhook notifications: verified, stored raw once, then applied.

``receive`` verifies the signature (the adapter: Braintree's SDK, or the test
gateway's HMAC), stores the notification — its SHA-256 digest is unique, so a
notification delivered twice is kept and applied once — and applies it. What
applying does, by kind:

* ``check``: nothing (Braintree's test notification);
* ``transaction_settled`` / ``transaction_settlement_declined``:
  ``funding.mark_settled`` (queued refunds go out) / ``mark_settlement_declined``
  (the funding is reversed, ``chargebacks.reverse``);
* ``dispute_*``: ``chargebacks.apply`` (freeze, lift, or post the chargeback);
* anything else: stored, ``ignored``.

Every handler is idempotent and order-proof on its own. A notification whose
applying raised stays ``received`` (the error kept in ``message``) and
``retry_due`` (``jobs run-due``) applies it again — the gateway was already
answered 200: it was stored, which is all the gateway needs to know.
"""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict
from datetime import date, datetime, timedelta

from sqlalchemy.exc import IntegrityError

from ..domain.money import Money
from ..domain.payments import GatewayDispute, WebhookEvent
from ..extensions import db
from ..models import PaymentAttempt, WebhookNotification, utcnow
from ..payments import current_gateway
from . import chargebacks, funding, ledger
from .isolation import each
from .locks import waiting_at_most

log = logging.getLogger(__name__)

#: A notification whose applying failed is tried again by ``jobs run-due`` after this long ...
RETRY_AFTER = timedelta(minutes=1)
#: ... at most this many times (then it waits for a person: ``ledger check`` names it).
MAX_TRIES = ledger.WEBHOOK_TRIES
#: While answering the gateway, a row lock is waited for at most this long (PostgreSQL): past it the
#: notification is kept (200) and ``jobs run-due`` applies it, rather than hold a web worker.
LOCK_WAIT_MS = 3000
SETTLED = ("transaction_settled",)
DECLINED = ("transaction_settlement_declined",)


def receive(signature: str, payload: str, now: datetime | None = None) -> WebhookNotification:
    """Verify, store once, apply. Raises ``InvalidWebhook`` (nothing stored) for a bad signature."""
    now = now or utcnow()
    event = current_gateway().parse_webhook(signature, payload)
    digest = hashlib.sha256(payload.encode()).hexdigest()
    row = WebhookNotification(digest=digest, kind=event.kind[:60], payload=payload, event=_dump(event),
                              subject_id=((event.dispute.id if event.dispute else None) or event.transaction_id),
                              sent_at=event.timestamp, received_at=now)
    db.session.add(row)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        log.info("webhook %s delivered again (digest %s): already stored", event.kind, digest[:12])
        return db.session.scalar(db.select(WebhookNotification).where(WebhookNotification.digest == digest))
    notification_id = row.id
    try:
        with waiting_at_most(LOCK_WAIT_MS):  # a contract locked for long: answer now, apply it later
            apply(notification_id, now)
    except Exception:  # kept as received, with the error: jobs run-due applies it again
        db.session.rollback()
    return db.session.get(WebhookNotification, notification_id)


def apply(notification_id: int, now: datetime | None = None) -> str:
    """Apply a stored notification (if not done yet); keeps what happened on it and returns it."""
    now = now or utcnow()
    row = db.session.get(WebhookNotification, notification_id)
    if row is None or row.status != "received":
        db.session.rollback()
        return "done before"
    event = _load(row.event)
    db.session.rollback()
    try:
        outcome = _handle(event, now)
    except Exception as exc:
        db.session.rollback()
        log.exception("webhook %s (%s): applying failed, retried by jobs run-due", notification_id, event.kind)
        _mark(notification_id, "received", f"failed: {type(exc).__name__}: {exc}"[:500], now)
        raise
    _mark(notification_id, "ignored" if outcome.startswith("ignored") else "applied", outcome, now)
    return outcome


def _handle(event: WebhookEvent, now: datetime) -> str:
    if event.kind == "check":
        return "applied: check answered"
    if event.kind in SETTLED + DECLINED and not _ours(event.transaction_id):
        return f"ignored: sale {event.transaction_id} is no payment of ours"
    if event.kind in SETTLED and event.transaction_id:
        issued = funding.mark_settled(event.transaction_id, now)
        return f"applied: settled, {issued} queued refund(s) issued"
    if event.kind in DECLINED and event.transaction_id:
        funding.mark_settlement_declined(event.transaction_id, now)
        return "applied: settlement declined"
    if event.kind.startswith("dispute_"):
        return chargebacks.apply(event, now)
    return f"ignored: the app does not act on {event.kind}"


def _ours(transaction_id: str | None) -> bool:
    found = transaction_id and db.session.scalar(
        db.select(PaymentAttempt.id).where(PaymentAttempt.transaction_id == transaction_id).limit(1))
    db.session.rollback()
    return bool(found)


def _mark(notification_id: int, status: str, message: str, now: datetime) -> None:
    db.session.execute(
        db.update(WebhookNotification).where(WebhookNotification.id == notification_id,
                                             WebhookNotification.status == "received")
        .values(status=status, message=message, tries=WebhookNotification.tries + 1,
                applied_at=now if status != "received" else None)
        .execution_options(synchronize_session=False))
    db.session.commit()


def retry_due(now: datetime, failures: list[str]) -> int:
    """Apply again the notifications whose applying failed (or was interrupted); returns how many applied."""
    ids = list(db.session.scalars(
        db.select(WebhookNotification.id).where(WebhookNotification.status == "received",
                                                WebhookNotification.received_at <= now - RETRY_AFTER,
                                                WebhookNotification.tries < MAX_TRIES)
        .order_by(db.func.coalesce(WebhookNotification.sent_at, WebhookNotification.received_at),
                  WebhookNotification.id).limit(200)))
    db.session.rollback()
    return each(ids, failures, "applying webhook notification {}", lambda i: apply(i, now) != "done before")


def stuck() -> list[WebhookNotification]:
    """Notifications that could not be applied after MAX_TRIES: for a person (``ledger check`` names them)."""
    return list(db.session.scalars(db.select(WebhookNotification).where(
        WebhookNotification.status == "received", WebhookNotification.tries >= MAX_TRIES)
        .order_by(WebhookNotification.id)))


def recent(limit: int = 100) -> list[WebhookNotification]:
    return list(db.session.scalars(db.select(WebhookNotification).order_by(WebhookNotification.id.desc())
                                   .limit(limit)))


# ---- the parsed event, kept as JSON so it can be applied again without the signature

def _dump(event: WebhookEvent) -> str:
    data = asdict(event)
    data["timestamp"] = event.timestamp.isoformat() if event.timestamp else None
    if event.dispute is not None:
        d = event.dispute
        data["dispute"] = {"id": d.id, "transaction_id": d.transaction_id, "amount_minor": d.amount.minor,
                           "currency": d.amount.currency, "status": d.status, "kind": d.kind, "reason": d.reason,
                           "reply_by": d.reply_by.isoformat() if d.reply_by else None}
    return json.dumps(data, default=str, sort_keys=True)


def _load(text: str) -> WebhookEvent:
    data = json.loads(text)
    d = data.get("dispute")
    dispute = None if not d else GatewayDispute(
        id=d["id"], transaction_id=d["transaction_id"], amount=Money(d["amount_minor"], d["currency"]),
        status=d["status"], kind=d["kind"], reason=d["reason"],
        reply_by=date.fromisoformat(d["reply_by"]) if d["reply_by"] else None)
    return WebhookEvent(kind=data["kind"], transaction_id=data.get("transaction_id"), order_id=data.get("order_id"),
                        raw=data.get("raw") or {},
                        timestamp=datetime.fromisoformat(data["timestamp"]) if data.get("timestamp") else None,
                        dispute=dispute)
