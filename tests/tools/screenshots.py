"""The README's screenshots (``make screenshots``): the demo set-up, driven through a real Chromium.

Starts the app as ``make demo`` does (DEMO=1: the offline test gateway and the local inbox, the demo
owner of ``flask seed-demo``) on a fresh SQLite file in a temporary folder, serves it from a thread on a
free loopback port, and walks one contract with fixed data through Debian's Chromium: the freelancer
builds it (1280 px), the client reads the proposal, confirms their email, signs and pays on a phone
(390 px), the freelancer requests payment and the client approves it; then the signed agreement.
Emailed links and codes are read from the outbox, as the local inbox shows them.

Writes ``docs/screenshots/readme-*.png`` (or ``--out``). The pictures change only where the app does:
the data is fixed; the contract reference, times and transaction ids are the run's own.

    python -m tests.tools.screenshots [--out DIR]
"""
from __future__ import annotations

import argparse
import logging
import os
import re
import sys
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path

from directcontracts import ROOT

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
                 "--font-render-hinting=none"]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
TIMEOUT_MS = 20_000

CLIENT_NAME, CLIENT_EMAIL, CLIENT_COMPANY = "Maya Chen", "maya@riverside-bakery.example", "Riverside Bakery"
TITLE = "Website redesign"
SCOPE = ("A new five-page website for the bakery: home, menu, catering, about and contact, "
         "built on the existing hosting. Includes the online catering order form.")
MILESTONES = [
    ("Design mockups", "1200", "Home and menu page designs, two rounds of changes."),
    ("Build and launch", "2400", "All five pages built, tested on phones, and launched."),
    ("Training and handover", "600", "An hour's video call and a short written guide."),
]
DELIVERED = "Mockups for the home and menu pages, with your changes from Tuesday."


def demo_app(workdir: Path):
    """The app as ``make demo`` makes it (DEMO=1), on a SQLite file in ``workdir``, migrated and seeded."""
    from flask_migrate import upgrade

    from directcontracts import create_app
    from directcontracts.cli import DEMO_EMAIL, DEMO_PASSWORD
    from directcontracts.services import accounts

    app = create_app({
        "DEMO": True, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{workdir / 'demo.sqlite3'}",
        "SECRET_KEY": "screenshots-" + "0" * 32, "TEST_GATEWAY_STORE": str(workdir / "test-gateway.json"),
        "MAIL_SERVER": None,
    })
    with app.app_context():
        upgrade()  # flask db upgrade
        accounts.create_member(DEMO_EMAIL, "Dana Demo", DEMO_PASSWORD, owner=True)  # flask seed-demo
    return app, DEMO_EMAIL, DEMO_PASSWORD


