"""Throttling through HTTP: login, finding a contract by reference, and verification codes.

Each browser comes from its own address (``REMOTE_ADDR`` in the test client's environ).
"""
from __future__ import annotations

import socket

import pytest

from directcontracts import create_app
from tests.conftest import PASSWORD, Client
from tests.web.builders import contract, latest_code, sent_contract


def browser(app, ip: str) -> Client:
    """A browser whose requests come from ``ip``."""
    flask_client = app.test_client()
    flask_client.environ_base["REMOTE_ADDR"] = ip
    return Client(flask_client)


def login(c: Client, email: str, password: str):
    return c.post("/login", {"email": email, "password": password})


def test_the_41st_failed_login_from_one_address_is_refused_even_with_the_right_password(app, member):
    attacker = browser(app, "203.0.113.7")
    for n in range(40):  # a credential-stuffing run: many accounts, so no one account's limit is reached
        assert login(attacker, f"guess{n}@example.com", "wrong password").status_code == 401
    r = login(attacker, member.email, PASSWORD)
    assert r.status_code == 429
    assert 0 < int(r.headers["Retry-After"]) <= 3600
    assert "Too many failed logins from your network" in r.text and "Try again in" in r.text
    assert "Traceback" not in r.text and "<html" in r.text

    # Another address is not held back by it.
    assert login(browser(app, "198.51.100.20"), member.email, PASSWORD).status_code == 303


def test_a_good_login_does_not_count(app, member):
    c = browser(app, "203.0.113.8")
    for _ in range(45):
        assert login(c, member.email, PASSWORD).status_code == 303
        c.post("/logout")


def test_the_account_limit_stops_guesses_spread_over_many_addresses(app, member):
    for n in range(20):
        assert login(browser(app, f"10.0.{n}.1"), member.email, "wrong password").status_code == 401
    r = login(browser(app, "10.9.9.9"), member.email, PASSWORD)
    assert r.status_code == 429 and "Too many failed logins for this account" in r.text
    assert int(r.headers["Retry-After"]) > 0
    # Other accounts are not affected.
    assert login(browser(app, "10.9.9.9"), "someone@example.com", "wrong").status_code == 401


def test_a_refused_htmx_login_lands_in_the_notices(app, member):
    c = browser(app, "203.0.113.9")
    for n in range(40):
        login(c, f"x{n}@example.com", "wrong")
    r = c.post("/login", {"email": member.email, "password": PASSWORD}, htmx=True)
    assert r.status_code == 429 and r.headers["HX-Retarget"] == "#notices" and "<html" not in r.text
    assert "Retry-After" in r.headers


def test_limits_reset_after_the_window(app, member, monkeypatch):
    c = browser(app, "203.0.113.10")
    for n in range(40):
        login(c, f"y{n}@example.com", "wrong")
    assert login(c, member.email, PASSWORD).status_code == 429

    import limits.storage.memory as memory

    later = memory.time.time() + 3601
    monkeypatch.setattr(memory, "time", type("Clock", (), {"time": staticmethod(lambda: later)}))
    assert login(c, member.email, PASSWORD).status_code == 303


def test_per_address_limits_are_checked_before_the_reference_limit(app, logged_in, db, outbox):
    cid, _link = sent_contract(logged_in, outbox)
    ref = contract(db, cid).ref
    stranger = browser(app, "192.0.2.50")
    for _ in range(5):  # this one address's allowance for the reference: 5 codes
        assert stranger.post("/c", {"ref": ref}).status_code == 200
    refused = stranger.post("/c", {"ref": ref})
    assert refused.status_code == 429 and "this reference" in refused.text
    # An address at its own limit spends none of the reference's allowance: the reference
    # limit was full here, so a second stranger's requests tell which limit they met.
    other = browser(app, "192.0.2.51")
    for _ in range(10):
        other.post("/c", {"ref": "DC-0000-0000"})
    assert "from your network" in other.post("/c", {"ref": ref}).text


def test_a_stranger_with_the_reference_cannot_stop_the_client_getting_a_code(app, logged_in, db, outbox):
    cid, link = sent_contract(logged_in, outbox)
    ref = contract(db, cid).ref
    strangers = [browser(app, f"192.0.2.{n}") for n in range(1, 4)]
    for s in strangers:  # as many codes and wrong tries as the limits let them
        for _ in range(6):
            s.post("/c", {"ref": ref})
        for _ in range(12):
            s.post("/c/open", {"ref": ref, "code": "000000"})
    refused = strangers[0].post("/c/open", {"ref": ref, "code": "000000"})
    assert refused.status_code == 429

    client = browser(app, "198.51.100.77")
    assert client.post(f"{link}/verify/send", {"next": ""}).status_code == 200
    r = client.post(f"{link}/verify", {"code": latest_code(outbox), "next": ""})
    assert r.status_code == 303, r.text
    assert client.get(link).status_code == 200


def test_codes_through_links_are_limited_per_address(app, logged_in, outbox):
    _cid, link = sent_contract(logged_in, outbox)
    c = browser(app, "198.51.100.5")
    for _ in range(30):
        assert c.post(f"{link}/verify", {"code": "000000", "next": ""}).status_code in (422,)
    r = c.post(f"{link}/verify/send", {"next": ""})
    assert r.status_code == 429 and "Retry-After" in r.headers


def _redis_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.mark.skipif(not _redis_reachable(), reason="Redis is not running on 127.0.0.1:6379")
def test_the_limiter_counts_in_redis(app, member):
    """With RATELIMIT_STORAGE_URI=redis://…, counts live in Redis: a new process sees them.

    Uses Redis database 7, flushed before and after. ``create_app`` points the one limiter
    at the app's storage, as each process does at start-up.
    """
    redis = pytest.importorskip("redis")
    store = redis.Redis(host="127.0.0.1", port=6379, db=7)
    store.flushdb()
    config = {key: app.config[key] for key in ("SECRET_KEY", "SQLALCHEMY_DATABASE_URI", "BASE_URL")}
    config.update(TESTING=True, TEST_GATEWAY_STORE=None)
    try:
        first = create_app({**config, "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379/7"})
        for n in range(40):
            assert login(browser(first, "203.0.113.99"), f"z{n}@example.com", "wrong").status_code == 401
        assert any(b"login-ip" in key for key in store.keys("*")), "the counts are in Redis"
        # A second process starts: a new connection to Redis, nothing counted in its memory.
        second = create_app({**config, "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379/7"})
        r = login(browser(second, "203.0.113.99"), member.email, PASSWORD)
        assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
        assert login(browser(second, "203.0.113.100"), member.email, PASSWORD).status_code == 303
    finally:
        store.flushdb()
        create_app({**config, "RATELIMIT_STORAGE_URI": "memory://"})  # the other tests count in memory


def test_the_links_own_code_limit_says_when_to_come_back(app, logged_in, outbox):
    _cid, link = sent_contract(logged_in, outbox)
    c = browser(app, "198.51.100.6")
    for _ in range(5):
        assert c.post(f"{link}/verify/send", {"next": ""}).status_code == 200
    r = c.post(f"{link}/verify/send", {"next": ""})
    assert r.status_code == 429 and "Too many codes were sent for this contract" in r.text
    assert 3000 < int(r.headers["Retry-After"]) <= 3600
    assert "<label" in r.text  # the code form is still there, labelled
