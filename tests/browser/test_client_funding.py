"""The client in a real browser: open the emailed link, confirm it's you, sign and fund.

A member sends a three-milestone contract (over HTTP, quickly). Then, in
Chromium, logged in as the member the way the demo is played: the client's
email in the local inbox, the proposal, the emailed code, a declined test card
(the widget explains and lets the client retry, no page reload), the approved
card while the request is held in flight (button disabled, progress shown),
the receipt, the funded contract and its escrow, the ledger, and the
freelancer's bell and email. A second test proves a payment request that times
out in the browser never leaves the button spinning; a third shows a proxy's
5xx page does not replace the widget.
"""
from __future__ import annotations

import re
import time

import pytest

from directcontracts.domain import ledger as rules
from directcontracts.models import Journal, Milestone, Notification, PaymentAttempt
from directcontracts.services import ledger
from tests.browser.conftest import BrowserLog, expect, log_in, open_inbox
from tests.conftest import sales
from tests.web.builders import latest_code, milestone_contract, send

pytestmark = pytest.mark.browser

MEMBER_NAME = "Fran Freelancer"
CLIENT_NAME = "Carla Client"
TITLE = "Website redesign"
AMOUNTS = ("1000", "2000", "500")  # the sandbox approves $1,000.00; 2000–3000 would decline or fail
FIRST = "$1,000.00"
HOLD_SECONDS = 1.5
FUND_POST = re.compile(r"/c/[A-Za-z0-9_\-]+/fund$")
#: The verification email's subject; older builds put the code in it, newer ones only in the body.
CODE_SUBJECT = re.compile(rf"^\s*Your (verification )?code for {TITLE}")


class HeldPosts:
    """Holds every POST to one URL in the browser until ``release`` (the server sees nothing meanwhile).

    With the sync API a route handler cannot sleep without freezing Playwright
    itself, so the handler only parks the route; the test asserts what the
    page shows while the request is in flight, then lets it through.
    """

    def __init__(self, page, url: re.Pattern):
        self.page, self.url, self.parked = page, url, []
        page.route(url, self._park)

    def _park(self, route):
        if route.request.method != "POST":
            route.fallback()
            return
        self.parked.append(route)

    def wait_parked(self, count: int = 1, timeout: float = 10):
        deadline = time.monotonic() + timeout
        while len(self.parked) < count:
            assert time.monotonic() < deadline, f"no POST to {self.url} reached the browser's network"
            self.page.wait_for_timeout(20)

    def release(self):
        while self.parked:
            self.parked.pop(0).continue_()

    def stop(self):
        self.release()
        self.page.unroute(self.url, self._park)


def expect_in_flight(page, button):
    """What the client sees while the payment request is on its way."""
    expect(button).to_be_disabled()
    expect(page.get_by_text("Processing your payment", exact=False)).to_be_visible()


def expect_settled(page, button):
    expect(button).to_be_enabled()
    assert button.is_enabled()
    expect(page.get_by_text("Processing your payment", exact=False)).to_be_hidden()


def member_sends_contract(client, login_as, make_member, db):
    """A member, and a 3-milestone contract sent to the client (the builder over HTTP)."""
    member = make_member()
    member_email = member.email
    db.session.commit()  # end the test thread's transaction before the server writes
    login_as(member)
    cid = milestone_contract(client, amounts=AMOUNTS, title=TITLE)
    send(client, cid)
    return cid, member_email


def milestone_states(db, cid) -> list[str]:
    db.session.expire_all()
    states = list(db.session.scalars(db.select(Milestone.state).where(Milestone.contract_id == cid)
                                     .order_by(Milestone.position)))
    db.session.rollback()  # hold no transaction while the server works
    return states


def confirm_device(page, read_code):
    """Accept and fund → "Confirm it's you" → emailed code → the fund page."""
    page.get_by_role("link", name="Accept and fund").click()
    expect(page).to_have_url(re.compile(r"/c/[A-Za-z0-9_\-]+/verify\?next=fund$"))
    expect(page.get_by_role("heading", name="Confirm it's you", level=1)).to_be_visible()
    page.get_by_role("button", name="Email me a code").click()
    expect(page.get_by_role("status").filter(has_text="We emailed a code to c•••@client-co.com")).to_be_visible()
    code = read_code()
    assert re.fullmatch(r"\d{6}", code), code
    page.get_by_label("6-digit code").fill(code)
    page.get_by_role("button", name="Confirm").click()
    expect(page).to_have_url(re.compile(r"/c/[A-Za-z0-9_\-]+/fund$"))
    expect(page.get_by_role("heading", name="Accept and fund", level=1)).to_be_visible()


