"""How a client without an account proves it is them: emailed 6-digit codes.

A verified device gets a signed cookie valid for one contract for 30 days.
Limits live in the database (not process memory), so they hold across app
processes and restarts: a code lives 15 minutes, 5 wrong tries lock the
contract's codes for 15 minutes, and at most 5 codes are sent per hour.
They are kept apart for each way in (``LINK``: the client's link, which
proves its holder has the email; ``REF``: ``/c``, where the reference alone
is enough to ask): a stranger who knows the reference can use up and lock
only the reference's, never the codes the client asks for through the link.
Per-IP limits in front of these are Flask-Limiter's (web/limits.py).
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from flask import current_app
from itsdangerous import BadSignature, URLSafeTimedSerializer

from ..domain.states import ContractState
from ..extensions import db
from ..models import Contract, VerificationCode, utcnow
from . import activity, mailer, tokens
from .errors import ServiceError

CODE_TTL = timedelta(minutes=15)
MAX_TRIES = 5
LOCK_FOR = timedelta(minutes=15)
DEVICE_DAYS = 30
MAX_CODES_PER_WINDOW = 5
CODE_WINDOW = timedelta(hours=1)
#: The ways in, each with its own codes, tries and lock.
LINK, REF = "link", "ref"



class VerificationError(ServiceError):
    """The code was refused; the message says why and what to do (``retry_after``: seconds, when limited)."""

    def __init__(self, message: str, retry_after: int | None = None):
        super().__init__(message)
        self.retry_after = retry_after


#: Typed before any code was asked for (or once the last one was used).
NO_CODE = "Ask for a code first: we email it to you, then you type it here."


def code_pending(contract: Contract, now: datetime | None = None, *, channel: str = LINK) -> bool:
    """True while a code sent for this way in can still be typed (sent, not used, not expired)."""
    row = db.session.scalar(db.select(VerificationCode).where(VerificationCode.contract_id == contract.id,
                                                              VerificationCode.channel == channel))
    return bool(row and row.code_hash and row.expires_at and row.expires_at >= (now or utcnow()))


def _seconds(until: datetime, now: datetime) -> int:
    return max(1, int((until - now).total_seconds()))


def _hash(contract_id: int, channel: str, code: str) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, f"{contract_id}:{channel}:{code}".encode(), hashlib.sha256).hexdigest()


def _row(contract: Contract, channel: str = LINK) -> VerificationCode:
    row = db.session.scalar(db.select(VerificationCode)
                            .where(VerificationCode.contract_id == contract.id, VerificationCode.channel == channel)
                            .with_for_update())
    if row is None:
        row = VerificationCode(contract_id=contract.id, channel=channel, failed_attempts=0, sent_count=0,
                               window_started_at=utcnow())
        db.session.add(row)
    return row


def masked_email(email: str) -> str:
    """c•••@client-co.com: enough for the client to recognise, not to harvest."""
    local, _, domain = email.partition("@")
    return f"{local[:1]}•••@{domain}"


def send_code(contract: Contract, now: datetime | None = None, *, channel: str = LINK) -> None:
    """Email a fresh code for this way in to the contract's client. Raises VerificationError when rate-limited."""
    now = now or utcnow()
    row = _row(contract, channel)
    if row.locked_until and row.locked_until > now:
        raise VerificationError(_locked_message(row.locked_until, now), _seconds(row.locked_until, now))
    if now - row.window_started_at > CODE_WINDOW:
        row.window_started_at, row.sent_count = now, 0
    if row.sent_count >= MAX_CODES_PER_WINDOW:
        db.session.rollback()
        raise VerificationError("Too many codes were sent for this contract. Wait an hour and try again.",
                                _seconds(row.window_started_at + CODE_WINDOW, now))
    code = f"{secrets.randbelow(10**6):06d}"
    row.code_hash, row.expires_at = _hash(contract.id, channel, code), now + CODE_TTL
    row.sent_count += 1
    row.failed_attempts = 0
    mailer.queue(contract.client_email, f"Your verification code for {contract.title}", "verification_code",
                 contract=contract, code=code, minutes=int(CODE_TTL.total_seconds() // 60))
    activity.record(contract, "code_sent", "client", "Verification code emailed to the client.")
    db.session.commit()
    mailer.deliver_pending()


def _locked_message(until: datetime, now: datetime) -> str:
    minutes = max(1, -(-int((until - now).total_seconds()) // 60))  # rounded up
    return f"Too many wrong codes. Try again in {minutes} minute{'s' if minutes != 1 else ''}."


def check_code(contract: Contract, code: str, now: datetime | None = None, *, channel: str = LINK) -> None:
    """Accept the code sent for this way in, or raise VerificationError (wrong, expired, locked). Commits."""
    now = now or utcnow()
    row = _row(contract, channel)
    if row.locked_until and row.locked_until > now:
        db.session.rollback()
        raise VerificationError(_locked_message(row.locked_until, now))
    if not row.code_hash and not row.expires_at:  # none was sent, or the last one was used
        db.session.rollback()
        raise VerificationError(NO_CODE)
    if not row.code_hash or not row.expires_at or row.expires_at < now:
        db.session.rollback()
        raise VerificationError("That code has expired. Send yourself a new one.")
    code = "".join(ch for ch in (code or "") if ch in "0123456789")
    if not hmac.compare_digest(row.code_hash, _hash(contract.id, channel, code)):
        row.failed_attempts += 1
        if row.failed_attempts >= MAX_TRIES:
            row.locked_until, row.code_hash = now + LOCK_FOR, None
            db.session.commit()
            raise VerificationError(_locked_message(row.locked_until, now))
        left = MAX_TRIES - row.failed_attempts
        db.session.commit()
        raise VerificationError(f"That code is not right. {left} tr{'ies' if left != 1 else 'y'} left.")
    row.code_hash, row.expires_at, row.failed_attempts, row.locked_until = None, None, 0, None
    activity.record(contract, "verified", "client", "The client verified their email on a device.")
    db.session.commit()


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="client-device")


def device_cookie_name(contract: Contract) -> str:
    return f"dc_device_{contract.id}"


def device_cookie_value(contract: Contract) -> str:
    return _serializer().dumps({"c": contract.id})


def device_verified(contract: Contract, value: str | None) -> bool:
    """True when the cookie was signed by us for this contract within 30 days."""
    if not value:
        return False
    try:
        data = _serializer().loads(value, max_age=DEVICE_DAYS * 86400)
    except BadSignature:
        return False
    return data.get("c") == contract.id


def contract_by_ref(raw_ref: str) -> Contract | None:
    """The contract with this human reference, if a client may open it."""
    ref = tokens.normalise_ref(raw_ref)
    if not ref:
        return None
    contract = db.session.scalar(db.select(Contract).where(Contract.ref == ref))
    if contract is None or contract.revision == 0 or contract.state == ContractState.WITHDRAWN:
        return None
    if contract.closed_at and tokens.expired(contract, contract.closed_at):
        return None  # finished long ago: its links have expired, and a code must not mint a new one
    return contract


def open_by_code(contract: Contract, code: str, now: datetime | None = None) -> str:
    """For a client whose link broke: check the code, then issue a fresh link token."""
    check_code(contract, code, now, channel=REF)
    raw = tokens.issue_token(contract)
    db.session.commit()
    return raw
