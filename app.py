"""Entry point: ``flask --app app run`` (and every ``flask --app app`` command), ``gunicorn`` (``app:app``).

A configuration the app refuses (no ``SECRET_KEY``, no Braintree keys, no ``MAIL_SERVER``, a worker timeout
too short, a number that is not one…) ends the process with its one-sentence reason on stderr and exit
status 1, not a traceback: whoever starts it (a shell, systemd, cron) reads what to set.
"""
from directcontracts import create_app
from directcontracts.config import ConfigError

try:
    app = create_app()
except ConfigError as refused:
    raise SystemExit(f"Direct Contracts cannot start: {refused}") from None
