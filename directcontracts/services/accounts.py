"""Members: first-run setup, login, creating members, and ending a member's sessions."""
from __future__ import annotations

from functools import cache

from email_validator import EmailNotValidError, validate_email

from werkzeug.security import check_password_hash, generate_password_hash

from ..domain import passwords, rules
from ..extensions import db
from ..models import Member
from .errors import ServiceError, ValidationFailed

MIN_PASSWORD = passwords.MIN_LENGTH
#: One message for unknown email and wrong password: no account enumeration.
BAD_LOGIN = "That email and password do not match an account."


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
    return member


def session_member(member_id: int, session_version: int) -> Member | None:
    """The member a session belongs to, or None when that session has been ended (or the member is gone).

    A session names the member and the ``session_version`` they had when it
    started; ``end_sessions`` moves the version on, so every older session
    (a copied cookie included) stops naming anyone.
    """
    member = db.session.get(Member, member_id)
    if member is None or member.session_version != session_version:
        return None
    return member


def end_sessions(member: Member) -> None:
    """End every session of ``member`` (logout; password change and deactivation should call it too).

    The version is moved on in SQL, not read and written back, so two
    logouts at once both count and neither can revive an ended session.
    """
    db.session.execute(db.update(Member).where(Member.id == member.id)
                       .values(session_version=Member.session_version + 1))
    db.session.commit()


@cache
def _dummy_hash() -> str:
    return generate_password_hash("not-a-real-password")
