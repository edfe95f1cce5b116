"""Shared fixtures: app, db, client (CSRF on), runner, login_as, outbox.

The suite runs on SQLite by default and on PostgreSQL when TEST_DATABASE_URL
is set. The schema is built once per session; every test starts from empty
tables, whatever happened in the test before.
"""
from __future__ import annotations

import contextvars
import os
import re

import pytest
from flask.testing import FlaskClient

from directcontracts import create_app
from directcontracts.extensions import db as _db
from directcontracts.services import accounts

PASSWORD = "correct horse battery"
CSRF_RE = re.compile(r'"X-CSRFToken": "([^"]+)"')


def database_url(tmp_path_factory) -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        from directcontracts.config import normalise_db_url
        return normalise_db_url(url)
    return "sqlite:///" + str(tmp_path_factory.mktemp("db") / "test.sqlite3")


@pytest.fixture(scope="session")
def app(tmp_path_factory):
    app = create_app({
        "TESTING": True,
        "SECRET_KEY": "test-secret-key-not-for-production",
        "SQLALCHEMY_DATABASE_URI": database_url(tmp_path_factory),
        "BASE_URL": "http://localhost",
        "SERVER_NAME": None,
        "MAIL_SERVER": None,
        "MAIL_SUPPRESS_SEND": False,
        "TEST_GATEWAY_STORE": None,
        "HEALTH_REFRESH_MINUTES": 0,  # jobs run-due leaves the health panel alone (tests/test_health.py turns it on)
    })
    app.test_client_class = FreshContextClient
    with app.app_context():
        _db.drop_all()
        _db.create_all()
    yield app
    with app.app_context():
        _db.session.remove()
        _db.drop_all()
        _db.engine.dispose()


@pytest.fixture(autouse=True)
def fresh_limits(app):
    """Every test starts with no attempts counted (the limiter's storage outlives a test)."""
    from directcontracts.extensions import limiter

    limiter.reset()
    yield
    limiter.reset()


@pytest.fixture(autouse=True)
def db(app, request):
    """An app context and empty tables for every test; the ledger is checked after each."""
    with app.app_context():
        yield _db
        _db.session.rollback()
        _db.session.expire_all()
        try:
            if "corrupts_ledger" not in request.keywords:
                from directcontracts.services.ledger import check
                problems = check()
                assert problems == [], f"ledger invariants broken after the test: {problems}"
        finally:  # the next test starts from empty tables even when this one broke the ledger
            _db.session.remove()
            for table in reversed(_db.metadata.sorted_tables):
                _db.session.execute(table.delete())
            _db.session.commit()
            _db.session.remove()
            app.extensions.pop(accounts.MEMBERS_EXIST, None)  # the members are gone: the first-run check asks again


class FreshContextClient(FlaskClient):
    """Each request gets its own app context, as in production.

    Flask 3.1 reuses an app context that is already pushed (the test's, from
    the ``db`` fixture); then ``g`` — where Flask-Login caches the user — and
    the database session would be shared between requests and between two
    browsers. Each request therefore runs in an empty ``contextvars.Context``
    (as a request in a server thread does): it sees no pushed context, so
    Flask pushes a new one and pops it at the end. Flask 3.2 no longer reuses
    a pushed context when dispatching a request; this stays correct there.
    """

    def open(self, *args, **kwargs):
        return contextvars.Context().run(super().open, *args, **kwargs)