@contextmanager
def serving(app):
    """The app on http://127.0.0.1:<free port> from a thread; BASE_URL points at it (email links)."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    base = f"http://127.0.0.1:{server.server_port}"
    app.config["BASE_URL"] = base
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield base
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def latest_email(app, subject_starts: str) -> str:
    """The newest email whose subject starts so (its text), as the local inbox lists it."""
    from directcontracts.extensions import db
    from directcontracts.models import OutboxEmail

    with app.app_context():
        body = db.session.scalar(db.select(OutboxEmail.body_text).where(OutboxEmail.subject.startswith(subject_starts))
                                 .order_by(OutboxEmail.id.desc()).limit(1))
    if not body:
        raise SystemExit(f"no email “{subject_starts}…” in the outbox")
    return body


def take(page, out: Path, name: str, *, full_page: bool = False) -> Path:
    path = out / f"readme-{name}.png"
    page.wait_for_load_state("networkidle")
    page.evaluate("document.activeElement && document.activeElement.blur()")  # no focus ring in the picture
    page.screenshot(path=str(path), full_page=full_page, animations="disabled", caret="hide")
    print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return path


def walk(browser, base: str, app, email: str, password: str, out: Path) -> list[Path]:
    """One contract from the builder to the signed agreement; returns the pictures written."""
    from playwright.sync_api import expect

    shots = []

    def context(viewport):
        ctx = browser.new_context(base_url=base, viewport=viewport, device_scale_factor=1,
                                  reduced_motion="reduce", locale="en-US", timezone_id="UTC")
        ctx.set_default_timeout(TIMEOUT_MS)
        return ctx, ctx.new_page()

    # -- the freelancer builds the contract (1280 px)
    member_ctx, member = context(DESKTOP)
    member.goto("/login")
    member.get_by_label("Email").fill(email)
    member.get_by_label("Password").fill(password)
    member.get_by_role("button", name="Log in").click()
    expect(member.get_by_role("heading", name="Direct Contracts", level=1)).to_be_visible()
    member.get_by_role("link", name="New contract").first.click()
    member.get_by_label("Client's name").fill(CLIENT_NAME)
    member.get_by_label("Client's email").fill(CLIENT_EMAIL)
    member.get_by_label("Company").fill(CLIENT_COMPANY)
    member.get_by_role("button", name="Save and continue to terms").click()
    member.get_by_label("Contract title").fill(TITLE)
    member.get_by_label("Scope of work").fill(SCOPE)
    member.get_by_role("button", name="Save terms").click()
    expect(member.get_by_role("heading", name=TITLE, level=1)).to_be_visible()
    for n, (title, amount, description) in enumerate(MILESTONES, 1):
        form = member.locator("form#milestone-add")
        form.get_by_label("Title").fill(title)
        form.get_by_label("Amount (USD)").fill(amount)
        form.get_by_label("Description").fill(description)
        form.get_by_role("button", name="Add milestone").click()
        expect(member.locator("ol.milestones > li")).to_have_count(n)
    member.evaluate("window.scrollTo(0, 0)")
    shots.append(take(member, out, "builder", full_page=True))
    cid = re.search(r"/contracts/(\d+)/", member.url).group(1)
    member.goto(f"/contracts/{cid}/review")
    member.get_by_role("button", name=re.compile("^Send")).click()
    expect(member.get_by_role("heading", name=TITLE, level=1)).to_be_visible()

    # -- the client, on a phone: the proposal, confirm it's them, sign and pay, the receipt
    link = re.search(r"https?://[^/\s]+(/c/[A-Za-z0-9_\-]+)", latest_email(app, "Dana Demo sent you")).group(1)
    client_ctx, client = context(PHONE)
    client.goto(link)
    expect(client.get_by_role("heading", name="Proposal from Dana Demo", level=1)).to_be_visible()
    shots.append(take(client, out, "proposal-phone"))
    client.get_by_role("link", name="Accept and fund").click()
    client.get_by_role("button", name="Email me a code").click()
    code = re.search(r"is (\d{6})\b", latest_email(app, "Your verification code for")).group(1)
    client.get_by_label("6-digit code").fill(code)
    client.get_by_role("button", name="Confirm").click()
    expect(client.get_by_role("heading", name="Accept and fund", level=1)).to_be_visible()
    client.get_by_label("Your full name (your signature)").fill(CLIENT_NAME)
    client.get_by_label("I agree to these terms", exact=False).check()
    client.get_by_label("Your full name (your signature)").scroll_into_view_if_needed()
    shots.append(take(client, out, "fund-phone"))
    client.locator("#pay-button").click()
    expect(client.get_by_role("heading", name="Receipt", level=1)).to_be_visible()
    shots.append(take(client, out, "receipt-phone"))

    # -- the freelancer asks for the first milestone's payment; the client approves it
    member.goto(f"/contracts/{cid}")
    member.get_by_role("link", name="Request payment").first.click()
    member.get_by_label("What did you deliver?").fill(DELIVERED)
    member.get_by_role("button", name="Request payment").click()
    client.goto(link)
    client.get_by_role("link", name="Approve and release").first.click()
    client.get_by_role("button", name=re.compile("^Release")).click()
    expect(client.get_by_role("heading", name="Contract from Dana Demo", level=1)).to_be_visible()

    # -- the signed agreement, as the freelancer opens it from the contract page
    member.goto(f"/contracts/{cid}")
    member.get_by_role("link", name="Signed agreement (print or save as PDF)").click()
    expect(member.get_by_role("heading", name="Signature")).to_be_visible()
    shots.append(take(member, out, "agreement", full_page=True))
    member_ctx.close()
    client_ctx.close()
    return shots


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(ROOT) / "docs" / "screenshots",
                        help="where the PNGs go (default: docs/screenshots)")
    args = parser.parse_args(argv)
    if not os.path.exists(CHROMIUM):
        print(f"{CHROMIUM} is missing: apt-get install chromium", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # not a line per request
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="dc-screenshots-") as tmp:
        app, email, password = demo_app(Path(tmp))
        with serving(app) as base, sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            try:
                walk(browser, base, app, email, password, args.out)
            finally:
                browser.close()
        with app.app_context():
            from directcontracts.extensions import db
            db.engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
