"""Client link and password reset tokens are secrets: they never reach a log line, a traceback or a cron report."""
from __future__ import annotations

import logging
import re

_TOKEN_IN_PATH = re.compile(r"(/c/|/password/reset/)[A-Za-z0-9_\-]{20,}")
_FORMATTER = logging.Formatter()


def redact(text: str) -> str:
    """``text`` with every ``/c/<token>`` replaced by ``/c/[token]`` (and ``/password/reset/<token>`` likewise)."""
    return _TOKEN_IN_PATH.sub(r"\1[token]", text)


def failure(what: str, exc: BaseException) -> str:
    """One failure of a background run, as printed by ``jobs run-due`` and ``payments reconcile``.

    A database error quotes the server's own detail (PostgreSQL: "Failing row
    contains …", e.g. an email body with a client's link), so it is redacted.
    """
    return redact(f"{what}: {type(exc).__name__}: {exc}")


class RedactClientTokens(logging.Filter):
    """Redacts log records (access logs included) and their tracebacks."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "/c/" in message or "/password/reset/" in message:
            record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            # A traceback quotes exception messages (a failed INSERT, a URL): format it now, redacted;
            # handlers print ``exc_text`` as it is.
            record.exc_text = redact(_FORMATTER.formatException(record.exc_info))
        return True


def install_log_redaction() -> None:
    """Attach the filter to the handlers that print access logs and app logs."""
    redactor = RedactClientTokens()
    for name in ("werkzeug", "gunicorn.access", "gunicorn.error", "directcontracts"):
        logging.getLogger(name).addFilter(redactor)
    for handler in logging.getLogger().handlers:
        handler.addFilter(redactor)
