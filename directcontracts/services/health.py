"""Is this installation fit to take money? The checks behind ``flask doctor`` and the owner's health panel.

Each check returns ``Check`` items (one line each): ``ok``, ``warn`` (works,
but look at it) or ``fail`` (something a client or the books will suffer
from; ``flask doctor`` exits 1). A problem's message says what to do.

- the database is reachable and migrated to the code's Alembic head;
- SECRET_KEY is long, random-looking and not a known example;
- BASE_URL is https (outside the demo) and, with ``check_url``, answers
  ``/healthz`` with this app's "ok";
- SMTP connects and logs in (``send_test_email``: a test email to the owner);
- Braintree accepts the credentials, and each shop currency has a merchant
  account Braintree accepts (a client token each);
- ``jobs run-due`` finished in the last ``JOBS_MAX_AGE``;
- a backup in ``BACKUP_DIR`` is younger than ``BACKUP_MAX_AGE_HOURS``.

The owner's page never runs them: ``refresh`` stores the results (an
``OpsRecord`` named "health") and ``cached`` reads them back. ``jobs run-due``
refreshes them every ``HEALTH_REFRESH_MINUTES`` (``refresh_if_stale``), and
the page's "Check now" at once. The URL fetch and the test email are
``flask doctor`` options only: a web worker fetching its own address could wait
on itself.
"""
from __future__ import annotations

import logging
import math
import os
import smtplib
import ssl
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from urllib.parse import urlsplit

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import current_app
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from ..domain.money import SUPPORTED_CURRENCIES
from ..domain.payments import GatewayUnavailable
from ..extensions import db
from ..models import Contract, Member, OpsRecord, utcnow
from ..payments import current_gateway
from . import accounts, backup

OK, WARN, FAIL = "ok", "warn", "fail"
JOBS_RECORD, HEALTH_RECORD = "jobs.run_due", "health"
#: ``jobs run-due`` runs every minute from cron; this long without a finished run means it is not running.
JOBS_MAX_AGE = timedelta(minutes=10)
#: A SECRET_KEY shorter than this, or with fewer estimated bits, is refused.
SECRET_MIN_LENGTH = 32
#: Below this the key is too regular to be random. The estimate (``estimated_bits``) of 32 random hex digits
#: (``token_hex(16)``, 128 bits) falls as low as about 96 over 20,000 draws, so the bar sits well below it.
SECRET_MIN_BITS = 80
#: Keys seen in examples, tutorials and this project's own tests: never a real one.
KNOWN_SECRETS = frozenset({
    "test-secret-key-not-for-production", "dev", "development", "secret", "secret-key", "secretkey",
    "changeme", "change-me", "change_me", "please-change-me", "your-secret-key", "your_secret_key",
    "supersecret", "super-secret", "mysecret", "default", "insecure", "not-secret",
})


@dataclass(frozen=True)
class Check:
    """One line of the report: what was checked (``item``), ``ok`` / ``warn`` / ``fail``, and what to do."""

    item: str
    status: str
    message: str

    @property
    def line(self) -> str:
        return f"{self.status.upper():4}  {self.item}: {self.message}"


