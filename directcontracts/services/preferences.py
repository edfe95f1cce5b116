"""Whose time zone and locale a page or an email uses, and a member's own choice of them.

A member sees their own (or the shop's, when they chose none); a client, who has no account,
sees the shop's. An email follows its recipient: a member's address gets the member's, any other
(a client's) the shop's.
"""
from __future__ import annotations

from ..domain.locales import Display, check_locale, check_time_zone, time_zones
from ..extensions import db
from ..models import Member, ShopSettings
from . import memo
from .accounts import find_member_by_email
from .errors import ValidationFailed


@memo.per_request
def shop_settings() -> ShopSettings:
    """The shop's settings row, read once a request (and held: the session's identity map alone keeps
    rows only while something refers to them, so two ``ShopSettings.get()`` would be two statements)."""
    return ShopSettings.get()


def shop_display() -> Display:
    """The shop's zone and locale: what clients see."""
    s = shop_settings()
    return _safe(s.time_zone, s.locale)


def display_for(member: Member | None) -> Display:
    """A member's zone and locale (the shop's where they chose none); the shop's for None (a client)."""
    if member is None:
        return shop_display()
    shop = shop_settings()
    return _safe(member.time_zone or shop.time_zone, member.locale or shop.locale)


def display_for_address(address: str) -> Display:
    """For an email to ``address``: the member's own if it is a member's, else the shop's (a client)."""
    return display_for(find_member_by_email(address or ""))


def _safe(zone: str, locale: str) -> Display:
    """A zone this machine no longer knows (tzdata changed under a saved name) shows as UTC, not a 500."""
    return Display(zone if zone in time_zones() else "UTC", locale if not check_locale(locale) else "en_US")


def check(time_zone: str, locale: str, *, allow_default: bool) -> dict[str, str]:
    """Field → message for a zone and locale as chosen; ``allow_default``: empty means "the shop's"."""
    errors: dict[str, str] = {}
    if not (allow_default and not time_zone) and (err := check_time_zone(time_zone)):
        errors["time_zone"] = err
    if not (allow_default and not locale) and (err := check_locale(locale)):
        errors["locale"] = err
    return errors


def update_member(member: Member, *, time_zone: str, locale: str) -> Member:
    """Save a member's own zone and locale (empty: follow the shop's). Raises ValidationFailed."""
    time_zone, locale = (time_zone or "").strip(), (locale or "").strip()
    if errors := check(time_zone, locale, allow_default=True):
        raise ValidationFailed(errors)
    member.time_zone, member.locale = time_zone or None, locale or None
    db.session.commit()
    return member
