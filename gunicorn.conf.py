"""Gunicorn settings for Direct Contracts: ``gunicorn`` (run from this directory) reads this file.

The worker timeout comes from the app's own gateway timeouts (``BRAINTREE_CONNECT_TIMEOUT`` +
``BRAINTREE_READ_TIMEOUT`` + a margin, 50 s by default): gunicorn's default of 30 s would kill a
worker waiting on a slow gateway, and the client would get a raw error after a charge that went
through. A longer ``--timeout`` (or ``GUNICORN_TIMEOUT``) is fine; a shorter one is refused at start.

Environment: ``BIND`` (default 127.0.0.1:8000), ``WEB_CONCURRENCY`` (workers, default 2),
``GUNICORN_THREADS`` (threads per worker, default 4), ``GUNICORN_TIMEOUT`` (seconds).
"""
import os

from directcontracts import ROOT
from directcontracts import config as cfg

_app_config = cfg.load(ROOT, os.path.join(ROOT, "instance"))

wsgi_app = "app:app"
bind = os.environ.get("BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# Threads: a worker waiting on the gateway for up to 35 s still serves other requests.
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT") or cfg.worker_timeout(_app_config))
graceful_timeout = timeout  # a restart lets a payment in progress finish
accesslog = "-"  # client links are redacted from gunicorn's log lines by the app (redaction.py)


def on_starting(server):
    """Refuse a worker timeout (from this file or the command line) shorter than the gateway may take."""
    cfg.check_worker_timeout(_app_config, server.cfg.timeout)  # a ConfigError: gunicorn prints it and exits 1
    # The workers' create_app checks it again, against the app's full configuration.
    os.environ["WORKER_TIMEOUT"] = str(server.cfg.timeout)