class Client:
    """A test client that behaves like a browser: keeps cookies, sends the CSRF token.

    The token is the one the pages carry; Flask-WTF derives it from a secret
    kept in the session, so it is read from a page once and again only when
    that secret changes (a new session), not fetched before every POST.
    """

    def __init__(self, flask_client):
        self.http = flask_client
        self._csrf: tuple[str, str] | None = None  # (the session's CSRF secret, the page's token)

    def get(self, url, htmx=False, **kw):
        headers = kw.pop("headers", {})
        if htmx:
            headers["HX-Request"] = "true"
        return self.http.get(url, headers=headers, **kw)

    def csrf(self) -> str:
        secret = self._csrf_secret()
        if self._csrf is None or secret is None or self._csrf[0] != secret:
            page = self.http.get("/login", follow_redirects=True)
            match = CSRF_RE.search(page.text)
            assert match, "every page carries the CSRF token for htmx"
            self._csrf = (self._csrf_secret(), match.group(1))
        return self._csrf[1]

    def _csrf_secret(self) -> str | None:
        """The secret Flask-WTF keeps in this browser's session cookie (None: no session yet)."""
        app = self.http.application
        cookie = self.http.get_cookie(app.config["SESSION_COOKIE_NAME"])
        if cookie is None:
            return None
        session = app.session_interface.get_signing_serializer(app).loads(cookie.value)
        return session.get(app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token"))

    def post(self, url, data=None, htmx=False, csrf=True, **kw):
        data = dict(data or {})
        headers = kw.pop("headers", {})
        if csrf:
            if htmx:
                headers.setdefault("X-CSRFToken", self.csrf())
            else:
                data.setdefault("csrf_token", self.csrf())
        if htmx:
            headers["HX-Request"] = "true"
        return self.http.post(url, data=data, headers=headers, **kw)


@pytest.fixture
def client(app):
    return Client(app.test_client())


@pytest.fixture
def runner(app):
    """The app's command line (``runner.invoke(args=[...])``)."""
    return app.test_cli_runner()


@pytest.fixture
def make_member(db):
    def make(email="fran@example.com", name="Fran Freelancer", owner=None):
        if owner is None:
            owner = accounts.member_count() == 0
        return accounts.create_member(email, name, PASSWORD, owner=owner)
    return make


@pytest.fixture
def login_as(client):
    def login(member, c: Client | None = None):
        c = c or client
        response = c.post("/login", {"email": member.email, "password": PASSWORD})
        assert response.status_code == 303, response.text
        return c
    return login


@pytest.fixture
def member(make_member):
    return make_member()


@pytest.fixture
def logged_in(client, member, login_as):
    login_as(member)
    return client


@pytest.fixture
def outbox(db):
    """The outbox rows, newest last."""
    from directcontracts.models import OutboxEmail

    def read():
        return list(db.session.scalars(db.select(OutboxEmail).order_by(OutboxEmail.id)))
    return read


@pytest.fixture
def visitor(app):
    """A second browser: the client, who has no account."""
    return Client(app.test_client())


@pytest.fixture(autouse=True)
def gateway(app, db, request):
    """A fresh offline test gateway for every test (its sales are the gateway's truth).

    After the test, what the gateway kept of each sale is compared with what
    the app's books say (see ``gateway_disagreements``), as the ledger check is.
    """
    from directcontracts.payments.testgateway import TestGateway

    previous = app.extensions["gateway"]
    gw = TestGateway()
    app.extensions["gateway"] = gw
    yield gw
    app.extensions["gateway"] = previous
    if not {"corrupts_ledger", "gateway_gap"} & set(request.keywords):
        db.session.rollback()
        db.session.expire_all()
        problems = gateway_disagreements(gw)
        assert problems == [], f"the gateway and the ledger disagree after the test: {problems}"


def gateway_disagreements(gw) -> list[str]:
    """Each sale the gateway recorded, against the app's books: the money it kept must be the
    money the app holds (funded by its attempt, less refunds and give-backs).

    Sales whose outcome the app itself says it does not know yet (attempt
    pending/unknown, a refund or give-back being confirmed) are skipped: the
    pages say so, and reconciliation settles them. Sales matching no attempt
    are not this shop's and must have been left alone.
    """
    return books_disagreements(sales(gw))


def books_disagreements(gateway_sales: list[dict]) -> list[str]:
    """``gateway_disagreements`` for sales given as dicts (id, order_id, status, minor, refunded_minor),
    from any gateway: the offline one, or the Braintree stand-in (tests/faults)."""
    from directcontracts.models import Journal, LedgerEntry, PaymentAttempt, Refund, SaleReturn
    from directcontracts.payments.outcomes import SUCCEEDED_STATUSES

    problems = []
    session = _db.session
    for sale in gateway_sales:
        attempt = session.get(PaymentAttempt, sale["order_id"])
        returns = list(session.scalars(db_select(SaleReturn).where(SaleReturn.transaction_id == sale["id"])))
        kept = 0 if sale["status"] not in SUCCEEDED_STATUSES else sale["minor"] - sale["refunded_minor"]
        if attempt is None:
            if returns or sale["refunded_minor"] or sale["status"] == "voided":
                problems.append(f"sale {sale['id']} matches no attempt but was given back")
            continue
        refunds = list(session.scalars(db_select(Refund).where(Refund.attempt_id == attempt.id)))
        if attempt.status in ("pending", "unknown") or any(r.status in ("pending", "unknown") for r in refunds) \
                or any(r.status == "returning" for r in returns):
            continue
        held = 0
        if attempt.status == "succeeded" and attempt.transaction_id == sale["id"]:
            held = session.scalar(db_select(_db.func.coalesce(_db.func.sum(LedgerEntry.amount_minor), 0))
                                  .join(Journal, Journal.id == LedgerEntry.journal_id)
                                  .where(Journal.payment_attempt_id == attempt.id, LedgerEntry.account == "escrow"))
            held -= sum(r.amount_minor for r in refunds if r.status == "succeeded")  # failed ones gave nothing back
        if kept != held:
            problems.append(f"sale {sale['id']} (attempt {attempt.id}, {attempt.status}): the gateway kept "
                            f"{kept}, the app's books hold {held}")
    return problems


def db_select(*args):
    return _db.select(*args)


def sales(gw) -> list[dict]:
    """Every sale the test gateway recorded."""
    with gw.store.locked() as data:
        return [t for t in data.get("transactions", {}).values() if t["type"] == "sale"]


@pytest.fixture
def concurrent(db):
    """Marks a test that races threads or processes on the database: it runs on SQLite (whose
    write lock ``lock_contract`` takes) and on PostgreSQL (row locks) alike."""
    return db


def race(app, *works, timeout: float = 30) -> list:
    """Run each ``work()`` in its own thread and app context, released together by a barrier.

    Returns, in order, what each returned or the exception it raised (the
    outcome under test: a refusal is an answer, not a failure).
    """
    import threading

    barrier, results = threading.Barrier(len(works)), [None] * len(works)

    def run(index, work):
        with app.test_request_context():
            try:
                barrier.wait()
                results[index] = work()
            except Exception as exc:  # noqa: BLE001 — returned for the test to judge
                results[index] = exc
            finally:
                _db.session.remove()

    threads = [threading.Thread(target=run, args=(i, w)) for i, w in enumerate(works)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    assert not any(t.is_alive() for t in threads), "a racing thread did not finish"
    return results
