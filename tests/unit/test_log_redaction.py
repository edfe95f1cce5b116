"""Client link tokens never reach a log line."""
import logging

from directcontracts.web import RedactClientTokens


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