def sign(page):
    page.get_by_label("Your full name (your signature)").fill(CLIENT_NAME)
    page.get_by_label("I agree to these terms", exact=False).check()
    page.get_by_role("radio", name=re.compile(r"^The first milestone, Milestone 1: \$1,000\.00")).check()


def test_client_signs_is_declined_then_funds_the_first_milestone(new_page, live_server, client, login_as,
                                                                  make_member, db, gateway):
    cid, member_email = member_sends_contract(client, login_as, make_member, db)
    page, log = new_page()

    # -- the member plays the client: the email in the local inbox, and its link
    log_in(page, member_email)
    open_inbox(page)
    page.get_by_role("link", name=f"{MEMBER_NAME} sent you a contract: {TITLE}").click()
    link = page.locator("article.email-body").get_by_role("link", name="Open the contract")
    assert link.get_attribute("href").startswith(live_server("/c/"))
    link.click()
    expect(page).to_have_url(re.compile(r"/c/[A-Za-z0-9_\-]+$"))
    contract_url = page.url
    expect(page.get_by_role("heading", name=f"Proposal from {MEMBER_NAME}", level=1)).to_be_visible()
    proposal = page.locator(".proposal")
    expect(proposal.locator("ol.milestones > li strong")).to_have_text(["Milestone 1", "Milestone 2", "Milestone 3"])
    expect(proposal.locator("[data-testid=proposal-total]")).to_have_text("$3,500.00")
    expect(page.get_by_role("note")).to_have_text("Test mode — no real money moves.")
    expect(page.get_by_role("link", name="Accept and fund")).to_be_visible()

    # -- verification: the code is read from the newest code email, in another tab of this browser
    def code_from_inbox():
        inbox = page.context.new_page()
        inbox_log = BrowserLog(inbox)
        inbox.goto("/contracts")
        codes = open_inbox(inbox).filter(has_text=CODE_SUBJECT)
        expect(codes.first).to_be_visible()
        newest = codes.first.inner_text().strip()
        if (in_subject := re.search(r"\b(\d{6})$", newest)):  # "Your code for …: 123456"
            code = in_subject.group(1)
        else:  # "Your verification code for …": the code is only in the body
            codes.first.click()
            expect(inbox.get_by_role("heading", name=newest, level=1)).to_be_visible()
            code = re.search(r"\bis\s+(\d{6})\b", inbox.locator("article.email-body").inner_text()).group(1)
        inbox_log.assert_clean()
        inbox.close()
        return code

    confirm_device(page, code_from_inbox)
    # the member's own header is on the page too (the demo plays both sides): the bell before paying
    bell_before = int(page.locator("#bell-count").inner_text())
    pay = page.locator("#pay-button")
    expect(pay).to_have_text("Sign and pay")
    expect(page.get_by_text("No fee is added", exact=True)).to_be_visible()
    page.evaluate("window.__marker = 1")

    # -- a declined card: explained in the widget, nothing charged, the button usable again
    sign(page)
    page.get_by_role("radio", name="Test card — declined by the bank").check()
    held = HeldPosts(page, FUND_POST)
    expect(page.get_by_text("Processing your payment", exact=False)).to_be_hidden()
    expect(pay).to_be_enabled()
    pay.click()
    held.wait_parked()
    expect_in_flight(page, pay)
    held.release()
    error = page.locator("#fund-error")
    expect(error).to_contain_text("Payment declined.")
    expect(error).to_contain_text("Do Not Honor")
    expect(error).to_contain_text("Nothing was charged")
    expect(error).to_have_attribute("role", "alert")
    expect_settled(page, pay)
    expect(pay).to_have_text("Pay")  # the signature was recorded with the attempt
    expect(page.get_by_text(f"Signed by {CLIENT_NAME} on", exact=False)).to_be_visible()
    assert page.evaluate("window.__marker") == 1, "the declined payment reloaded the whole page"
    assert milestone_states(db, cid) == ["pending", "pending", "pending"]
    log.assert_clean()  # the 422 is expected; nothing else

    # -- the approved card; held in flight ~1.5 s: disabled button and progress all along
    page.get_by_role("radio", name="Test card (Visa) — approved").check()
    expect(page.get_by_role("radio", name=re.compile(r"^The first milestone"))).to_be_checked()  # kept
    pay.click()
    held.wait_parked()
    expect_in_flight(page, pay)
    page.wait_for_timeout(HOLD_SECONDS * 1000)
    expect_in_flight(page, pay)
    held.stop()

    # -- HX-Redirect: the receipt
    expect(page).to_have_url(re.compile(r"/c/[A-Za-z0-9_\-]+/payments/[0-9a-f\-]{36}$"))
    expect(page.get_by_role("heading", name="Receipt", level=1)).to_be_visible()
    receipt = page.locator("dl.receipt")
    expect(receipt.locator("[data-testid=receipt-total]")).to_have_text(FIRST)
    expect(receipt).to_contain_text("Milestone 1")
    expect(receipt.locator("div").filter(has_text="Paid with").locator("dd")).to_have_text("Visa ending in 1881")
    reference = receipt.locator("div").filter(has_text="Transaction reference").locator("dd")
    expect(reference).to_have_text(re.compile(r"^\w{6,}$"))
    transaction_id = reference.inner_text().strip()
    expect(page.get_by_text(f"Paid. {FIRST} is held in escrow for {MEMBER_NAME}")).to_be_visible()

    # -- the contract now runs: the first milestone funded, its amount refundable in escrow
    page.get_by_role("link", name="Back to the contract").click()
    expect(page).to_have_url(contract_url)
    expect(page.get_by_role("heading", name=f"Contract from {MEMBER_NAME}", level=1)).to_be_visible()
    rows = page.locator("table.escrow tbody tr")
    expect(rows.locator("td:first-child")).to_have_text(["Milestone 1", "Milestone 2", "Milestone 3"])
    expect(rows.locator("td:nth-child(2)")).to_have_text(["Funded", "Awaiting funding", "Awaiting funding"])
    expect(page.locator("[data-testid=escrow-funded]")).to_have_text(FIRST)
    expect(page.locator("[data-testid=escrow-held]")).to_have_text(FIRST)
    expect(page.get_by_role("link", name="Fund a milestone")).to_be_visible()

    # -- the freelancer: one more on the bell, the inbox has "Funded — you can begin"
    page.goto("/contracts")
    bell = bell_before + 1  # 1 when only the funding notifies; the first view of the link may notify too
    expect(page.locator("#bell-count")).to_have_text(str(bell))
    expect(page.get_by_role("link", name=f"Notifications: {bell} unread")).to_be_visible()
    emails = open_inbox(page)
    expect(emails.filter(has_text=f"Funded — you can begin: {TITLE}")).to_have_count(1)
    expect(emails.filter(has_text=f"Receipt: {FIRST} held in escrow for {TITLE}")).to_have_count(1)
    log.assert_clean()

    # -- the ledger: balanced, one funding journal holding exactly the first milestone
    db.session.expire_all()  # the server's requests ran in their own sessions
    assert ledger.check() == []
    journals = db.session.scalars(db.select(Journal).where(Journal.contract_id == cid)).all()
    assert [j.kind for j in journals] == ["funding"]
    [first] = [m for m in db.session.scalars(db.select(Milestone).where(Milestone.contract_id == cid)
                                            .order_by(Milestone.position))][:1]
    escrow = [e for e in journals[0].entries if e.account == rules.ESCROW]
    assert [(e.milestone_id, e.amount_minor) for e in escrow] == [(first.id, first.amount_minor)]
    assert first.amount_minor == 100_000 and first.state == "funded"
    attempts = db.session.scalars(db.select(PaymentAttempt).order_by(PaymentAttempt.created_at)).all()
    assert sorted(a.status for a in attempts) == ["declined", "succeeded"]
    assert [a.transaction_id for a in attempts if a.status == "succeeded"] == [transaction_id]
    charged = [s for s in sales(gateway) if s["status"] == "submitted_for_settlement"]
    assert [(s["id"], s["minor"]) for s in charged] == [(transaction_id, 100_000)]
    notes = db.session.scalars(db.select(Notification).order_by(Notification.id)).all()
    assert len([n for n in notes if n.read_at is None]) == bell
    [funded] = [n for n in notes if "you can begin" in n.message]
    assert funded.read_at is None and funded is notes[-1]
    assert funded.message == f"{CLIENT_NAME} funded “Milestone 1” of “{TITLE}”: {FIRST} is in escrow — you can begin."




