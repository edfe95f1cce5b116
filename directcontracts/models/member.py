"""Shop members (freelancers who log in) and the shop's settings."""
from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime
from decimal import Decimal

from flask_login import UserMixin
from sqlalchemy import CheckConstraint, ForeignKey, LargeBinary, Numeric, String
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, deferred, mapped_column
from werkzeug.security import check_password_hash, generate_password_hash

from ..domain import rules
from ..domain.rules import SHOP_DEFAULTS
from ..domain.terms import Limits
from ..extensions import db
from .base import utcnow


class Member(UserMixin, db.Model):
    """A freelancer of the shop. The first one created is the owner."""

    __tablename__ = "member"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(rules.EMAIL_LENGTH), unique=True)
    name: Mapped[str] = mapped_column(String(rules.MEMBER_NAME.max_length))
    password_hash: Mapped[str] = mapped_column(String(255))
    is_owner: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: Moved on to end every session of the member (``services.accounts.end_sessions``): a session
    #: carries the version it started with and is refused once the two differ.
    session_version: Mapped[int] = mapped_column(default=1, server_default="1")
    #: Set when the owner deactivates the member: they cannot log in; their contracts stay.
    deactivated_at: Mapped[datetime | None] = mapped_column()
    #: The member's IANA time zone and locale (``domain.locales``); None follows the shop's.
    time_zone: Mapped[str | None] = mapped_column(String(rules.TIME_ZONE_LENGTH))
    locale: Mapped[str | None] = mapped_column(String(rules.LOCALE_LENGTH))

    @property
    def is_active(self) -> bool:
        """Flask-Login's flag: a deactivated member is refused at login and on every request."""
        return self.deactivated_at is None

    def get_id(self) -> str:
        """What Flask-Login keeps in the session: the member and their session version ("12:3")."""
        return f"{self.id}:{self.session_version}"

    def set_password(self, password: str) -> None:
        """Store the hash of ``password``; changing an existing password ends every session of the member."""
        if self.password_hash:
            self.session_version = (self.session_version or 1) + 1
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)


class PasswordReset(db.Model):
    """A forgotten-password link's secret, stored only as its SHA-256 hash; single use, expires."""

    __tablename__ = "password_reset"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    #: Set when the link was used, or made useless (a newer link was used, the password changed, deactivation).
    used_at: Mapped[datetime | None] = mapped_column()


class ShopSettings(db.Model):
    """One row of shop-wide settings; ``ShopSettings.get()`` creates it on first use."""

    __tablename__ = "shop_settings"
    __table_args__ = (
        CheckConstraint("fee_bps >= 0 AND fee_bps <= 10000", name="fee_range"),
        CheckConstraint("min_amount > 0 AND max_amount >= min_amount", name="amount_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_name: Mapped[str] = mapped_column(String(rules.SHOP_NAME.max_length), default=SHOP_DEFAULTS.shop_name)
    fee_bps: Mapped[int] = mapped_column(default=SHOP_DEFAULTS.fee_bps)
    auto_release_days: Mapped[int] = mapped_column(default=SHOP_DEFAULTS.auto_release_days)
    dispute_response_days: Mapped[int] = mapped_column(default=SHOP_DEFAULTS.dispute_response_days,
                                                       server_default=str(SHOP_DEFAULTS.dispute_response_days))
    # Wide enough for the largest limit the amount columns can hold (domain.terms.largest_max_amount).
    min_amount: Mapped[Decimal] = mapped_column(Numeric(20, 3), default=SHOP_DEFAULTS.min_amount)
    max_amount: Mapped[Decimal] = mapped_column(Numeric(20, 3), default=SHOP_DEFAULTS.max_amount)
    #: What clients (who have no account) see, and members who chose nothing else (``domain.locales``).
    time_zone: Mapped[str] = mapped_column(String(rules.TIME_ZONE_LENGTH), default=SHOP_DEFAULTS.time_zone,
                                           server_default=SHOP_DEFAULTS.time_zone)
    locale: Mapped[str] = mapped_column(String(rules.LOCALE_LENGTH), default=SHOP_DEFAULTS.locale,
                                        server_default=SHOP_DEFAULTS.locale)
    # The brand (services.brand): unset means the app's own look; clients see the shop name either way.
    #: ``#rrggbb``, lower-case (domain.brand.parse_colour).
    accent_colour: Mapped[str | None] = mapped_column(String(7))
    #: Shown to clients on every page and email; the freelancer's own address stands in while it is unset.
    contact_email: Mapped[str | None] = mapped_column(String(rules.EMAIL_LENGTH))
    #: The logo as served: bytes re-encoded from a checked PNG, JPEG or WebP upload (kept in the database
    #: so every app process and every backup has it). Deferred: only the logo route reads the bytes.
    logo: Mapped[bytes | None] = deferred(mapped_column(LargeBinary))
    logo_type: Mapped[str | None] = mapped_column(String(20))  # its Content-Type
    logo_version: Mapped[str | None] = mapped_column(String(16))  # the start of its SHA-256: the URL's ?v=
    logo_width: Mapped[int | None] = mapped_column()
    logo_height: Mapped[int | None] = mapped_column()
    #: The first UTC day whose ledger entries are not yet summed in ``LedgerDay`` (None: none are). Kept
    #: here because every member request reads this row anyway (``services.ledger_days``).
    ledger_days_through: Mapped[date | None] = mapped_column()

    @classmethod
    def get(cls) -> "ShopSettings":
        """The shop's settings row, made with the defaults on first use.

        Two first requests at once (a fresh install under load) may both find no row: the insert
        skips a row another transaction made meanwhile (ON CONFLICT DO NOTHING) instead of failing.
        """
        settings = db.session.get(cls, 1)
        if settings is None:
            insert = postgresql.insert if db.session.get_bind().dialect.name == "postgresql" else sqlite.insert
            db.session.execute(insert(cls).values(id=1, **asdict(SHOP_DEFAULTS))
                               .on_conflict_do_nothing(index_elements=["id"]))
            settings = db.session.get(cls, 1)
        return settings

    def limits(self) -> Limits:
        return Limits(min_amount=Decimal(self.min_amount), max_amount=Decimal(self.max_amount))
