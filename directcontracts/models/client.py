"""The client's verification codes and signed acceptances."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..domain import rules
from ..extensions import db
from .base import utcnow


class VerificationCode(db.Model):
    """A 6-digit code emailed to the contract's client; stored as a hash.

    One row per contract and way in holds the current code, the tries left and
    any lock, so limits survive restarts and hold across app processes. The way
    in (``channel``) is ``link`` (the client's link: whoever holds it has the
    email) or ``ref`` (``/c``: anyone who knows the reference): codes, tries and
    locks of one never touch the other, so a stranger with the reference cannot
    lock the client's link or replace the code it sent.
    """

    __tablename__ = "verification_code"
    __table_args__ = (
        UniqueConstraint("contract_id", "channel", name="uq_verification_code_contract_channel"),
        CheckConstraint("channel IN ('link', 'ref')", name="channel"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("contract.id"))
    channel: Mapped[str] = mapped_column(String(4), default="link", server_default="link")
    code_hash: Mapped[str | None] = mapped_column(String(64))
    expires_at: Mapped[datetime | None] = mapped_column()
    failed_attempts: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None] = mapped_column()
    sent_count: Mapped[int] = mapped_column(default=0)  # codes sent in the current window
    window_started_at: Mapped[datetime] = mapped_column(default=utcnow)


class Acceptance(db.Model):
    """The client's signature on one revision of the contract: at most one per revision (two concurrent
    first submits cannot both sign; the second gets the first's signature)."""

    __tablename__ = "acceptance"
    __table_args__ = (UniqueConstraint("revision_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("contract.id"), index=True)
    revision_id: Mapped[int] = mapped_column(ForeignKey("contract_revision.id"))
    signer_name: Mapped[str] = mapped_column(String(rules.SIGNER_NAME.max_length))
    ip_address: Mapped[str] = mapped_column(String(64))
    user_agent: Mapped[str] = mapped_column(Text)
    accepted_at: Mapped[datetime] = mapped_column(default=utcnow)