def client_on_fund_page(new_page, client, login_as, make_member, db, outbox):
    """The client's own browser (no member session), verified, signed, the approved card chosen."""
    cid, _ = member_sends_contract(client, login_as, make_member, db)
    link = re.search(r"(/c/[A-Za-z0-9_\-]+)", outbox()[-1].body_text).group(1)
    db.session.rollback()
    page, log = new_page()
    page.goto(link)

    def code_from_outbox():
        code = latest_code(outbox)
        db.session.rollback()
        return code

    confirm_device(page, code_from_outbox)
    sign(page)
    page.get_by_role("radio", name="Test card (Visa) — approved").check()
    return cid, page, log


def test_a_payment_request_that_times_out_in_the_browser_never_spins(new_page, live_server, client, login_as,
                                                                     make_member, db, outbox, gateway):
    cid, page, log = client_on_fund_page(new_page, client, login_as, make_member, db, outbox)
    assert page.evaluate("htmx.config.defaultTimeout") == 45000  # the page's htmx-config: longer than the server's ~35 s
    page.evaluate("htmx.config.defaultTimeout = 1000")  # the check is the same, sooner
    pay = page.locator("#pay-button")
    status_url = page.locator("#fund-form").get_attribute("data-status-url")
    progress = page.get_by_text("Processing your payment", exact=False)
    expect(progress).to_be_hidden()

    # the server charges at once, but its answer is held back for 3 s: longer than the browser waits
    held = []

    def slow(route):
        if route.request.method != "POST":
            route.fallback()
            return
        held.append((route, route.fetch()))  # the server has charged; the browser is not answered yet
    page.route(FUND_POST, slow)

    started = time.monotonic()
    pay.click()
    expect_in_flight(page, pay)
    error = page.locator("#fund-error")
    expect(error).to_contain_text("We could not confirm your payment yet. Do not pay again", timeout=5_000)
    waited = time.monotonic() - started
    assert waited >= 0.9, f"the page gave up after {waited:.2f}s, before the 1 s timeout"
    expect(error).to_have_class(re.compile(r"\bflash\b.*\berror\b"))
    expect(error).to_contain_text("you have not been charged twice")
    status_link = error.get_by_role("link", name="Check the payment status")
    expect(status_link).to_have_attribute("href", status_url)
    expect_settled(page, pay)  # never spinning forever

    # the late answer (an HX-Redirect to the receipt) arrives after 3 s: the aborted request ignores it
    for _ in range(250):  # the server's answer may still be on its way to the route on a slow machine
        if held:
            break
        page.wait_for_timeout(20)
    [(route, answer)] = held
    assert answer.status == 200 and "/payments/" in answer.headers.get("hx-redirect", "")
    page.wait_for_timeout(max(0, 3 - (time.monotonic() - started)) * 1000)
    route.fulfill(response=answer)
    page.wait_for_timeout(300)
    expect(page).to_have_url(re.compile(r"/fund$"))
    expect(error).to_contain_text("We could not confirm your payment yet")
    page.unroute(FUND_POST, slow)

    # only the abandoned POST failed; htmx 4 logs the timeout itself as a console error
    assert not log.page_errors, log.page_errors
    [failed] = log.failed_requests
    assert re.fullmatch(rf"POST {re.escape(live_server.url)}/c/[\w\-]+/fund: net::ERR_ABORTED", failed), failed
    assert [m for m in log.console_errors if "htmx:error: timeout" not in m] == []

    # the link tells the truth: the payment went through, once
    status_link.click()
    expect(page.get_by_role("heading", name="Receipt", level=1)).to_be_visible()
    expect(page.locator("[data-testid=receipt-total]")).to_have_text(FIRST)
    assert len(sales(gateway)) == 1
    assert milestone_states(db, cid) == ["funded", "pending", "pending"]
    db.session.expire_all()
    assert ledger.check() == []


