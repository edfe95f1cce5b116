"""The web layer: blueprints, template helpers, htmx plumbing."""

import logging
import re

_TOKEN_IN_PATH = re.compile(r"(/c/)[A-Za-z0-9_\-]{20,}")


class RedactClientTokens(logging.Filter):
    """Client link tokens are secrets: never let them reach a log line (access logs included)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "/c/" in message:
            record.msg, record.args = _TOKEN_IN_PATH.sub(r"\1[token]", message), None
        if record.exc_info and not record.exc_text:
            # A traceback quotes exception messages (a failed INSERT, a URL): format it now, redacted;
            # handlers print ``exc_text`` as it is.
            record.exc_text = _TOKEN_IN_PATH.sub(r"\1[token]", _FORMATTER.formatException(record.exc_info))
        return True


_FORMATTER = logging.Formatter()


def install_log_redaction() -> None:
    """Attach the filter to the handlers that print access logs and app logs."""
    redact = RedactClientTokens()
    for name in ("werkzeug", "gunicorn.access", "gunicorn.error", "directcontracts"):
        logging.getLogger(name).addFilter(redact)
    for handler in logging.getLogger().handlers:
        handler.addFilter(redact)
