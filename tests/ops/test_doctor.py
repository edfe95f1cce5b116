"""``flask doctor`` and the checks behind it (services/health.py): each item catches what it names.

The mail servers are real sockets on loopback (aiosmtpd); ``BASE_URL`` is
fetched from a real HTTP server serving this app. Braintree's checks are in
tests/payments/test_doctor_gateway.py, against the stand-in.
"""
from __future__ import annotations

import os
import secrets
import threading
from datetime import timedelta

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from werkzeug.serving import make_server

from directcontracts import create_app
from directcontracts.models import OpsRecord, utcnow
from directcontracts.services import backup, health
from tests.web.test_outbox import Catcher, free_port, no_mail_server, use_mail_server

STRONG = secrets.token_hex(32)


def by_item(checks) -> dict:
    return {c.item: c for c in checks}


# ---- database ---------------------------------------------------------------------

def test_database_not_migrated_at_head_or_older(app, stamp):
    (check,) = health.check_database()
    assert check.status == "fail" and "db upgrade" in check.message and "not migrated" in check.message
    stamp("066a28a3595c")
    (check,) = health.check_database()
    assert check.status == "fail" and "066a28a3595c" in check.message and "db upgrade" in check.message
    stamp()
    (check,) = health.check_database()
    assert check.status == "ok", check


def test_database_unreachable(tmp_path):
    other = create_app({"TESTING": True, "SECRET_KEY": STRONG,
                        "SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://nobody@127.0.0.1:1/nothing"})
    with other.app_context():
        (check,) = health.check_database()
        checks = health.run_all()
    assert check.status == "fail" and "cannot be reached" in check.message and "DATABASE_URL" in check.message
    assert by_item(checks)["jobs"].message.startswith("not checked")


# ---- SECRET_KEY -------------------------------------------------------------------

@pytest.mark.parametrize("key, says", [
    (None, "not set"), ("", "not set"),
    ("test-secret-key-not-for-production", "known example"), ("change-me", "known example"),
    ("s3cr3t-but-short", "only 16 characters"),
    ("a" * 64, "too regular"), ("ab" * 32, "too regular"), ("0123456789" * 4, "too regular"),
    ("aaaabbbbaaaabbbbaaaabbbbaaaabbbbx", "too regular"),
])
def test_weak_secret_keys_are_named(key, says):
    problem = health.secret_key_problem(key)
    assert problem and says in problem and "secrets.token_hex(32)" in problem


@pytest.mark.parametrize("make", [lambda: secrets.token_hex(16), lambda: secrets.token_hex(32),
                                  lambda: secrets.token_urlsafe(32)])
def test_random_secret_keys_pass(make):
    for _ in range(50):
        assert health.secret_key_problem(make()) is None


def test_the_suite_secret_key_fails_the_doctor(app):
    (check,) = health.check_secret_key()
    assert check.status == "fail" and "known example" in check.message


# ---- BASE_URL ---------------------------------------------------------------------

