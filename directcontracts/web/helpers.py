"""Template filters and globals: money and dates formatted with Babel in the reader's zone and locale."""
from __future__ import annotations

from datetime import date, datetime

from flask import Flask, has_request_context, request, url_for
from flask_login import current_user
from jinja2 import pass_context

from ..domain.fees import percent_label
from ..domain.locales import SUPPORTED_LOCALES, Display, locale_label, time_zones
from ..domain.money import Money
from ..domain.rules import MAX_ID, is_number
from ..domain.states import display_state
from ..services import memo

STATE_LABELS = {
    "draft": "Draft", "sent": "Sent", "signed": "Signed — awaiting funding", "changes_requested": "Changes requested",
    "declined": "Declined", "withdrawn": "Withdrawn", "active": "Active",
    "completed": "Completed", "ended": "Ended",
    "pending": "Awaiting funding", "funded": "Funded", "submitted": "Payment requested",
    "released": "Released", "refunded": "Refunded", "disputed": "In dispute",
    "split": "Settled (split)", "cancelled": "Cancelled", "charged_back": "Charged back",
}


@pass_context
def money(ctx, value, currency: str | None = None) -> str:
    """``{{ m|money }}`` for Money, ``{{ minor|money(currency) }}`` for integers, in the reader's locale."""
    amount = value if isinstance(value, Money) else Money(int(value or 0), currency)
    return amount.format(display_of(ctx).locale)


@pass_context
def when(ctx, value: datetime | date | None, fmt: str = "medium") -> str:
    """A timestamp in the reader's zone and locale, the zone named ("Nov 27, 2026, 2:05 PM CET");
    a date alone (a due date) as it is, never shifted across zones."""
    return display_of(ctx).when(value, fmt)


def display_of(ctx=None) -> Display:
    """The reader's zone and locale: the template's ``display`` (an email passes its recipient's), else the
    member logged in, else the shop's (a client's page)."""
    given = ctx.get("display") if ctx is not None else None
    return given if isinstance(given, Display) else _request_display()


@memo.per_request
def _request_display() -> Display:
    from ..services.preferences import display_for
    member = current_user if has_request_context() else None
    return display_for(member if member is not None and member.is_authenticated else None)


def amount_hint() -> str | None:
    """For an amount field: how the reader's locale writes one, when it is not the English way."""
    example = _request_display().example_amount()
    return None if example == "1,234.50" else f"Type it as {example}, or 1234.50."


def zone_choices() -> dict:
    """The time zones and locales a member or the owner picks from (``partials/_zone_fields.html``)."""
    return {"zones": sorted(time_zones()),
            "locales": [(name, locale_label(name)) for name in SUPPORTED_LOCALES]}


def arg_id(name: str, default: int | None = None) -> int | None:
    """A whole number from the query string (a page, an id), or ``default`` when it is not one that fits."""
    value = request.args.get(name, "")
    return int(value) if is_number(value) and 0 < int(value) <= MAX_ID else default


def url_maker(endpoint: str, key: str):
    """``url_for(endpoint, key=id)`` for each of many ids at the price of one (a list's row links): the URL is
    built once with a stand-in id, then each id takes its place."""
    head, tail = url_for(endpoint, **{key: MAX_ID}).rsplit(str(MAX_ID), 1)
    return lambda ident: f"{head}{int(ident)}{tail}"


def register(app: Flask) -> None:
    app.add_template_filter(money, "money")
    app.add_template_filter(when, "when")
    app.add_template_filter(percent_label, "percent")
    app.add_template_filter(lambda s: STATE_LABELS.get(str(s), str(s)), "state_label")
    app.add_template_global(display_state, "display_state")
    app.add_template_global(url_maker, "url_maker")
    app.add_template_global(amount_hint, "amount_hint")
    app.add_template_global(auto_release_days, "auto_release_days")
    app.add_template_global(shop_name, "shop_name")
    app.add_template_global(dispute_response_days, "dispute_response_days")

    @app.context_processor
    def inject():
        from ..services.activity import unread_count
        member = current_user if has_request_context() else None
        count = unread_count(member.id) if member is not None and member.is_authenticated else 0
        return {"unread_count": count, "dev_inbox": not app.config.get("MAIL_SERVER")}



def _shop_settings():
    """The shop's settings row, read once a request for the templates' promises below."""
    from ..services.preferences import shop_settings
    return shop_settings()


def shop_name() -> str:
    """The shop's name, for the members' header (the row is already loaded with the member: no statement)."""
    return _shop_settings().shop_name


def auto_release_days() -> int:
    """The shop's auto-release delay in days (templates promise it to the client)."""
    return _shop_settings().auto_release_days


def dispute_response_days() -> int:
    """The days the other side has to answer a dispute (the guidance and emails promise it)."""
    return _shop_settings().dispute_response_days