def test_a_proxy_error_page_does_not_replace_the_payment_widget(new_page, live_server, client, login_as,
                                                                make_member, db, outbox):
    """A reverse proxy's 502/503/504 (the app restarting, a router's 30 s limit) during the payment.

    htmx 2 did not swap error statuses; htmx 4 swaps every status except 204
    and 304, and fires ``htmx:response:error`` (not ``htmx:error``). So the
    proxy's page would replace the whole widget: the form, its idempotency key
    and the "Check the payment status" link. static/client.js keeps the widget
    and shows the same notice as a browser timeout.
    """
    cid, page, log = client_on_fund_page(new_page, client, login_as, make_member, db, outbox)

    def proxy_error(route):
        if route.request.method != "POST":
            route.fallback()
            return
        route.fulfill(status=502, content_type="text/html",
                      body="<html><head><title>502 Bad Gateway</title></head>"
                           "<body><h1>502 Bad Gateway</h1><hr>nginx</body></html>")
    page.route(FUND_POST, proxy_error)
    page.locator("#pay-button").click()
    error = page.locator("#fund-error")
    expect(error).to_contain_text("We could not confirm your payment yet", timeout=2_000)
    expect(error.get_by_role("link", name="Check the payment status")).to_be_visible()
    expect(page.locator("#pay-button")).to_be_enabled()
    expect(page.get_by_role("heading", name="502 Bad Gateway")).to_have_count(0)
    assert not log.page_errors, log.page_errors
