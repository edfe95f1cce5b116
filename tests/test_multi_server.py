"""More than one machine (issue 12): two app servers share one PostgreSQL, one Redis and one gateway.

Two gunicorn servers on two loopback ports, with the same ``DATABASE_URL`` (the suite's PostgreSQL),
``SECRET_KEY``, ``RATELIMIT_STORAGE_URI`` (Redis database 9) and ``TEST_GATEWAY_STORE`` (one JSON file,
the offline gateway's stand-in for Braintree's own records). A browser that goes to either server shows:

* a client verified on one server is verified on the other (the device cookie works on both);
* failed logins are counted across both servers;
* one fund submit sent to both servers with the same idempotency key charges once;
* ``jobs run-due`` started on both at the same moment releases each milestone once and sends each
  reminder once (one of them takes the advisory lock; the other skips, or finds nothing left to do).

PostgreSQL only (``TEST_DATABASE_URL``); skipped on SQLite, which is one machine by nature, and when no
Redis answers at ``TEST_REDIS_URL`` (default ``redis://127.0.0.1:6379/9``, which the test empties).
"""
from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
import requests

from directcontracts.models import Journal, Milestone, OutboxEmail, PaymentAttempt, Reminder, utcnow
from directcontracts.payments.testgateway import JsonFileStore
from tests.conftest import PASSWORD, sales
from tests.web.builders import contract, fund_form, sent_contract, verify

pytestmark = pytest.mark.multi_server

ROOT = Path(__file__).resolve().parent.parent
#: The Redis database the servers count rate limits in; emptied before and after the test (its own).
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/9")
TOKEN_RE = re.compile(r'"X-CSRFToken": "([^"]+)"')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Response:
    """What the builders read of a response: status, text, headers and ``location``."""

    def __init__(self, r: requests.Response):
        self.status_code, self.text, self.headers = r.status_code, r.text, r.headers
        self.location = r.headers.get("Location")


class Browser:
    """A browser (one cookie jar) pointed at one server or the other (``at``); sends the CSRF token."""

    def __init__(self, base: str):
        self.base = base
        self.http = requests.Session()

    def at(self, base: str) -> "Browser":
        self.base = base
        return self

    def copy(self) -> "Browser":
        other = Browser(self.base)
        other.http.cookies.update(self.http.cookies)
        return other

    def csrf(self) -> str:
        page = self.http.get(self.base + "/login", timeout=30)
        return TOKEN_RE.search(page.text).group(1)

    def get(self, url, htmx=False):
        headers = {"HX-Request": "true"} if htmx else {}
        return Response(self.http.get(self.base + url, headers=headers, allow_redirects=False, timeout=60))

    def post(self, url, data=None, htmx=False):
        data, headers = dict(data or {}), {}
        if htmx:
            headers = {"HX-Request": "true", "X-CSRFToken": self.csrf()}
        else:
            data.setdefault("csrf_token", self.csrf())
        return Response(self.http.post(self.base + url, data=data, headers=headers, allow_redirects=False,
                                       timeout=60))


