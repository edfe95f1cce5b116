"""Shop settings and the member list (owner only; the views check that)."""
from __future__ import annotations

from decimal import Decimal, InvalidOperation

from ..domain import rules
from ..domain.brand import parse_colour
from ..domain.fees import bps_from_percent
from ..domain.money import MoneyError, plain_decimal
from ..domain.terms import check_limits
from ..extensions import db
from ..models import Member, ShopSettings
from . import preferences
from .accounts import normalise_email
from .errors import NotFound, ValidationFailed


def current() -> ShopSettings:
    return ShopSettings.get()


def members() -> list[Member]:
    return list(db.session.scalars(db.select(Member).order_by(Member.id)))


def member(member_id: int) -> Member:
    """One member of the shop; raises NotFound."""
    found = db.session.get(Member, member_id)
    if found is None:
        raise NotFound("No such member.")
    return found


def _decimal(text: str) -> Decimal | None:
    """A plain amount in major units ("5", "1,000.50"), ASCII digits only; None if it is not one."""
    try:
        return plain_decimal(text)
    except MoneyError:
        return None


def _days(form, name: str, low: int, high: int, errors: dict, current: int | None = None) -> int | None:
    """A whole number of days in [low, high] from ``form[name]`` (``current`` when the form has no such
    field); an error on ``name`` otherwise."""
    if current is not None and form.get(name) is None:  # not posted at all (an older form): unchanged
        return current
    days = (form.get(name) or "").strip()
    if not rules.is_number(days) or not low <= int(days) <= high:
        errors[name] = f"Enter a number of days from {low} to {high}."
        return None
    return int(days)


def _optional(form, name: str, current: str | None, parse, errors: dict) -> str | None:
    """An optional field: empty clears it, a field not posted at all (an older form) keeps ``current``;
    ``parse`` cleans the text, its ValueError is the field's error."""
    if form.get(name) is None:
        return current
    value = (form.get(name) or "").strip() or None
    if value is None:
        return None
    try:
        return parse(value)
    except ValueError as exc:
        errors[name] = str(exc)
        return value


def _brand(form, s: ShopSettings, errors: dict) -> tuple[str | None, str | None]:
    """The accent colour and contact email from ``form`` (see ``_optional``)."""
    return (_optional(form, "accent_colour", s.accent_colour, parse_colour, errors),
            _optional(form, "contact_email", s.contact_email, normalise_email, errors))


def update(form) -> ShopSettings:
    """Validate and save (fee, limits, days, and the brand's name, accent colour and contact email);
    raises ValidationFailed with a message per field."""
    errors: dict[str, str] = {}
    s = ShopSettings.get()
    name = (form.get("shop_name") or "").strip()
    if err := rules.check_text(name, rules.SHOP_NAME):
        errors["shop_name"] = err
    try:
        fee_bps = bps_from_percent((form.get("fee_percent") or "").strip())
    except (ValueError, InvalidOperation):
        errors["fee_percent"] = "Enter a percentage between 0 and 100, like 3.4."
    low, high = _decimal(form.get("min_amount")), _decimal(form.get("max_amount"))
    if low is None or low <= 0 or low.as_tuple().exponent < -2:
        errors["min_amount"] = "Enter a minimum above zero, like 5."
    if high is None:
        errors["max_amount"] = "Enter the maximum as a number, like 1000000."
    elif (low is not None and high < low) or high.as_tuple().exponent < -2:
        errors["max_amount"] = "Enter a maximum at least as large as the minimum."
    if low is not None and high is not None:
        for name, message in check_limits(low, high).items():
            errors.setdefault(name, message)
    days = _days(form, "auto_release_days", rules.MIN_AUTO_RELEASE_DAYS, rules.MAX_AUTO_RELEASE_DAYS, errors)
    answer_days = _days(form, "dispute_response_days", rules.MIN_DISPUTE_RESPONSE_DAYS,
                        rules.MAX_DISPUTE_RESPONSE_DAYS, errors, current=s.dispute_response_days)
    # an older form without these fields leaves them as they are
    time_zone = (form.get("time_zone") or "").strip() if form.get("time_zone") is not None else s.time_zone
    locale = (form.get("locale") or "").strip() if form.get("locale") is not None else s.locale
    errors.update(preferences.check(time_zone, locale, allow_default=False))
    accent, contact = _brand(form, s, errors)
    if errors:
        raise ValidationFailed(errors)
    s.accent_colour, s.contact_email = accent, contact
    s.shop_name, s.fee_bps, s.min_amount, s.max_amount = name, fee_bps, low, high
    s.time_zone, s.locale = time_zone, locale
    s.auto_release_days, s.dispute_response_days = days, answer_days
    db.session.commit()
    return s
