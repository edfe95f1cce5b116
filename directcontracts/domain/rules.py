"""Every length limit and shop default, in one place.

Services validate with these rules, models size their columns from them, and
the web forms (``web/forms``) check and render them (``required``,
``maxlength``) from the same objects, so a limit changes in one line. The shop's amount limits live in the database
(``ShopSettings``); ``SHOP_DEFAULTS`` is what a new shop starts with.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class TextRule:
    """What a text field accepts, and what to say when it does not.

    ``missing`` is the message for an empty (or shorter than ``min_length``)
    value; ``None`` makes the field optional. Messages may use ``{max}`` and
    ``{length}``.
    """

    max_length: int
    missing: str | None = None
    too_long: str = "Keep it under {max:,} characters."
    min_length: int = 1

    @property
    def required(self) -> bool:
        return self.missing is not None


def check_text(value: str, rule: TextRule) -> str | None:
    """The message for ``value`` (already stripped) breaking ``rule``, or None when it is fine."""
    if rule.missing is not None and len(value) < rule.min_length:
        return rule.missing.format(max=rule.max_length, length=len(value))
    if len(value) > rule.max_length:
        return rule.too_long.format(max=rule.max_length, length=len(value))
    return None


#: Column sizes shared by several fields.
NAME_LENGTH = 120
TITLE_LENGTH = 200
EMAIL_LENGTH = 254  # the longest address RFC 5321 allows
MESSAGE_LENGTH = 5000

# ---- people and the shop ----------------------------------------------------
MEMBER_NAME = TextRule(NAME_LENGTH, "Enter a name.", "Keep the name under {max} characters.")
SHOP_NAME = TextRule(NAME_LENGTH, "Enter a shop name under {max} characters.",
                     "Enter a shop name under {max} characters.")
CLIENT_NAME = TextRule(NAME_LENGTH, "Enter the client's name.", "Keep the name under {max} characters.")
CLIENT_COMPANY = TextRule(NAME_LENGTH, None, "Keep the company name under {max} characters.")
SIGNER_NAME = TextRule(TITLE_LENGTH, "Type your full name to sign.", "Keep your name under {max} characters.",
                       min_length=2)

# ---- terms ------------------------------------------------------------------
TITLE = TextRule(TITLE_LENGTH, "Enter a title.", "Keep the title under {max} characters (it has {length}).")
SCOPE = TextRule(20000, None, "Keep the scope under {max:,} characters (it has {length:,}).")
DESCRIPTION = TextRule(MESSAGE_LENGTH, None, "Keep the description under {max:,} characters (it has {length:,}).")

# ---- what the parties say to each other -------------------------------------
DELIVERY_NOTE = TextRule(MESSAGE_LENGTH, "Say what you delivered.")
DELIVERABLE_URL = TextRule(500, None, "Keep the link under {max} characters.")
REFUND_REASON = TextRule(MESSAGE_LENGTH, "Give the client a reason for the refund.")
MILESTONE_CHANGES = TextRule(MESSAGE_LENGTH, "Tell the freelancer what still needs doing.")
PROPOSAL_CHANGES = TextRule(MESSAGE_LENGTH, "Tell the freelancer what to change.")
DECLINE_REASON = TextRule(MESSAGE_LENGTH, "Tell the freelancer why.")
THREAD_MESSAGE = TextRule(MESSAGE_LENGTH, "Write a message.")
DISPUTE_STATEMENT = TextRule(MESSAGE_LENGTH, "Say what went wrong, for the other side and the mediator.")
DISPUTE_MESSAGE = TextRule(MESSAGE_LENGTH, "Write your answer.")
DISPUTE_DECISION = TextRule(MESSAGE_LENGTH, "Give both sides the reason for the decision.")

#: Why a dispute is opened (the short list), in the order the form offers them.
DISPUTE_REASONS = {
    "not_delivered": "Work not delivered",
    "not_as_agreed": "Not what was agreed",
    "quality": "Quality of the work",
    "other": "Other",
}


# ---- shop defaults and fixed limits -----------------------------------------
@dataclass(frozen=True)
class ShopDefaults:
    """What a new shop starts with; the owner changes them in the settings."""

    shop_name: str = "Direct Contracts"
    fee_bps: int = 340  # 3.4%, paid by the freelancer
    auto_release_days: int = 14
    dispute_response_days: int = 7  # the other side's time to answer a dispute
    min_amount: Decimal = Decimal("5")  # per milestone, major units of the contract currency
    max_amount: Decimal = Decimal("1000000")
    time_zone: str = "UTC"  # IANA name (domain.locales): what clients see, and members by default
    locale: str = "en_US"  # one of domain.locales.SUPPORTED_LOCALES


SHOP_DEFAULTS = ShopDefaults()

#: The range the owner may set the auto-release delay in (days).
MIN_AUTO_RELEASE_DAYS = 1
MAX_AUTO_RELEASE_DAYS = 90

#: The range the owner may set a dispute's answering time in (days).
MIN_DISPUTE_RESPONSE_DAYS = 1
MAX_DISPUTE_RESPONSE_DAYS = 30

#: The columns holding an IANA time zone name (the longest today is 32 characters) and a locale ("pt_BR").
TIME_ZONE_LENGTH = 64
LOCALE_LENGTH = 16

#: Milestones one contract may have.
MAX_MILESTONES = 50


#: The largest id a row can have: primary keys are 32-bit INTEGER columns (PostgreSQL refuses a larger
#: value in a query with an error, so a larger id in a URL is simply "not found").
MAX_ID = 2_147_483_647


def is_number(text: str) -> bool:
    """ASCII digits only: ``str.isdigit`` also accepts "²" (which ``int`` refuses) and "١٠" (which it reads)."""
    return text.isascii() and text.isdigit()
