"""Members: first-run setup, login, creating members, passwords (change, forgotten), deactivation,
handing ownership on, and ending a member's sessions."""
from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from functools import cache

from email_validator import EmailNotValidError, validate_email
from flask import current_app
from werkzeug.security import check_password_hash, generate_password_hash

from ..domain import passwords, rules
from ..extensions import db
from ..models import Member, PasswordReset, ShopSettings, utcnow
from . import links, mailer
from .errors import LinkGone, NotFound, ServiceError, ValidationFailed
from .tokens import hash_token

MIN_PASSWORD = passwords.MIN_LENGTH
#: One message for unknown email and wrong password: no account enumeration.
BAD_LOGIN = "That email and password do not match an account."
#: Said only to someone who typed the right password: it reveals nothing they did not know.
DEACTIVATED = "This account has been deactivated. Ask the shop's owner if you need it again."
#: How long a forgotten-password link works.
RESET_LINK_LIFETIME = timedelta(hours=1)
RESET_LINK_GONE = ("This password reset link has expired or has already been used. "
                   "Ask for a new one on the login page.")


class SetupDone(ServiceError):
    """The shop already has an owner."""


def normalise_email(raw: str) -> str:
    """Validated, normalised email (lower-cased domain); raises ValueError with a message."""
    try:
        return validate_email((raw or "").strip(), check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ValueError(str(exc)) from None


def member_count() -> int:
    return db.session.scalar(db.select(db.func.count(Member.id))) or 0


#: The key in ``app.extensions`` that remembers a member exists (members are deactivated, never deleted).
MEMBERS_EXIST = "dc_members_exist"


def members_exist() -> bool:
    """Has the first-run setup been done? Asked on every request, so once true it is remembered for the
    app's life instead of counting members each time (it never becomes false again)."""
    extensions = current_app.extensions
    if not extensions.get(MEMBERS_EXIST):
        extensions[MEMBERS_EXIST] = db.session.scalar(db.select(Member.id).limit(1)) is not None
    return extensions[MEMBERS_EXIST]


def owner() -> Member | None:
    """The shop owner (the mediator of every dispute, told of every chargeback); None before set-up."""
    return db.session.scalar(db.select(Member).where(Member.is_owner.is_(True)).order_by(Member.id).limit(1))


def find_member_by_email(email: str) -> Member | None:
    return db.session.scalar(db.select(Member).where(db.func.lower(Member.email) == email.lower()))


def _validated(email: str, name: str, password: str) -> tuple[str, str]:
    errors: dict[str, str] = {}
    try:
        email = normalise_email(email)
    except ValueError as exc:
        errors["email"] = str(exc)
    else:
        if find_member_by_email(email):
            errors["email"] = "A member with this email already exists."
    name = (name or "").strip()
    if err := rules.check_text(name, rules.MEMBER_NAME):
        errors["name"] = err
    if err := passwords.problem(password, name, email):
        errors["password"] = err
    if errors:
        raise ValidationFailed(errors)
    return email, name


def create_member(email: str, name: str, password: str, *, owner: bool = False) -> Member:
    """Create a member (the owner when ``owner``). Raises ValidationFailed."""
    email, name = _validated(email, name, password)
    member = Member(email=email, name=name, is_owner=owner)
    member.set_password(password)
    db.session.add(member)
    db.session.commit()
    return member


def setup_owner(email: str, name: str, password: str) -> Member:
    """First-run setup: create the owner. Raises SetupDone once any member exists."""
    if member_count():
        raise SetupDone("This shop is already set up. Log in instead.")
    return create_member(email, name, password, owner=True)


def authenticate(email: str, password: str) -> Member:
    """The member with these credentials; raises ServiceError(BAD_LOGIN) otherwise."""
    member = find_member_by_email((email or "").strip())
    if member is None:
        # Spend the same time as a real check so timing does not reveal accounts.
        check_password_hash(_dummy_hash(), password or "")
        raise ServiceError(BAD_LOGIN)
    if not member.check_password(password or ""):
        raise ServiceError(BAD_LOGIN)
    if member.deactivated_at is not None:
        raise ServiceError(DEACTIVATED)
    return member


def session_member(member_id: int, session_version: int) -> Member | None:
    """The member a session belongs to, or None when that session has been ended (or the member is gone).

    A session names the member and the ``session_version`` they had when it
    started; ``end_sessions`` moves the version on, so every older session
    (a copied cookie included) stops naming anyone.
    """
    # The shop's settings come in the same statement: every page a member sees reads the shop's time zone
    # and locale (the member's defaults), and ``ShopSettings.get`` then finds the row already loaded.
    row = db.session.execute(db.select(Member, ShopSettings).outerjoin(ShopSettings, ShopSettings.id == 1)
                             .where(Member.id == member_id)).first()
    member = row[0] if row is not None else None
    if row is not None:
        db.session.info["shop_settings"] = row[1]  # the identity map holds rows weakly: keep it for the request
    if member is None or member.session_version != session_version or member.deactivated_at is not None:
        return None
    return member


def end_sessions(member: Member) -> None:
    """End every session of ``member`` (logout; a password change and deactivation do it too).

    The version is moved on in SQL, not read and written back, so two
    logouts at once both count and neither can revive an ended session.
    """
    db.session.execute(db.update(Member).where(Member.id == member.id)
                       .values(session_version=Member.session_version + 1))
    db.session.commit()


@cache
def _dummy_hash() -> str:
    return generate_password_hash("not-a-real-password")


# ---- passwords -----------------------------------------------------------------------------------------------

def _cancel_resets(member: Member, now: datetime) -> None:
    """Make every unused reset link of ``member`` useless (part of the caller's transaction)."""
    db.session.execute(db.update(PasswordReset)
                       .where(PasswordReset.member_id == member.id, PasswordReset.used_at.is_(None))
                       .values(used_at=now))


def change_password(member: Member, current: str, new: str) -> Member:
    """A member changes their own password; every session of theirs ends (the caller starts a fresh one).

    Raises ValidationFailed naming ``current_password`` (wrong) and/or ``password`` (breaks the rules).
    """
    errors: dict[str, str] = {}
    if not member.check_password(current or ""):
        errors["current_password"] = "That is not your current password."
    if err := passwords.problem(new or "", member.name, member.email):
        errors["password"] = err
    elif new == current and not errors:
        errors["password"] = "Choose a password different from your current one."
    if errors:
        raise ValidationFailed(errors)
    member.set_password(new)  # moves session_version on: every session ends
    _cancel_resets(member, utcnow())
    db.session.commit()
    return member


def request_reset(email: str) -> None:
    """Email a single-use reset link to the active member with this email; otherwise do nothing.

    The caller says the same whatever happened, so nobody learns whether an email is registered.
    """
    try:
        member = find_member_by_email(normalise_email(email))
    except ValueError:
        member = None
    if member is None or member.deactivated_at is not None:
        return
    raw = secrets.token_urlsafe(32)
    now = utcnow()
    db.session.add(PasswordReset(member_id=member.id, token_hash=hash_token(raw), created_at=now,
                                 expires_at=now + RESET_LINK_LIFETIME))
    mailer.queue(member.email, "Reset your password", "password_reset", member=member, link=links.external_url("auth.password_reset_form", reset_token=raw),
                 minutes=int(RESET_LINK_LIFETIME.total_seconds() // 60))
    db.session.commit()
    mailer.deliver_pending()


def _usable_reset(raw: str, now: datetime) -> PasswordReset | None:
    reset = db.session.scalar(db.select(PasswordReset).where(PasswordReset.token_hash == hash_token(raw or "")))
    if reset is None or reset.used_at is not None or reset.expires_at <= now:
        return None
    member = db.session.get(Member, reset.member_id)
    return reset if member is not None and member.deactivated_at is None else None


def reset_member(raw: str) -> Member:
    """The member a reset link is for; raises LinkGone if it is unknown, used or expired."""
    reset = _usable_reset(raw, utcnow())
    if reset is None:
        raise LinkGone(RESET_LINK_GONE)
    return db.session.get(Member, reset.member_id)


def reset_password(raw: str, new: str) -> Member:
    """Set a new password through a reset link, once; every session of the member ends, and every other
    reset link of theirs stops working. Raises LinkGone or ValidationFailed(password)."""
    now = utcnow()
    reset = _usable_reset(raw, now)
    if reset is None:
        raise LinkGone(RESET_LINK_GONE)
    member = db.session.get(Member, reset.member_id)
    if err := passwords.problem(new or "", member.name, member.email):
        raise ValidationFailed({"password": err})
    # Claimed in SQL: of two submits of one link at once, only one finds it unused.
    claimed = db.session.execute(db.update(PasswordReset)
                                 .where(PasswordReset.id == reset.id, PasswordReset.used_at.is_(None))
                                 .values(used_at=now)).rowcount
    if claimed != 1:
        db.session.rollback()
        raise LinkGone(RESET_LINK_GONE)
    member.set_password(new)
    _cancel_resets(member, now)
    db.session.commit()
    return member


# ---- the owner: deactivating members, handing ownership on -----------------------------------------------

def _other_member(owner: Member, member_id: int) -> Member:
    member = db.session.get(Member, member_id)
    if member is None or not owner.is_owner:
        raise NotFound("No such member.")
    return member


def deactivate(owner: Member, member_id: int) -> Member:
    """The owner deactivates a member: they can no longer log in and every session of theirs ends now.

    Their contracts stay as they are (the owner sees them under All contracts). Raises NotFound, or
    ValidationFailed when the member is the owner or already deactivated.
    """
    member = _other_member(owner, member_id)
    if member.is_owner:
        raise ValidationFailed({"member": "The owner cannot be deactivated. Hand ownership to another member first."})
    if member.deactivated_at is not None:
        raise ValidationFailed({"member": f"{member.name} is already deactivated."})
    now = utcnow()
    # Conditional, so a member made owner meanwhile is never deactivated (exactly one active owner remains).
    changed = db.session.execute(db.update(Member)
                                 .where(Member.id == member.id, Member.is_owner.is_(False),
                                        Member.deactivated_at.is_(None))
                                 .values(deactivated_at=now, session_version=Member.session_version + 1)).rowcount
    if changed != 1:
        db.session.rollback()
        raise ValidationFailed({"member": "This member changed meanwhile: nothing was done. Reload the page."})
    _cancel_resets(member, now)
    db.session.commit()
    db.session.refresh(member)
    return member


def reactivate(owner: Member, member_id: int) -> Member:
    """The owner lets a deactivated member log in again (with their old password). Raises NotFound,
    or ValidationFailed when the member is not deactivated."""
    member = _other_member(owner, member_id)
    if member.deactivated_at is None:
        raise ValidationFailed({"member": f"{member.name} is not deactivated."})
    member.deactivated_at = None
    db.session.commit()
    return member


def transfer_ownership(owner: Member, member_id: int) -> Member:
    """The owner hands ownership to another active member, in one transaction: exactly one owner remains.

    Each change is one conditional UPDATE (still the owner; still active), so of two hand-overs at once
    the second finds its owner no longer one and changes nothing. Raises NotFound, or ValidationFailed
    (themselves, a deactivated member, or no longer the owner).
    """
    target = db.session.get(Member, member_id)
    if target is None or not owner.is_owner:
        raise NotFound("No such member.")
    if target.id == owner.id:
        raise ValidationFailed({"member": "You are already the owner."})
    if target.deactivated_at is not None:
        raise ValidationFailed({"member": f"{target.name} is deactivated. Reactivate them first."})
    demoted = db.session.execute(db.update(Member).where(Member.id == owner.id, Member.is_owner.is_(True))
                                 .values(is_owner=False)).rowcount
    promoted = db.session.execute(db.update(Member).where(Member.id == target.id, Member.deactivated_at.is_(None))
                                  .values(is_owner=True)).rowcount
    if (demoted, promoted) != (1, 1):
        db.session.rollback()
        raise ValidationFailed({"member": "Ownership changed meanwhile: nothing was done. Reload the page."})
    db.session.commit()
    db.session.refresh(target)
    return target
