"""The web worker killed (SIGKILL) while Braintree holds its sale: a real gunicorn on the test database.

The payment attempt was committed before the gateway was called, so the page served by the next
worker says the payment is being confirmed; the sale lands after the worker died, and
``payments reconcile`` past the grace period adopts it: funded once, the books and the stand-in agree.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from directcontracts import ROOT
from directcontracts.config import ENV_KEYS
from directcontracts.models import PaymentAttempt
from tests.faults.conftest import books_agree_with, reconcile_past_grace
from tests.web.builders import contract, fund_form, sent_contract, verify

pytestmark = pytest.mark.faults

START_SECONDS = 30


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (gunicorn's workers), from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


@pytest.fixture
def gunicorn(app, standin, tmp_path):
    """gunicorn (one worker) serving the app on the test database, its gateway the stand-in."""
    if not Path("/proc/self/stat").exists():
        pytest.skip("needs /proc to find gunicorn's worker")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ENV_KEYS}
    env.update({
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"], "SECRET_KEY": app.config["SECRET_KEY"],
        "BASE_URL": "http://localhost", "BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": "1",
        "GUNICORN_THREADS": "2", "BRAINTREE_ENVIRONMENT": standin.url,
        "BRAINTREE_MERCHANT_ID": standin.merchant_id, "BRAINTREE_PUBLIC_KEY": standin.public_key,
        "BRAINTREE_PRIVATE_KEY": standin.private_key, "BRAINTREE_MERCHANT_ACCOUNTS": "USD=usd_account",
        "ALLOW_LOCAL_INBOX": "1",  # no mail server here: emails stay in the outbox, as the test reads them
    })
    log = (tmp_path / "gunicorn.log").open("w")
    master = subprocess.Popen([sys.executable, "-m", "gunicorn"], cwd=ROOT, env=env, stdout=log,
                              stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_SECONDS
    while True:
        try:
            requests.get(f"{base}/login", timeout=2)
            break
        except requests.ConnectionError:
            assert master.poll() is None and time.monotonic() < deadline, (tmp_path / "gunicorn.log").read_text()
            time.sleep(0.1)
    yield master, base
    master.send_signal(signal.SIGTERM)
    try:
        master.wait(20)
    except subprocess.TimeoutExpired:
        master.kill()
        master.wait()
    log.close()


def test_a_worker_killed_mid_charge_leaves_a_payment_reconciliation_settles(braintree_app, standin, gunicorn, runner,
                                                                            logged_in, visitor, outbox, db):
    master, base = gunicorn
    cid, link = sent_contract(logged_in, outbox, amounts=("1000",))
    verify(visitor, link, outbox)
    app = visitor.http.application
    cookies = {app.config["SESSION_COOKIE_NAME"]: visitor.http.get_cookie(app.config["SESSION_COOKIE_NAME"]).value,
               f"dc_device_{cid}": visitor.http.get_cookie(f"dc_device_{cid}", path="/c").value}
    form = fund_form(visitor, link) | {"choice": "first", "payment_method_nonce": "fake-valid-nonce",
                                       "signer_name": "Carla Client", "agree": "yes", "csrf_token": visitor.csrf()}
    db.session.rollback()  # no read transaction of ours stands in the worker's way (SQLite)
    standin.fault = "read_timeout"  # Braintree holds the sale
    answer: dict = {}

    def submit():
        try:
            answer["response"] = requests.post(f"{base}{link}/fund", data=form, cookies=cookies, timeout=60,
                                               allow_redirects=False)
        except requests.RequestException as exc:
            answer["error"] = exc

    browser = threading.Thread(target=submit)
    browser.start()
    standin.wait_until_held(timeout=30)
    [worker] = children(master.pid)
    os.kill(worker, signal.SIGKILL)
    browser.join(30)
    standin.fault = None
    assert "error" in answer, answer  # the browser got no answer at all (a proxy would show its own error)
    standin.release_held()  # ... and Braintree makes the sale after the worker died

    db.session.expire_all()
    attempt = db.session.scalar(db.select(PaymentAttempt))
    assert attempt.status == "pending" and len(standin.sales_for(attempt.id)) == 1
    # The next worker (gunicorn starts one) tells the client plainly; nothing is offered twice.
    page = requests.get(f"{base}{link}", cookies=cookies, timeout=10)
    assert page.status_code == 200 and "being confirmed" in page.text
    assert master.poll() is None and children(master.pid) != [worker]

    out = reconcile_past_grace(runner, attempt.created_at)
    db.session.expire_all()
    attempt = db.session.scalar(db.select(PaymentAttempt))
    assert attempt.status == "succeeded", out
    assert contract(db, cid).milestones[0].state == "funded"
    page = requests.get(f"{base}{link}", cookies=cookies, timeout=10)
    assert page.status_code == 200 and "being confirmed" not in page.text
    books_agree_with(standin, db)
