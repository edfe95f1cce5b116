"""The shop owner's forms: shop settings (with the brand's logo), the health panel's "Check now", and the payouts
report's date filter."""
from __future__ import annotations

from datetime import date

from flask_wtf.file import FileField

from ...domain import brand, rules
from . import Form, Shown, text

#: Numbers the settings service parses (it says what is wrong); the browser gets a decimal keypad.
DECIMAL = {"inputmode": "decimal"}


def number(label: str, render_kw=DECIMAL):
    return text(label, validators=[Shown(required=True)], render_kw=dict(render_kw))


class SettingsForm(Form):
    """Fee, amount limits, auto-release delay and name: flags only.

    ``settings.update`` parses and checks every field (the name with ``rules.SHOP_NAME``),
    so one save names every mistake at once.
    """

    shop_name = text("Shop name", validators=[Shown(required=True, maxlength=rules.SHOP_NAME.max_length)])
    fee_percent = number("Processing fee (%)")
    min_amount = number("Minimum amount per milestone")
    max_amount = number("Maximum amount per milestone")
    auto_release_days = number("Auto-release after (days)",
                               {"min": rules.MIN_AUTO_RELEASE_DAYS, "max": rules.MAX_AUTO_RELEASE_DAYS})
    dispute_response_days = number("Time to answer a dispute (days)",
                                   {"min": rules.MIN_DISPUTE_RESPONSE_DAYS, "max": rules.MAX_DISPUTE_RESPONSE_DAYS})
    #: The shop's time zone and locale (clients see them; members by default): ``services.settings`` checks.
    time_zone = text("Time zone")
    locale = text("Language and region (dates and amounts)")
    accent_colour = text("Accent colour", validators=[Shown(maxlength=7)],
                         render_kw={"autocomplete": "off", "spellcheck": "false"})
    contact_email = text("Contact email for clients", validators=[Shown(maxlength=rules.EMAIL_LENGTH)],
                         render_kw={"autocomplete": "email"})


class LogoForm(Form):
    """The logo upload; ``brand.save_logo`` checks the bytes (the type by content, the size, the pixels)."""

    logo = FileField("Logo file", render_kw={"accept": ",".join(brand.LOGO_FORMATS.values())})

    def data_bytes(self) -> bytes:
        """The uploaded file's bytes, empty when no file was chosen (the request's size is bounded by
        ``MAX_CONTENT_LENGTH``)."""
        upload = self.logo.data
        return upload.read() if upload else b""


class LogoRemoveForm(Form):
    """"Remove the logo": no fields, only the CSRF token."""


class PeriodForm(Form):
    """The payouts report's ``?start=&end=`` (YYYY-MM-DD); build it with ``PeriodForm(request.args)``."""

    start = text("From")
    end = text("To")

    def dates(self) -> dict[str, date | None]:
        """``start`` and ``end`` for the report; a value that is not a date is ignored, with an error beside it."""
        dates = {}
        for name in ("start", "end"):
            raw = self[name].data or ""
            try:
                dates[name] = date.fromisoformat(raw) if raw else None
            except ValueError:
                dates[name] = None
                self.add_errors({name: "Use the date picker (YYYY-MM-DD)."})
        return dates


class CheckNowForm(Form):
    """The health panel's "Check now": no fields, only the CSRF token."""
