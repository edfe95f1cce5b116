"""A browser over HTTP for the tools that drive a running server (``make scan``, ``make load``).

``Browser`` is a ``requests.Session`` that sends the CSRF token the pages carry. The flows a
member and a client go through (log in, build and send a contract, verify, fund, approve) are
here once; codes and links are read from the outbox in the server's database (``Outbox``).
"""
from __future__ import annotations

import re
import time

import requests

CSRF_RE = re.compile(r'"X-CSRFToken": "([^"]+)"')
LINK_RE = re.compile(r"https?://[^/\s]+(/c/[A-Za-z0-9_\-]+)")
CODE_RE = re.compile(r"is (\d{6})\b")
FUND_FIELDS_RE = re.compile(r'<input type="hidden" name="((?:idempotency_key|quote_\w+))" value="([^"]*)"')
PASSWORD = "correct horse battery staple"


class Browser:
    """One person's browser: cookies, the CSRF token of the last page, and timings of every request."""

    def __init__(self, base: str, timings: list | None = None, timeout: float = 60):
        self.base = base.rstrip("/")
        self.http = requests.Session()
        # One connection per request, as nginx talks to its upstream by default: a kept-alive connection
        # that gunicorn closes (keepalive, 2 s) just as the next request is sent is reset by the server.
        self.http.headers["Connection"] = "close"
        self.token: str | None = None
        self.timings = timings if timings is not None else []
        self.timeout = timeout

    def _record(self, method: str, path: str, started: float, response: requests.Response) -> requests.Response:
        self.timings.append((time.monotonic() - started, response.status_code, method, path))
        for cookie in self.http.cookies:  # plain HTTP to gunicorn, as the TLS proxy in front of it talks
            cookie.secure = False
        match = CSRF_RE.search(response.text) if "text/html" in response.headers.get("Content-Type", "") else None
        if match:
            self.token = match.group(1)
        return response

    def get(self, path: str, **kw) -> requests.Response:
        started = time.monotonic()
        r = self.http.get(self.base + path, timeout=self.timeout, allow_redirects=False, **kw)
        return self._record("GET", path, started, r)

    def post(self, path: str, data: dict | None = None, htmx: bool = False) -> requests.Response:
        if self.token is None:
            self.get("/login")
        headers = {"HX-Request": "true", "X-CSRFToken": self.token} if htmx else {}
        data = dict(data or {}) | ({} if htmx else {"csrf_token": self.token})
        started = time.monotonic()
        r = self.http.post(self.base + path, data=data, headers=headers, timeout=self.timeout,
                           allow_redirects=False)
        return self._record("POST", path, started, r)

    def cookie_header(self) -> str:
        return "; ".join(f"{c.name}={c.value}" for c in self.http.cookies)


def expect(r: requests.Response, *codes: int) -> requests.Response:
    if r.status_code not in codes:
        main = r.text.split("<main", 1)[-1]
        text = " ".join(re.sub(r"<[^>]+>", " ", main).split())
        raise AssertionError(f"{r.request.method} {r.url}: {r.status_code}, expected {codes}: {text[:300]}")
    return r


class Outbox:
    """Reads the emails the server queued, from its database (links and codes arrive by email)."""

    def __init__(self, app):
        self.app = app

    def latest(self, to: str, subject_starts: str, contract_id: int | None = None, wait: float = 10) -> str:
        from directcontracts.extensions import db
        from directcontracts.models import OutboxEmail

        deadline = time.monotonic() + wait
        with self.app.app_context():
            while True:
                query = (db.select(OutboxEmail.body_text).where(OutboxEmail.to_addr == to,
                                                                OutboxEmail.subject.startswith(subject_starts))
                         .order_by(OutboxEmail.id.desc()).limit(1))
                if contract_id is not None:
                    query = query.where(OutboxEmail.contract_id == contract_id)
                body = db.session.scalar(query)
                db.session.rollback()
                if body or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            db.session.remove()
        if not body:
            raise AssertionError(f"no email “{subject_starts}…” to {to}")
        return body


def login(b: Browser, email: str, password: str = PASSWORD) -> None:
    b.get("/login")
    expect(b.post("/login", {"email": email, "password": password}), 303)


def build_contract(b: Browser, client_email: str, amounts=("1000", "500"), title="Website redesign") -> int:
    """A draft with milestones, through the builder as a member does (htmx for the milestones)."""
    b.get("/contracts/new")
    r = expect(b.post("/contracts", {"client_name": "Carla Client", "client_email": client_email,
                                     "client_company": "Client Co"}), 303)
    cid = int(re.search(r"/contracts/(\d+)/terms", r.headers["Location"]).group(1))
    b.get(f"/contracts/{cid}/terms")
    expect(b.post(f"/contracts/{cid}/terms", {"title": title, "scope": "Design and build.", "currency": "USD",
                                              "kind": "milestones", "amount": "", "due_date": "",
                                              "next": "save"}), 303)
    for n, amount in enumerate(amounts, 1):
        expect(b.post(f"/contracts/{cid}/milestones", {"title": f"Milestone {n}", "amount": amount,
                                                       "due_date": "", "description": ""}, htmx=True), 200)
    return cid


def send_contract(b: Browser, outbox: Outbox, cid: int, client_email: str) -> str:
    """Send it; returns the client's link path from their email."""
    b.get(f"/contracts/{cid}/review")
    expect(b.post(f"/contracts/{cid}/send"), 303)
    return LINK_RE.search(outbox.latest(client_email, "", contract_id=cid)).group(1)


def verify_client(b: Browser, outbox: Outbox, link: str, client_email: str, cid: int) -> None:
    """The client verifies their email on this browser with the code they were sent."""
    b.get(link)
    expect(b.post(f"{link}/verify/send", {"next": ""}), 200)
    code = CODE_RE.search(outbox.latest(client_email, "Your verification code for", contract_id=cid)).group(1)
    expect(b.post(f"{link}/verify", {"code": code, "next": ""}), 303)


def fund(b: Browser, link: str, choice: str = "all", nonce: str = "fake-valid-nonce") -> requests.Response:
    page = expect(b.get(f"{link}/fund"), 200)
    data = dict(FUND_FIELDS_RE.findall(page.text)) | {
        "choice": choice, "payment_method_nonce": nonce, "signer_name": "Carla Client", "agree": "yes"}
    return b.post(f"{link}/fund", data)