@pytest.fixture
def served(app):
    """This app on a real HTTP server on loopback: its address."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)


def test_base_url_must_be_https_outside_the_demo(app, monkeypatch):
    monkeypatch.setitem(app.config, "BASE_URL", "http://contracts.example.com")
    (check,) = health.check_base_url()
    assert check.status == "fail" and "not https" in check.message
    monkeypatch.setitem(app.config, "DEMO", True)
    assert health.check_base_url()[0].status == "ok"
    monkeypatch.setitem(app.config, "DEMO", False)
    monkeypatch.setitem(app.config, "BASE_URL", "https://contracts.example.com")
    assert health.check_base_url()[0].status == "ok"
    monkeypatch.setitem(app.config, "BASE_URL", "contracts.example.com")
    assert health.check_base_url()[0].status == "fail"


def test_check_url_fetches_healthz_from_base_url(app, monkeypatch, served):
    monkeypatch.setitem(app.config, "BASE_URL", served + "/")
    _, fetched = health.check_base_url(fetch=True)
    assert fetched.status == "ok" and fetched.message == f"{served}/healthz answers ok"


def test_check_url_catches_another_site_and_nothing(app, monkeypatch):
    other = make_server("127.0.0.1", 0, lambda environ, start: (start("404 Not Found", []), [b"nope"])[1])
    thread = threading.Thread(target=other.serve_forever, daemon=True)
    thread.start()
    try:
        monkeypatch.setitem(app.config, "BASE_URL", f"http://127.0.0.1:{other.server_port}")
        _, fetched = health.check_base_url(fetch=True, timeout=2)
        assert fetched.status == "fail" and "answered 404" in fetched.message
    finally:
        other.shutdown()
    monkeypatch.setitem(app.config, "BASE_URL", f"http://127.0.0.1:{free_port()}")
    _, fetched = health.check_base_url(fetch=True, timeout=2)
    assert fetched.status == "fail" and "could not be fetched" in fetched.message


def test_healthz_answers_ok_to_anyone(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.text == "ok"
    assert response.headers["Cache-Control"] == "no-store"


# ---- SMTP -------------------------------------------------------------------------

class Authenticator:
    """Accepts one login (aiosmtpd over plain text on loopback, for the test)."""

    def __call__(self, server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (b"shop", b"right")
        return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535 itself


@pytest.fixture
def smtp_auth(app):
    catcher = Catcher()
    controller = Controller(catcher, hostname="127.0.0.1", port=free_port(), authenticator=Authenticator(),
                            auth_require_tls=False)
    controller.start()
    use_mail_server(app, controller.port)
    state = app.extensions["mail"]
    saved = state.username, state.password
    yield catcher, state
    state.username, state.password = saved
    no_mail_server(app)
    controller.stop()


def test_smtp_missing_outside_the_demo(app, monkeypatch):
    (check,) = health.check_smtp()
    assert check.status == "fail" and "MAIL_SERVER" in check.message
    monkeypatch.setitem(app.config, "DEMO", True)
    assert health.check_smtp()[0].status == "ok"


def test_smtp_logs_in_and_sends_the_owner_a_test_email(smtp_auth, make_member):
    catcher, state = smtp_auth
    make_member("olive@example.com", "Olive Owner", owner=True)
    state.username, state.password = "shop", "right"
    ok, sent = health.check_smtp(send_test_email=True)
    assert ok.status == "ok" and "logged in" in ok.message
    assert sent.status == "ok" and "olive@example.com" in sent.message
    (message,) = catcher.parsed()
    assert message["To"] == "olive@example.com" and "flask doctor" in message["Subject"]


def test_smtp_wrong_password_and_dead_server(app, smtp_auth):
    _, state = smtp_auth
    state.username, state.password = "shop", "wrong"
    (check,) = health.check_smtp()
    assert check.status == "fail" and "refused the login" in check.message and "MAIL_PASSWORD" in check.message
    use_mail_server(app, free_port())
    (check,) = health.check_smtp()
    assert check.status == "fail" and "cannot connect" in check.message and "MAIL_PORT" in check.message


# ---- jobs and backups -------------------------------------------------------------

def test_jobs_never_recent_stale_and_failing(db, runner):
    (check,) = health.check_jobs()
    assert check.status == "fail" and "never" in check.message and "jobs run-due" in check.message
    result = runner.invoke(args=["jobs", "run-due", "--now", "2030-01-15 12:00:00"])
    assert result.exit_code == 0, result.output
    (check,) = health.check_jobs()
    assert check.status == "ok", check  # the real clock's time is recorded, not the pretended one
    record = db.session.get(OpsRecord, health.JOBS_RECORD)
    record.at = utcnow() - timedelta(minutes=11)
    db.session.commit()
    (check,) = health.check_jobs()
    assert check.status == "fail" and "11 minutes ago" in check.message
    health.record_jobs_run(2)
    (check,) = health.check_jobs()
    assert check.status == "warn" and "2 failure(s)" in check.message


def test_backups_none_fresh_and_old(app, monkeypatch, tmp_path):
    monkeypatch.setitem(app.config, "BACKUP_DIR", str(tmp_path))
    (check,) = health.check_backups()
    assert check.status == "fail" and "none in" in check.message and "flask --app app backup" in check.message
    old = tmp_path / "directcontracts-20200101T000000Z.sqlite3"
    old.write_bytes(b"x")
    (check,) = health.check_backups()
    assert check.status == "fail" and "days ago" in check.message
    backup.take(app.config["SQLALCHEMY_DATABASE_URI"], tmp_path)
    (check,) = health.check_backups()
    assert check.status == "ok" and "2 in" in check.message


# ---- the command ------------------------------------------------------------------

def test_doctor_prints_one_line_per_item_and_exits_1(runner):
    result = runner.invoke(args=["doctor"])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert [line.split(":")[0].split()[-1] for line in lines] == [
        "database", "SECRET_KEY", "BASE_URL", "SMTP", "Braintree", "jobs", "backups"]
    assert all(line.split()[0] in ("OK", "WARN", "FAIL") for line in lines)
    assert "FAIL  database: reachable but not migrated" in result.output


def test_doctor_passes_on_a_healthy_site(app, runner, monkeypatch, tmp_path, stamp, smtp_auth, served):
    stamp()
    _, state = smtp_auth
    state.username, state.password = "shop", "right"
    for key, value in {"SECRET_KEY": STRONG, "BASE_URL": served, "DEMO": True,
                       "BACKUP_DIR": str(tmp_path)}.items():
        monkeypatch.setitem(app.config, key, value)
    assert runner.invoke(args=["backup"]).exit_code == 0
    assert runner.invoke(args=["jobs", "run-due"]).exit_code == 0
    result = runner.invoke(args=["doctor", "--check-url"])
    assert result.exit_code == 0, result.output
    assert len(result.output.strip().splitlines()) == 8 and "FAIL" not in result.output
    assert os.listdir(tmp_path)