def _ago(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 1:
        return "less than a minute ago"
    if minutes < 120:
        return f"{minutes} minute{'s' if minutes != 1 else ''} ago"
    hours = minutes // 60
    return f"{hours} hours ago" if hours < 48 else f"{hours // 24} days ago"


def _demo() -> bool:
    return bool(current_app.config.get("DEMO"))


# ---- database ---------------------------------------------------------------------

def check_database() -> list[Check]:
    """Reachable, and at the migrations' head (``alembic current`` against ``heads``)."""
    directory = current_app.extensions["migrate"].directory
    heads = set(ScriptDirectory(directory).get_heads())
    quiet = logging.getLogger("alembic.runtime.migration")
    level = quiet.level
    quiet.setLevel(logging.WARNING)  # its "Context impl SQLiteImpl" lines are not the doctor's
    try:
        with db.engine.connect() as conn:
            current = set(MigrationContext.configure(conn).get_current_heads())
    except SQLAlchemyError as exc:
        reason = type(getattr(exc, "orig", None) or exc).__name__
        return [Check("database", FAIL, f"cannot be reached ({reason}): check DATABASE_URL and that the "
                                         f"database server runs")]
    finally:
        quiet.setLevel(level)
    if current == heads:
        return [Check("database", OK, f"reachable, migrated to the latest revision ({', '.join(sorted(heads))})")]
    if not current:
        return [Check("database", FAIL, "reachable but not migrated (no Alembic revision): run "
                                        "`flask --app app db upgrade`")]
    return [Check("database", FAIL, f"at revision {', '.join(sorted(current))}, the code expects "
                                    f"{', '.join(sorted(heads))}: run `flask --app app db upgrade`")]


# ---- secret key -------------------------------------------------------------------

def estimated_bits(key: str) -> float:
    """Shannon entropy of the key's characters times its length: a rough upper bound of its randomness."""
    counts = Counter(key)
    per_char = -sum(n / len(key) * math.log2(n / len(key)) for n in counts.values()) if key else 0.0
    return per_char * len(key)


def _periodic(key: str) -> bool:
    """Whether the key is a shorter group repeated (``0123456789`` × 4 looks random char by char)."""
    return any(key == (key[:n] * (len(key) // n + 1))[:len(key)] for n in range(1, len(key) // 2 + 1))


def secret_key_problem(key: str | None) -> str | None:
    """What is wrong with ``key`` as a SECRET_KEY, or None."""
    fix = "set SECRET_KEY to python -c 'import secrets; print(secrets.token_hex(32))'"
    if not key:
        return f"not set: {fix}"
    if key.strip().lower() in KNOWN_SECRETS or "not-for-production" in key.lower():
        return f"a known example value, anyone can sign sessions with it: {fix}"
    if len(key) < SECRET_MIN_LENGTH:
        return f"only {len(key)} characters (at least {SECRET_MIN_LENGTH}): {fix}"
    if _periodic(key) or estimated_bits(key) < SECRET_MIN_BITS:
        return f"too regular to be random (about {estimated_bits(key):.0f} bits): {fix}"
    return None


def check_secret_key() -> list[Check]:
    """Long, random-looking, not a known default."""
    problem = secret_key_problem(current_app.config.get("SECRET_KEY"))
    if problem:
        return [Check("SECRET_KEY", FAIL, problem)]
    return [Check("SECRET_KEY", OK, f"{len(current_app.config['SECRET_KEY'])} characters, random-looking")]


# ---- base URL ---------------------------------------------------------------------

def check_base_url(fetch: bool = False, timeout: float = 5.0) -> list[Check]:
    """https outside the demo; with ``fetch``, ``BASE_URL/healthz`` must answer this app's "ok"."""
    base = (current_app.config.get("BASE_URL") or "").rstrip("/")
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return [Check("BASE_URL", FAIL, f"{base or '(empty)'} is not an http(s) address: set BASE_URL to the "
                                        f"site's public address, e.g. https://contracts.example.com")]
    checks = []
    if parts.scheme != "https" and not _demo():
        checks.append(Check("BASE_URL", FAIL, f"{base} is not https: clients' links and session cookies travel "
                                              f"in clear; serve the site over TLS and set BASE_URL to https://…"))
    else:
        checks.append(Check("BASE_URL", OK, base))
    if fetch:
        checks.append(_fetch_healthz(base, timeout))
    return checks


def _fetch_healthz(base: str, timeout: float) -> Check:
    url = base + "/healthz"
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers={"User-Agent": "flask-doctor"}),
                                    timeout=timeout) as response:
            body = response.read(64).decode("utf-8", "replace").strip()
            final = response.geturl()
    except urllib.error.HTTPError as exc:
        return Check("BASE_URL answers", FAIL, f"{url} answered {exc.code}: the address does not lead to this "
                                               f"app (check the reverse proxy and BASE_URL)")
    except (urllib.error.URLError, OSError, ssl.SSLError) as exc:
        reason = getattr(exc, "reason", exc)
        return Check("BASE_URL answers", FAIL, f"{url} could not be fetched ({reason}): check DNS, the reverse "
                                               f"proxy and its certificate")
    if body != "ok" or urlsplit(final).hostname != urlsplit(url).hostname:
        return Check("BASE_URL answers", FAIL, f"{url} answered, but not as this app does (redirected to {final} "
                                               f"or another site): check BASE_URL and the reverse proxy")
    return Check("BASE_URL answers", OK, f"{url} answers ok")


# ---- SMTP -------------------------------------------------------------------------

def check_smtp(send_test_email: bool = False) -> list[Check]:
    """Connect (TLS as configured) and log in; optionally send a test email to the owner."""
    config = current_app.config
    if not config.get("MAIL_SERVER"):
        if _demo():
            return [Check("SMTP", OK, "no MAIL_SERVER: emails stay in the local inbox (demo)")]
        return [Check("SMTP", FAIL, "no MAIL_SERVER: no email leaves the site, clients never get their links; "
                                    "set MAIL_SERVER, MAIL_PORT, MAIL_USERNAME, MAIL_PASSWORD")]
    state = current_app.extensions["mail"]
    where = f"{state.server}:{state.port}"
    timeout = float(config.get("MAIL_TIMEOUT") or 10)
    owner = None
    if send_test_email:
        owner = accounts.owner()
    try:
        smtp = (smtplib.SMTP_SSL if state.use_ssl else smtplib.SMTP)(state.server, state.port, timeout=timeout)
    except (OSError, smtplib.SMTPException) as exc:
        return [Check("SMTP", FAIL, f"cannot connect to {where} ({type(exc).__name__}: {exc}): check MAIL_SERVER "
                                    f"and MAIL_PORT, and that the firewall lets the app out")]
    checks = []
    try:
        if state.use_tls:
            smtp.starttls(context=ssl.create_default_context())
        if state.username and state.password:
            smtp.login(state.username, state.password)
        smtp.noop()
        how = "logged in" if state.username and state.password else "connected (no MAIL_USERNAME: not logging in)"
        checks.append(Check("SMTP", OK, f"{where} {how}"))
        if send_test_email:
            checks.append(_test_email(smtp, owner))
    except smtplib.SMTPAuthenticationError as exc:
        checks.append(Check("SMTP", FAIL, f"{where} refused the login ({exc.smtp_code}): check MAIL_USERNAME and "
                                          f"MAIL_PASSWORD"))
    except (OSError, smtplib.SMTPException, ssl.SSLError) as exc:
        checks.append(Check("SMTP", FAIL, f"{where} connected but failed ({type(exc).__name__}: {exc}): check "
                                          f"MAIL_USE_TLS / MAIL_USE_SSL against the port"))
    finally:
        try:
            smtp.quit()
        except (OSError, smtplib.SMTPException):
            smtp.close()
    return checks


def _test_email(smtp: smtplib.SMTP, owner: Member | None) -> Check:
    if owner is None:
        return Check("test email", FAIL, "no owner to send it to: create one with `flask create-member … --owner`")
    message = EmailMessage()
    message["From"] = current_app.extensions["mail"].default_sender
    message["To"] = owner.email
    message["Subject"] = "Direct Contracts: test email from flask doctor"
    message.set_content("This test email was sent by `flask doctor --send-test-email`. "
                        "If you read it, the site's email reaches its readers.\n")
    try:
        smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        return Check("test email", FAIL, f"refused for {owner.email} ({type(exc).__name__}: {exc}): check "
                                         f"MAIL_DEFAULT_SENDER is an address the server may send from")
    return Check("test email", OK, f"sent to {owner.email}: check that it arrived (and not as spam)")


# ---- Braintree --------------------------------------------------------------------

def check_gateway() -> list[Check]:
    """The credentials (a client token), and a merchant account Braintree accepts for each shop currency."""
    gateway = current_gateway()
    if gateway.name != "braintree":
        if _demo() or current_app.config.get("TESTING"):
            return [Check("Braintree", OK, "the offline test gateway (demo): no real money moves")]
        return [Check("Braintree", WARN, "the offline test gateway (ALLOW_TEST_GATEWAY=1) takes no real money: "
                                         "set the BRAINTREE_* keys before taking payments")]
    environment = "sandbox" if gateway.test_mode else "production"
    try:
        gateway.check_credentials()
    except GatewayUnavailable as exc:
        return [Check("Braintree", FAIL, f"{exc}: check BRAINTREE_MERCHANT_ID, BRAINTREE_PUBLIC_KEY, "
                                         f"BRAINTREE_PRIVATE_KEY and BRAINTREE_ENVIRONMENT ({environment})")]
    checks = [Check("Braintree", OK, f"credentials accepted ({environment})")]
    accounts = gateway.merchant_accounts
    if not accounts:
        return checks + [Check("merchant accounts", FAIL, "BRAINTREE_MERCHANT_ACCOUNTS is empty: every sale goes "
                               "to the default account and one in another currency is voided; set "
                               "USD=…,EUR=… (one account per currency)")]
    used = set(db.session.scalars(db.select(Contract.currency).distinct()))
    for currency in SUPPORTED_CURRENCIES:
        account = accounts.get(currency)
        item = f"merchant account {currency}"
        if not account:
            status = FAIL if currency in used else WARN
            checks.append(Check(item, status, f"none: contracts in {currency} cannot be paid"
                                              f"{' (some exist)' if currency in used else ''}; add "
                                              f"{currency}=<account id> to BRAINTREE_MERCHANT_ACCOUNTS"))
            continue
        try:
            gateway.client_token(currency)
        except GatewayUnavailable as exc:
            checks.append(Check(item, FAIL, f"{account} refused ({exc}): copy the {currency} merchant account id "
                                            f"from the Braintree control panel into BRAINTREE_MERCHANT_ACCOUNTS"))
        else:
            checks.append(Check(item, OK, f"{account} accepted"))
    return checks


# ---- jobs and backups -------------------------------------------------------------

def record_jobs_run(failures: int, now: datetime | None = None) -> None:
    """Remember that a ``jobs run-due`` finished now (the real clock; ``now`` is the pretended time, kept)."""
    _put(JOBS_RECORD, {"failures": failures, "pretended": now.isoformat() if now else None})


def check_jobs() -> list[Check]:
    """``jobs run-due`` finished within JOBS_MAX_AGE."""
    record = db.session.get(OpsRecord, JOBS_RECORD)
    fix = "check the cron line or systemd timer running `flask --app app jobs run-due` every minute (README, Scheduling)"
    if record is None:
        return [Check("jobs", FAIL, f"`jobs run-due` has never finished: {fix}")]
    age = utcnow() - record.at
    if age > JOBS_MAX_AGE:
        return [Check("jobs", FAIL, f"last run finished {_ago(age)}: {fix}")]
    failures = (record.data or {}).get("failures") or 0
    if failures:
        return [Check("jobs", WARN, f"last run {_ago(age)} had {failures} failure(s): run "
                                    f"`flask --app app jobs run-due` by hand to read them")]
    return [Check("jobs", OK, f"last run finished {_ago(age)}")]


def backup_dir() -> str:
    """Where backups are written and looked for: BACKUP_DIR, or ``instance/backups``."""
    return current_app.config.get("BACKUP_DIR") or os.path.join(current_app.instance_path, "backups")


def check_backups() -> list[Check]:
    """The newest backup in BACKUP_DIR is younger than BACKUP_MAX_AGE_HOURS."""
    directory = backup_dir()
    max_age = timedelta(hours=float(current_app.config.get("BACKUP_MAX_AGE_HOURS") or 26))
    fix = f"schedule `flask --app app backup {directory}` daily (README, Scheduling)"
    found = backup.backups(directory)
    if not found:
        if _demo():
            return [Check("backups", WARN, f"none in {directory} (demo): {fix}")]
        return [Check("backups", FAIL, f"none in {directory}: {fix}")]
    age = utcnow() - found[-1].taken_at
    if age > max_age:
        return [Check("backups", FAIL, f"the newest in {directory} was taken {_ago(age)}: {fix}")]
    return [Check("backups", OK, f"{len(found)} in {directory}, the newest taken {_ago(age)}")]


# ---- all, stored ------------------------------------------------------------------

def run_all(*, check_url: bool = False, send_test_email: bool = False) -> list[Check]:
    """Every check, in the order they are printed. External calls happen here, outside any transaction."""
    checks = check_database()
    ready = checks[0].status != FAIL
    checks += check_secret_key() + check_base_url(fetch=check_url) + check_smtp(send_test_email)
    db.session.rollback()  # end the owner look-up's read before the gateway is called
    if ready:
        checks += check_gateway() + check_jobs()
        db.session.rollback()
    else:
        checks += [Check("Braintree", WARN, "not checked: the database is not ready"),
                   Check("jobs", WARN, "not checked: the database is not ready")]
    return checks + check_backups()


def failed(checks: list[Check]) -> bool:
    """Whether any check failed (``flask doctor`` exits 1)."""
    return any(c.status == FAIL for c in checks)


def _put(name: str, data: dict) -> None:
    """Overwrite the record ``name`` (at the real clock's now) and commit; a parallel first insert is retried."""
    for _ in range(2):
        record = db.session.get(OpsRecord, name)
        if record is None:
            db.session.add(OpsRecord(name=name, at=utcnow(), data=data))
        else:
            record.at, record.data = utcnow(), data
        try:
            db.session.commit()
            return
        except IntegrityError:  # another run inserted it first: update theirs
            db.session.rollback()


def refresh() -> tuple[datetime, list[Check]]:
    """Run the checks (no URL fetch, no email) and store them for the owner's page."""
    checks = run_all()
    _put(HEALTH_RECORD, {"checks": [asdict(c) for c in checks]})
    return cached()


def cached() -> tuple[datetime, list[Check]] | None:
    """(when, the checks) of the last stored run, or None if none was stored."""
    record = db.session.get(OpsRecord, HEALTH_RECORD)
    if record is None:
        return None
    return record.at, [Check(**c) for c in (record.data or {}).get("checks", [])]


def refresh_if_stale() -> bool:
    """Refresh when the stored checks are older than HEALTH_REFRESH_MINUTES (0: never here); whether it ran."""
    minutes = float(current_app.config.get("HEALTH_REFRESH_MINUTES") or 0)
    if minutes <= 0:
        return False
    record = db.session.get(OpsRecord, HEALTH_RECORD)
    if record is not None and utcnow() - record.at < timedelta(minutes=minutes):
        return False
    db.session.rollback()
    refresh()
    return True
