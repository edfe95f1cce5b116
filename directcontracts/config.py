"""Configuration: defaults here, then ``instance/config.py``, then the environment.

Only values that differ between installations come from the environment; see
the README's table. ``check_production`` refuses to start a real deployment
with a development secret.
"""
from __future__ import annotations

import math
import os
import secrets
from datetime import timedelta
from pathlib import Path

from flask import Config


class ConfigError(RuntimeError):
    """The configuration is unsafe or unreadable: the app refuses to start, saying why in one sentence."""


#: Environment variables read into app.config (strings unless converted below).
ENV_KEYS = (
    "DATABASE_URL", "SECRET_KEY", "BASE_URL",
    "MAIL_SERVER", "MAIL_PORT", "MAIL_USE_TLS", "MAIL_USE_SSL", "MAIL_USERNAME",
    "MAIL_PASSWORD", "MAIL_DEFAULT_SENDER", "MAIL_TIMEOUT",
    "BRAINTREE_ENVIRONMENT", "BRAINTREE_MERCHANT_ID", "BRAINTREE_PUBLIC_KEY",
    "BRAINTREE_PRIVATE_KEY", "BRAINTREE_MERCHANT_ACCOUNTS",
    "BRAINTREE_CONNECT_TIMEOUT", "BRAINTREE_READ_TIMEOUT",
    "TEST_GATEWAY_STORE", "TEST_GATEWAY_SETTLE_AFTER", "TEST_GATEWAY_WEBHOOK_SECRET", "DEMO",
    "ALLOW_TEST_GATEWAY", "ALLOW_LOCAL_INBOX",
    "MAX_CONTENT_LENGTH", "WORKER_TIMEOUT", "RATELIMIT_STORAGE_URI", "TRUSTED_PROXIES", "CLIENT_LINK_DAYS_AFTER_END",
    "RATELIMIT_ENABLED",
    "BACKUP_DIR", "BACKUP_MAX_AGE_HOURS", "HEALTH_REFRESH_MINUTES",
)
_BOOL_KEYS = {"MAIL_USE_TLS", "MAIL_USE_SSL", "DEMO", "ALLOW_TEST_GATEWAY", "ALLOW_LOCAL_INBOX", "RATELIMIT_ENABLED"}
_INT_KEYS = {"MAIL_PORT", "MAIL_TIMEOUT", "MAX_CONTENT_LENGTH", "WORKER_TIMEOUT", "TRUSTED_PROXIES",
             "CLIENT_LINK_DAYS_AFTER_END", "BACKUP_MAX_AGE_HOURS", "HEALTH_REFRESH_MINUTES"}
_NUMBER_KEYS = {"BRAINTREE_CONNECT_TIMEOUT", "BRAINTREE_READ_TIMEOUT", "TEST_GATEWAY_SETTLE_AFTER"}


