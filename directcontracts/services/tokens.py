"""Client access: long random link tokens stored only as hashes, and human refs.

A link stops working when the freelancer sends a new one (every older token is
revoked: "this link was replaced"), and ``CLIENT_LINK_DAYS_AFTER_END`` days after
its contract finished, or after the link was sent if that was later ("this link
has expired").
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from flask import current_app
from sqlalchemy.orm import joinedload

from ..extensions import db
from ..models import ClientToken, Contract, ShopSettings, utcnow
from . import presence

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


@dataclass(frozen=True)
class Link:
    """What a link token opens: its contract, or why it does not (``problem``).

    ``problem`` is None (it opens ``contract``), ``"unknown"`` (no such link: the
    contract is not named), ``"replaced"`` or ``"expired"`` (``contract`` is set, for
    its title and freelancer only).
    """

    contract: Contract | None
    problem: str | None = None


def days_after_end() -> int:
    return int(current_app.config["CLIENT_LINK_DAYS_AFTER_END"])


def expired(contract: Contract, sent_at: datetime, now: datetime | None = None) -> bool:
    """True once a finished contract's link, sent at ``sent_at``, is past its days after the end."""
    if contract.closed_at is None:
        return False
    return (now or utcnow()) > max(contract.closed_at, sent_at) + timedelta(days=days_after_end())


@cache
def _link_statement():
    """The token, its contract, the contract's member and milestones, and the shop's settings (every client
    page shows them: its zone, locale and name): one query, built once (parameter ``digest``)."""
    return (db.select(ClientToken, Contract, ShopSettings).join(Contract, Contract.id == ClientToken.contract_id)
            .outerjoin(ShopSettings, ShopSettings.id == 1)
            .where(ClientToken.token_hash == db.bindparam("digest"))
            .options(joinedload(Contract.member), joinedload(Contract.milestones)))


def open_link(raw: str, now: datetime | None = None) -> Link:
    """The contract a link token opens, or why not.

    The look-up is by SHA-256 of the token (an index seek, so its time does
    not depend on how much of a guess matches); the final compare is
    constant-time as well.
    """
    if not raw or len(raw) > 100:
        return Link(None, "unknown")
    digest = hash_token(raw)
    found = db.session.execute(_link_statement(), {"digest": digest}).unique().first()
    if found is None or not hmac.compare_digest(found[0].token_hash, digest):
        return Link(None, "unknown")
    token, contract, settings = found
    # the identity map holds rows weakly: kept for the request, ``ShopSettings.get`` finds it without a statement
    db.session.info["shop_settings"] = settings
    if token.revoked_at is not None:
        return Link(contract, "replaced")
    if expired(contract, token.created_at, now):
        return Link(contract, "expired")
    return Link(contract)


def contract_for_token(raw: str) -> Contract | None:
    """The contract a link token opens, or None (unknown, replaced or expired)."""
    link = open_link(raw)
    return link.contract if link.problem is None else None


def last_sent_at(contract: Contract) -> datetime | None:
    """When the newest link still working was issued (None: no link works)."""
    asked, when = presence.known(contract, "link_sent_at")
    if asked:
        return when
    return db.session.scalar(db.select(db.func.max(ClientToken.created_at))
                             .where(ClientToken.contract_id == contract.id, ClientToken.revoked_at.is_(None)))
