"""Typed errors the services raise; views turn them into messages and status codes."""
from ..domain.rules import TextRule, check_text
from ..domain.states import InvalidTransition  # noqa: F401  (re-exported)


class ServiceError(Exception):
    """Base for errors whose message is fit to show the user."""


class NotFound(ServiceError):
    """No such thing, or not yours (we do not say which)."""


class LinkGone(ServiceError):
    """A single-use emailed link that no longer works (used, expired, or never issued); the message says what to do."""


class ValidationFailed(ServiceError):
    """Input was refused; ``errors`` maps field names to messages."""

    def __init__(self, errors: dict[str, str], message: str = "Please correct the highlighted fields."):
        super().__init__(message)
        self.errors = errors


def clean_text(value: str | None, field: str, rule: TextRule) -> str:
    """``value`` stripped, or ValidationFailed on ``field`` with the rule's message."""
    value = (value or "").strip()
    if error := check_text(value, rule):
        raise ValidationFailed({field: error})
    return value


class PageOutdated(ServiceError):
    """The client acted on a page that no longer matches the contract; ``changes`` says what changed."""

    def __init__(self, changes: list[str]):
        super().__init__("The freelancer changed this contract since you opened it.")
        self.changes = changes
