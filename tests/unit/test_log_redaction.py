"""Client link tokens never reach a log line."""
import logging

from directcontracts.redaction import RedactClientTokens


def test_access_log_line_is_redacted():
    token = "W9WUhnFOD_OgxdO9JUBHAwRFUquH-zWE8qUw4AHVNnQ"
    record = logging.LogRecord("werkzeug", logging.INFO, __file__, 1,
                               '%s - - "%s" %s -', ("127.0.0.1", f"GET /c/{token}/fund HTTP/1.1", "200"), None)
    assert RedactClientTokens().filter(record)
    assert token not in record.getMessage() and '"GET /c/[token]/fund HTTP/1.1"' in record.getMessage()


def test_other_lines_are_untouched():
    record = logging.LogRecord("werkzeug", logging.INFO, __file__, 1, "GET /contracts/%s", (3,), None)
    RedactClientTokens().filter(record)
    assert record.getMessage() == "GET /contracts/3"


def test_a_traceback_quoting_a_link_is_redacted():
    token = "W9WUhnFOD_OgxdO9JUBHAwRFUquH-zWE8qUw4AHVNnQ"
    try:
        raise ValueError(f"could not store the email: Open http://shop.example/c/{token} to pay")
    except ValueError:
        import sys
        record = logging.LogRecord("directcontracts", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    RedactClientTokens().filter(record)
    printed = logging.Formatter().format(record)
    assert token not in printed and "/c/[token] to pay" in printed and "ValueError" in printed


def test_database_errors_hide_parameters_and_cron_failure_lines_are_redacted(app):
    """SQLAlchemy prints no parameters; PostgreSQL's own "Failing row contains …" detail can still
    quote a row (an outbox body with a live link), so the failure line printed by cron is redacted."""
    import pytest
    from sqlalchemy.exc import DBAPIError

    from directcontracts.extensions import db
    from directcontracts.models import OutboxEmail
    from directcontracts.redaction import failure

    token = "W9WUhnFOD_OgxdO9JUBHAwRFUquH-zWE8qUw4AHVNnQ"
    with app.app_context():
        with pytest.raises(DBAPIError) as caught:
            db.session.execute(db.insert(OutboxEmail).values(to_addr=None, subject="Your contract",
                                                             body_text=f"Open http://shop.example/c/{token}"))
        db.session.rollback()
    assert "[SQL parameters hidden due to hide_parameters=True]" in str(caught.value)
    line = failure("email 7", caught.value)
    assert line.startswith("email 7: IntegrityError:") and token not in line