@pytest.fixture
def shared(app, db, tmp_path, gateway):
    """The environment both servers (and both job runners) get."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("several app servers share one PostgreSQL: set TEST_DATABASE_URL to run this")
    import redis
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).flushdb()  # database 9 is this test's own
    except redis.ConnectionError:
        pytest.skip(f"Redis not reachable at {REDIS_URL} (TEST_REDIS_URL): multi-server test skipped")
    store = tmp_path / "gateway.json"
    gateway.store = JsonFileStore(store)  # the after-test check compares these sales with the books
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAIL_", "BRAINTREE_", "DEMO"))}
    env.update(DATABASE_URL=db.engine.url.render_as_string(hide_password=False),
               SECRET_KEY="multi-server-test-secret-key-0123456789abcdef", ALLOW_TEST_GATEWAY="1",
               ALLOW_LOCAL_INBOX="1",
               TEST_GATEWAY_STORE=str(store), RATELIMIT_STORAGE_URI=REDIS_URL, BASE_URL="http://127.0.0.1",
               WEB_CONCURRENCY="1", GUNICORN_THREADS="4", PYTHONPATH=str(ROOT))
    yield env
    redis.Redis.from_url(REDIS_URL).flushdb()


@pytest.fixture
def servers(shared, tmp_path):
    """Two gunicorn servers on two ports; yields their base URLs."""
    procs, bases = [], []
    for name in ("a", "b"):
        port = free_port()
        log = open(tmp_path / f"server-{name}.log", "w")
        procs.append((subprocess.Popen([sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}"],
                                       cwd=ROOT, env=shared, stdout=log, stderr=subprocess.STDOUT), log))
        bases.append(f"http://127.0.0.1:{port}")
    try:
        for base, (proc, _) in zip(bases, procs):
            deadline = time.monotonic() + 30
            while True:
                assert proc.poll() is None, (tmp_path / "server-a.log").read_text() + \
                    (tmp_path / "server-b.log").read_text()
                try:
                    requests.get(base + "/login", timeout=2)
                    break
                except requests.ConnectionError:
                    assert time.monotonic() < deadline, f"{base} did not start"
                    time.sleep(0.2)
        yield bases
    finally:
        for proc, log in procs:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.close()


def both(first, second):
    """Run two calls at the same moment (threads released together); returns their results."""
    results, gate = [None, None], threading.Barrier(2)

    def run(i, call):
        gate.wait()
        results[i] = call()
    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate((first, second))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return results


def test_two_servers_share_one_database(app, db, make_member, outbox, servers, shared, gateway):
    a, b = servers
    make_member("olive@shop.example", "Olga Owner", owner=True)
    fran_member = make_member("fran@example.com", "Fran Freelancer", owner=False)
    fran = Browser(a)
    assert fran.post("/login", {"email": fran_member.email, "password": PASSWORD}).status_code == 303
    assert fran.at(b).get("/contracts").status_code == 200  # the session is good on both servers

    # A client verified on one server is verified on the other.
    cid, link = sent_contract(fran.at(a), outbox)
    client = Browser(a)
    verify(client, link, outbox)
    assert Browser(b).get(f"{link}/fund").status_code == 303  # another browser must verify first...
    shown = fund_form(client.at(b), link)  # ...this one need not, on either server

    # One fund submit, sent to both servers at once with the same idempotency key, charges once.
    data = shown | {"choice": "all", "payment_method_nonce": "fake-valid-nonce",
                    "signer_name": "Carla Client", "agree": "yes"}
    one, other = client.copy().at(a), client.copy().at(b)
    results = both(lambda: one.post(f"{link}/fund", data), lambda: other.post(f"{link}/fund", data))
    assert all(r.status_code < 500 for r in results), [(r.status_code, r.text[:300]) for r in results]
    db.session.expire_all()
    assert len(sales(gateway)) == 1
    attempts = db.session.scalars(db.select(PaymentAttempt).where(PaymentAttempt.contract_id == cid)).all()
    assert len(attempts) == 1 and attempts[0].status == "succeeded"
    funding = db.session.scalar(db.select(db.func.count(Journal.id))
                                .where(Journal.contract_id == cid, Journal.kind == "funding"))
    assert funding == 1

    # Failed logins are counted across both servers (20 an hour per account).
    stranger = Browser(a)
    for i in range(20):
        r = stranger.at((a, b)[i % 2]).post("/login", {"email": "target@example.com", "password": f"guess {i}"})
        assert r.status_code == 401, (i, r.status_code)
    for base in (a, b):
        assert stranger.at(base).post("/login", {"email": "target@example.com", "password": "guess"}
                                      ).status_code == 429

    # jobs run-due started on both machines at once: each milestone released once, each reminder sent once.
    first, second = (m.id for m in contract(db, cid).milestones[:2])
    for mid in (first, second):
        r = fran.at(b).post(f"/contracts/{cid}/milestones/{mid}/request-payment",
                            {"note": "Done.", "url": "https://staging.client-co.com"})
        assert r.status_code == 303, r.text
    now = (utcnow() + timedelta(days=1)).replace(hour=12, minute=30, second=0, microsecond=0)
    db.session.execute(db.update(Milestone).where(Milestone.id == first).values(auto_release_at=now - timedelta(hours=1)))
    db.session.execute(db.update(Milestone).where(Milestone.id == second).values(auto_release_at=now + timedelta(days=3)))
    db.session.commit()
    flask = [sys.executable, "-m", "flask", "--app", "app", "jobs", "run-due", "--now", f"{now:%Y-%m-%d %H:%M:%S}"]
    runs = both(*(lambda: subprocess.run(flask, cwd=ROOT, env=shared, capture_output=True, text=True, timeout=120)
                  for _ in range(2)))
    for run in runs:
        assert run.returncode == 0, run.stdout + run.stderr
    outputs = [run.stdout for run in runs]
    assert any("auto released 1" in out for out in outputs), outputs
    assert not all("auto released 1" in out for out in outputs), outputs
    db.session.expire_all()
    assert db.session.get(Milestone, first).state == "released"
    releases = db.session.scalar(db.select(db.func.count(Journal.id))
                                 .where(Journal.contract_id == cid, Journal.kind == "release"))
    assert releases == 1
    reminders = db.session.scalars(db.select(Reminder.kind).where(Reminder.milestone_id == second)).all()
    assert reminders == ["release_7d"]
    reminder_emails = db.session.scalar(db.select(db.func.count(OutboxEmail.id)).where(
        OutboxEmail.contract_id == cid, OutboxEmail.subject.startswith("Reminder:")))
    assert reminder_emails == 1
