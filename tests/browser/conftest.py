"""Browser fixtures: the session app served on a real port, and Chromium driven by Playwright.

``live_server`` serves the session ``app`` (tests/conftest.py) from a background
thread on 127.0.0.1 with a free port, and points ``BASE_URL`` at it so the
links in emails lead back to it. The autouse ``db`` fixture still empties the
tables after each test: the server thread uses the same database, and each of
its requests has its own app context, so Flask-SQLAlchemy removes its session
when the request ends.

Playwright's own browser download is not used: Debian's /usr/bin/chromium is.
Without it every browser test is skipped, with the reason shown by ``-ra``.
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field

import pytest
from flask import got_request_exception
from werkzeug.serving import make_server

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SKIP_REASON = "chromium not installed: browser tests skipped (apt-get install chromium)"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
TIMEOUT_MS = 10_000


@dataclass
class LiveServer:
    url: str
    errors: list[BaseException] = field(default_factory=list)

    def __call__(self, path: str = "/") -> str:
        return self.url + path


@pytest.fixture
def live_server(app):
    """The app on http://127.0.0.1:<free port> for one test; BASE_URL points at it meanwhile."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    live = LiveServer(f"http://127.0.0.1:{server.server_port}")

    def record(sender, exception, **extra):
        live.errors.append(exception)

    got_request_exception.connect(record, app)
    old_base_url = app.config["BASE_URL"]
    app.config["BASE_URL"] = live.url
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              name="live-server", daemon=True)
    thread.start()
    try:
        yield live
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
        app.config["BASE_URL"] = old_base_url
        got_request_exception.disconnect(record, app)
    assert not thread.is_alive(), "the live server thread did not stop"
    assert not live.errors, f"the app raised while serving the browser: {live.errors!r}"


@pytest.fixture(scope="module")
def browser():
    """Headless Debian Chromium, one per test module."""
    if not os.path.exists(CHROMIUM):
        pytest.skip(SKIP_REASON)
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


# Chromium logs every 4xx/5xx answer as a console error. The editor's validation
# answers 422 on purpose, and a fund form from a page that is out of date 409.
EXPECTED_CONSOLE = ("the server responded with a status of 422", "the server responded with a status of 409")


class BrowserLog:
    """What the page said: console messages, uncaught errors, failed requests."""

    def __init__(self, page):
        self.console: list[str] = []
        self.page_errors: list[str] = []
        self.failed_requests: list[str] = []
        page.on("console", lambda msg: self.console.append(
            f"{msg.type}: {msg.text} [{msg.location.get('url', '')}]"))
        page.on("pageerror", lambda exc: self.page_errors.append(str(exc)))
        page.on("requestfailed", self._failed)

    def _failed(self, request):
        # A script, style or image whose load the browser cancelled (ERR_ABORTED) because the page
        # moved on — a click that navigates while it is still loading, on a busy machine — is not
        # a failure; a missing asset is a 404 (the console check sees it), and an aborted
        # request of the page's own (a fetch the app gave up on) still counts.
        cancelled_asset = (request.failure == "net::ERR_ABORTED"
                           and request.resource_type in ("script", "stylesheet", "image", "font"))
        if not cancelled_asset:
            self.failed_requests.append(f"{request.method} {request.url}: {request.failure}")

    @property
    def csp_violations(self) -> list[str]:
        """What the Content-Security-Policy refused (Chromium says so in the console)."""
        return [m for m in self.console if "Content Security Policy" in m]

    @property
    def console_errors(self) -> list[str]:
        return [m for m in self.console
                if m.startswith("error:") and not any(e in m for e in EXPECTED_CONSOLE)]

    def assert_clean(self):
        assert not self.page_errors, f"JavaScript errors on the page: {self.page_errors}"
        assert not self.console_errors, f"console errors: {self.console_errors}"
        assert not self.failed_requests, f"failed requests: {self.failed_requests}"


@pytest.fixture
def new_page(browser, live_server):
    """``new_page(**context_options) -> (page, log)``: a fresh browser context on the live server."""
    opened = []

    def make(**options):
        options = {"base_url": live_server.url, "viewport": DESKTOP} | options
        context = browser.new_context(**options)
        context.set_default_timeout(TIMEOUT_MS)
        page = context.new_page()
        log = BrowserLog(page)
        opened.append((context, log))
        return page, log

    yield make
    for context, _ in opened:
        context.close()
    for _, log in opened:  # also catches errors after the test's last check
        assert not log.page_errors, f"JavaScript errors on the page: {log.page_errors}"
        assert not log.csp_violations, f"the Content-Security-Policy refused: {log.csp_violations}"


@pytest.fixture
def page(new_page):
    return new_page()[0]


# ---- steps shared by the browser stories ------------------------------------

def expect(target):
    """Playwright's auto-waiting ``expect``, imported lazily (Playwright may be missing)."""
    from playwright.sync_api import expect as _expect
    return _expect(target)


def log_in(page, member_email: str, password: str | None = None):
    """The login form, as a member fills it; leaves the page on the contract list."""
    from tests.conftest import PASSWORD
    page.goto("/login")
    page.get_by_label("Email").fill(member_email)
    page.get_by_label("Password").fill(password or PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Direct Contracts", level=1)).to_be_visible()


def open_inbox(page):
    """The local inbox (newest email first), from the header's Inbox link."""
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Inbox").click()
    expect(page.get_by_role("heading", name="Local inbox")).to_be_visible()
    return page.locator("ul.inbox > li > a")