class Defaults:
    """Values every installation starts from."""

    SQLALCHEMY_DATABASE_URI = None  # set from instance path in create_app
    # hide_parameters: a database error must not print the row it failed on into a log or a
    # cron mail (an outbox row holds a client's link token; contracts hold clients' details).
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True, "hide_parameters": True}
    BASE_URL = "http://127.0.0.1:5000"
    MAIL_SERVER = None
    MAIL_PORT = 25
    MAIL_USE_TLS = False
    MAIL_USE_SSL = False
    MAIL_DEFAULT_SENDER = "Direct Contracts <no-reply@localhost>"
    MAIL_TIMEOUT = 10  # seconds per SMTP step (connect, each reply); see services/mailer.py
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    # A session ends after 12 hours without a request (the cookie is re-signed on each one) and
    # 14 days after the login in any case; see web/sessions.py and the README's "Security".
    PERMANENT_SESSION_LIFETIME = timedelta(hours=12)
    MEMBER_SESSION_MAX_AGE = timedelta(days=14)
    WTF_CSRF_TIME_LIMIT = None  # tied to the session instead: a long form never expires mid-edit
    CONTRACTS_PER_PAGE = 20
    #: Bytes a request body may have (a form, or a future logo upload); a larger one gets a 413 page unread.
    MAX_CONTENT_LENGTH = 2 * 1024 * 1024
    BRAINTREE_ENVIRONMENT = "sandbox"
    BRAINTREE_CONNECT_TIMEOUT = 5  # seconds to open a connection to the gateway
    BRAINTREE_READ_TIMEOUT = 30  # seconds to wait for each part of its answer
    #: The web server's worker timeout in seconds, when known (gunicorn.conf.py sets it): create_app refuses
    #: one that would kill a worker while the gateway may still answer. None: not checked here.
    WORKER_TIMEOUT = None
    BRAINTREE_MERCHANT_ACCOUNTS = ""
    TEST_GATEWAY_STORE = None
    #: Seconds after which the offline test gateway settles a sale, as the sandbox does (None: never by
    #: itself; the demo sets 300).
    TEST_GATEWAY_SETTLE_AFTER = None
    #: Where Flask-Limiter counts attempts: memory:// is per process; several app processes or
    #: servers must share one store (redis://host:6379/0) or each allows the full limit.
    RATELIMIT_STORAGE_URI = "memory://"
    RATELIMIT_KEY_PREFIX = "dc"
    #: If the shared store is down, count in this process's memory rather than fail every login.
    RATELIMIT_SWALLOW_ERRORS = True
    RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True
    #: Reverse proxies in front of the app that set X-Forwarded-For (0: the app faces the internet).
    TRUSTED_PROXIES = 0
    #: Days a finished contract's links keep working after it ended (or after the last link sent since).
    CLIENT_LINK_DAYS_AFTER_END = 90
    #: Where ``flask backup`` writes by default and ``flask doctor`` looks (None: ``instance/backups``).
    BACKUP_DIR = None
    #: The newest backup may be this old before ``flask doctor`` reports it (a daily backup, with slack).
    BACKUP_MAX_AGE_HOURS = 26
    #: ``jobs run-due`` refreshes the owner's health panel this often (0: only "Check now" does).
    HEALTH_REFRESH_MINUTES = 15


def _convert(key: str, value: str):
    if key in _BOOL_KEYS:
        return value.strip().lower() in {"1", "true", "yes", "on"}
    if key in _INT_KEYS:
        try:
            return int(value)
        except ValueError:
            raise ConfigError(f"{key} must be a whole number, not {value!r}.") from None
    if key in _NUMBER_KEYS:
        try:
            number = float(value)
        except ValueError:
            raise ConfigError(f"{key} must be a number of seconds, not {value!r}.") from None
        if not math.isfinite(number) or number < 0:
            raise ConfigError(f"{key} must be a number of seconds, not {value!r}.")
        return value
    return value


def from_environment(environ=os.environ) -> dict:
    """The ENV_KEYS present in the environment, converted."""
    out = {key: _convert(key, environ[key]) for key in ENV_KEYS if environ.get(key)}
    if "DATABASE_URL" in out:
        out["SQLALCHEMY_DATABASE_URI"] = normalise_db_url(out.pop("DATABASE_URL"))
    return out


