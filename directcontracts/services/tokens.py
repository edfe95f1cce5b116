"""Client access: long random link tokens stored only as hashes, and human refs."""
from __future__ import annotations

import hashlib
import hmac
import secrets

from ..extensions import db
from ..models import ClientToken, Contract, utcnow

#: Crockford base32 without I, L, O, U: easy to read aloud and type.
REF_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def new_ref() -> str:
    """A short human reference like ``DC-7K3M-9QXR`` (collisions are retried by the caller)."""
    chars = "".join(secrets.choice(REF_ALPHABET) for _ in range(8))
    return f"DC-{chars[:4]}-{chars[4:]}"


def normalise_ref(raw: str) -> str:
    """What a person typed ("dc 7k3m9qxr") → ``DC-7K3M-9QXR``."""
    chars = "".join(c for c in (raw or "").upper() if c.isalnum())
    chars = chars.removeprefix("DC")
    chars = chars.replace("O", "0").replace("I", "1").replace("L", "1")
    return f"DC-{chars[:4]}-{chars[4:]}" if len(chars) == 8 else ""


def issue_token(contract: Contract) -> str:
    """A new link token for the contract (added to the session); returns the raw token."""
    raw = secrets.token_urlsafe(32)
    db.session.add(ClientToken(contract_id=contract.id, token_hash=hash_token(raw)))
    return raw


def revoke_tokens(contract: Contract) -> None:
    """Invalidate every link of the contract (before issuing a fresh one)."""
    db.session.execute(
        db.update(ClientToken)
        .where(ClientToken.contract_id == contract.id, ClientToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


def contract_for_token(raw: str) -> Contract | None:
    """The contract a link token opens, or None.

    The look-up is by SHA-256 of the token (an index seek, so its time does
    not depend on how much of a guess matches); the final compare is
    constant-time as well.
    """
    if not raw or len(raw) > 100:
        return None
    digest = hash_token(raw)
    token = db.session.scalar(db.select(ClientToken).where(ClientToken.token_hash == digest))
    if token is None or token.revoked_at is not None:
        return None
    if not hmac.compare_digest(token.token_hash, digest):
        return None
    return db.session.get(Contract, token.contract_id)
