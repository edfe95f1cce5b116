"""Gunicorn settings for Direct Contracts: ``gunicorn`` (run from this directory) reads this file.

The worker timeout comes from the app's own gateway timeouts (``BRAINTREE_CONNECT_TIMEOUT`` +
``BRAINTREE_READ_TIMEOUT`` + a margin, 50 s by default): gunicorn's default of 30 s would kill a
worker waiting on a slow gateway, and the client would get a raw error after a charge that went
through. A longer ``--timeout`` (or ``GUNICORN_TIMEOUT``) is fine; a shorter one is refused at start.

Environment: ``BIND`` (default 127.0.0.1:8000), ``WEB_CONCURRENCY`` (workers, default 2),
``GUNICORN_THREADS`` (threads per worker, default 4), ``GUNICORN_TIMEOUT`` (seconds).

Every refusal (the app's own, such as a missing ``SECRET_KEY``, a timeout too short, a number that is not
one) happens here, in the master before any worker starts, as one sentence on stderr and exit status 1.
"""
import os

from directcontracts import ROOT
from directcontracts import config as cfg


def _whole_number(name: str, default: str) -> int:
    value = os.environ.get(name) or default
    try:
        return int(value)
    except ValueError:
        raise SystemExit(f"Direct Contracts cannot start: {name} must be a whole number, not {value!r}.") from None


try:
    _app_config = cfg.load(ROOT, os.path.join(ROOT, "instance"))
except cfg.ConfigError as refused:
    raise SystemExit(f"Direct Contracts cannot start: {refused}") from None

wsgi_app = "app:app"
bind = os.environ.get("BIND", "127.0.0.1:8000")
workers = _whole_number("WEB_CONCURRENCY", "2")
# Threads: a worker waiting on the gateway for up to 35 s still serves other requests.
threads = _whole_number("GUNICORN_THREADS", "4")
timeout = _whole_number("GUNICORN_TIMEOUT", str(cfg.worker_timeout(_app_config)))
graceful_timeout = timeout  # a restart lets a payment in progress finish
accesslog = "-"  # client links are redacted from gunicorn's log lines by the app (redaction.py)


def on_starting(server):
    """Refuse, before any worker starts, a worker timeout (from this file or the command line) shorter than the
    gateway may take, and whatever the app itself would refuse: a worker that fails to start is only restarted
    by gunicorn, again and again."""
    # A ConfigError is a RuntimeError: gunicorn prints "Error: <the sentence>" and exits 1.
    cfg.check_worker_timeout(_app_config, server.cfg.timeout)
    # The workers' create_app checks it again, against the app's full configuration.
    os.environ["WORKER_TIMEOUT"] = str(server.cfg.timeout)
    from directcontracts import create_app

    create_app()  # a dry run in the master: no request is served and no database connection is opened
