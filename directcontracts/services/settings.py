"""Shop settings and the member list (owner only; the views check that)."""
from __future__ import annotations

from decimal import Decimal, InvalidOperation

from ..domain import rules
from ..domain.fees import bps_from_percent
from ..domain.terms import check_limits
from ..extensions import db
from ..models import Member, ShopSettings
from .errors import ValidationFailed


def current() -> ShopSettings:
    return ShopSettings.get()


def members() -> list[Member]:
    return list(db.session.scalars(db.select(Member).order_by(Member.id)))


def _decimal(text: str) -> Decimal | None:
    try:
        value = Decimal((text or "").strip().replace(",", ""))
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def update(form) -> ShopSettings:
    """Validate and save; raises ValidationFailed with a message per field."""
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
    if high is None or (low is not None and high < low) or (high is not None and high.as_tuple().exponent < -2):
        errors["max_amount"] = "Enter a maximum at least as large as the minimum."
    if low is not None and high is not None:
        for name, message in check_limits(low, high).items():
            errors.setdefault(name, message)
    days = (form.get("auto_release_days") or "").strip()
    if not days.isdigit() or not rules.MIN_AUTO_RELEASE_DAYS <= int(days) <= rules.MAX_AUTO_RELEASE_DAYS:
        errors["auto_release_days"] = (f"Enter a number of days from {rules.MIN_AUTO_RELEASE_DAYS} "
                                       f"to {rules.MAX_AUTO_RELEASE_DAYS}.")
    if errors:
        raise ValidationFailed(errors)
    s.shop_name, s.fee_bps, s.min_amount, s.max_amount = name, fee_bps, low, high
    s.auto_release_days = int(days)
    db.session.commit()
    return s