def normalise_db_url(url: str) -> str:
    """Use psycopg 3 for ``postgres://`` / ``postgresql://`` URLs."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def demo_secret_key(instance_path: str) -> str:
    """A random key kept in ``instance/secret_key`` so demo sessions survive restarts."""
    path = Path(instance_path) / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def parse_merchant_accounts(value: str | dict) -> dict:
    """"USD=acct_usd,EUR=acct_eur" → {"USD": "acct_usd", "EUR": "acct_eur"}."""
    if isinstance(value, dict):
        return value
    pairs = [p.split("=", 1) for p in (value or "").split(",") if "=" in p]
    return {k.strip().upper(): v.strip() for k, v in pairs}


def check_production(config) -> None:
    """Outside debug, testing and the demo, refuse a missing or short secret key, the test gateway (unless
    ``ALLOW_TEST_GATEWAY``) and the local inbox (no ``MAIL_SERVER``, unless ``ALLOW_LOCAL_INBOX``)."""
    if config.get("TESTING") or config.get("DEBUG") or config.get("DEMO"):
        return
    key = config.get("SECRET_KEY")
    if not key or len(key) < 16:
        raise ConfigError(
            "SECRET_KEY is not set (or is shorter than 16 characters): set a long random one in the environment, "
            "such as the output of python3 -c 'import secrets; print(secrets.token_hex(32))'."
        )
    braintree = ("BRAINTREE_MERCHANT_ID", "BRAINTREE_PUBLIC_KEY", "BRAINTREE_PRIVATE_KEY")
    if not all(config.get(k) for k in braintree) and not config.get("ALLOW_TEST_GATEWAY"):
        # The test gateway accepts fake nonces: a real shop on it would show
        # milestones as funded with no money behind them.
        raise ConfigError(
            "Braintree is not configured: set BRAINTREE_MERCHANT_ID, BRAINTREE_PUBLIC_KEY and "
            "BRAINTREE_PRIVATE_KEY, or ALLOW_TEST_GATEWAY=1 for a staging site."
        )
    if not config.get("MAIL_SERVER") and not config.get("ALLOW_LOCAL_INBOX"):
        # Without a mail server every email (the client's link, verification codes) stays in the local
        # inbox: clients would never hear of their contracts.
        raise ConfigError(
            "MAIL_SERVER is not set, so no email would leave the site: set it (and the other MAIL_ settings), "
            "or ALLOW_LOCAL_INBOX=1 for a staging site that keeps its emails in the local inbox."
        )


#: Seconds a worker needs beyond the gateway's connect and read timeouts: the database work before
#: the call (the attempt, the hold) and after it (the ledger, the receipt), under a loaded machine.
WORKER_TIMEOUT_MARGIN = 15


def gateway_timeouts(config) -> tuple[float, float]:
    """(connect, read) seconds allowed to the payment gateway."""
    return float(config.get("BRAINTREE_CONNECT_TIMEOUT") or 5), float(config.get("BRAINTREE_READ_TIMEOUT") or 30)


def worker_timeout(config) -> int:
    """The shortest safe worker timeout: the gateway's connect and read timeouts plus the margin."""
    connect, read = gateway_timeouts(config)
    return math.ceil(connect + read + WORKER_TIMEOUT_MARGIN)


def check_worker_timeout(config, seconds: float | None, source: str = "GUNICORN_TIMEOUT or --timeout") -> None:
    """Refuse a worker timeout that would kill a worker while the gateway may still answer a payment.

    A killed worker answers nothing: the client would see a raw error after a charge that went through.
    ``seconds`` 0 or None (no timeout, or not known) passes; ``source`` names where the timeout came from.
    """
    if not seconds:
        return
    needed = worker_timeout(config)
    if seconds < needed:
        connect, read = gateway_timeouts(config)
        raise ConfigError(
            f"The worker timeout ({seconds:g} s) must be at least {needed} s, the payment gateway's connect "
            f"and read timeouts (BRAINTREE_CONNECT_TIMEOUT {connect:g} s + BRAINTREE_READ_TIMEOUT {read:g} s) "
            f"plus {WORKER_TIMEOUT_MARGIN} s, or a worker is killed while a payment is being confirmed "
            f"(make {source} longer, or leave it unset).")


def load(root_path: str, instance_path: str) -> Config:
    """The configuration as ``create_app`` builds it (defaults, instance/config.py, environment), without an app:
    for gunicorn.conf.py."""
    config = Config(root_path)
    config.from_object(Defaults)
    config.from_pyfile(os.path.join(instance_path, "config.py"), silent=True)
    config.update(from_environment())
    return config
