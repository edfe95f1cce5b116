"""Accessibility checked by a tool: axe-core on the main screens of both portals, 390, 768 and 1280 px wide.

The data is made over HTTP with the builders (quickly): Olga owns the app and has branded it (a logo, and a
light accent, so the header and buttons carry black text and links a dark ink), Fran freelances.
Contract A is sent (not funded); contract B is funded, has a payment request on milestone 1 and a
dispute the client opened on milestone 2; contract C's money went every way (tests/web/money_steps.py),
so the client's escrow and payments tables are full. Chromium then visits each screen and axe fails on any
"serious" or "critical" violation (see tests/browser/axe.py). Every screen is checked before the
test fails, so one run lists them all.

Then the client's whole path — emailed link → confirm it's you → sign → fund → approve and release — with
the keyboard only (Tab, Enter, Space, arrows, typing), on a phone-sized page.
"""
from __future__ import annotations

import re

import pytest

from directcontracts.models import Contract, Dispute, Milestone
from directcontracts.services import client_access
from tests.browser.axe import FAILING_IMPACTS, describe, run_axe
from tests.browser.conftest import DESKTOP, PHONE, expect, log_in
from tests.conftest import Client
from tests.web.brand_steps import set_brand
from tests.web.builders import funded_contract, latest_code, request_payment, revise, sent_contract
from tests.web.money_steps import every_way

pytestmark = pytest.mark.browser


def milestone_ids(db, cid) -> list[int]:
    db.session.expire_all()
    return list(db.session.scalars(db.select(Milestone.id).where(Milestone.contract_id == cid)
                                   .order_by(Milestone.position)))


def trust_this_browser(page, live_server, db, cid):
    """The client's device cookie for contract ``cid``, as if the emailed code had been entered here."""
    c = db.session.get(Contract, cid)
    page.context.add_cookies([{"name": client_access.device_cookie_name(c),
                               "value": client_access.device_cookie_value(c), "url": live_server.url}])


@pytest.fixture
def world(app, db, make_member, login_as, outbox, gateway):
    owner = make_member("olga@shop.example", "Olga Owner", owner=True)
    fran = make_member("fran@example.com", "Fran Freelancer", owner=False)
    set_brand(login_as(owner, Client(app.test_client())), accent_colour="#ffee00")
    freelancer = login_as(fran, Client(app.test_client()))
    sent_cid, sent_link = sent_contract(freelancer, outbox)
    revised_cid, _ = sent_contract(freelancer, outbox, title="Logo design")
    draft = revise(freelancer, revised_cid)  # a draft revision of it, not sent
    visitor = Client(app.test_client())
    cid, link = funded_contract(freelancer, visitor, outbox)
    first, second, _ = milestone_ids(db, cid)
    request_payment(freelancer, cid, first)
    r = visitor.post(f"{link}/milestones/{second}/dispute",
                     {"reason": "not_as_agreed", "statement": "The pages are not what we agreed."})
    assert r.status_code == 303, r.text
    dispute = db.session.scalar(db.select(Dispute).where(Dispute.milestone_id == second))
    money = every_way(freelancer, Client(app.test_client()), outbox, db, gateway)  # a full escrow table
    return {"owner": owner, "fran": fran, "sent": (sent_cid, sent_link), "funded": (cid, link),
            "draft_revision": (revised_cid, draft),
            "dispute": dispute.id, "money": money}


class Audit:
    """Runs axe on each screen and keeps the serious/critical findings, to fail once at the end."""

    def __init__(self, width: str):
        self.width, self.found, self.sideways = width, {}, {}

    def check(self, page, screen: str):
        page.wait_for_load_state("networkidle")
        bad = [v for v in run_axe(page) if v["impact"] in FAILING_IMPACTS]
        if bad:
            self.found[screen] = bad
        # the page itself never scrolls sideways (a wide table scrolls inside its own region)
        wide = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        if wide > 0:  # name the outermost elements that stick out, to find them
            self.sideways[screen] = (wide, page.evaluate("""() => {
                const w = document.documentElement.clientWidth, out = [];
                const clipped = el => { for (let a = el.parentElement; a; a = a.parentElement) {
                    if (getComputedStyle(a).overflowX !== 'visible') return true; } return false; };
                for (const el of document.querySelectorAll('body *')) {
                    if (el.getBoundingClientRect().right > w + 1 && !clipped(el) && !out.some(o => o.contains(el)))
                        out.push(el);
                }
                return out.slice(0, 5).map(el => el.tagName.toLowerCase() + (el.className ? '.' + el.className : '')
                                              + (el.id ? '#' + el.id : ''));
            }"""))

    def assert_clean(self):
        report = "\n".join(f"[{screen} @ {self.width}]\n{describe(v)}" for screen, v in self.found.items())
        assert not self.found, f"axe: serious/critical violations:\n{report}"
        assert not self.sideways, f"pages wider than the screen at {self.width} (px too wide): {self.sideways}"


# 768 px as well: between the phone's stacked cards and the desktop, the wide tables scroll sideways.
TABLET = {"width": 768, "height": 1024}


@pytest.mark.parametrize("name, viewport", [("390px", PHONE), ("768px", TABLET), ("1280px", DESKTOP)])
def test_the_main_screens_have_no_serious_violations(name, viewport, new_page, live_server, db, world):
    audit = Audit(name)
    sent_cid, sent_link = world["sent"]
    cid, link = world["funded"]
    did = world["dispute"]

    # -- the freelancer (a member)
    page, log = new_page(viewport=viewport)
    page.goto("/login")
    audit.check(page, "login")
    page.goto("/password/forgot")
    audit.check(page, "forgotten password")
    page.goto("/login")
    log_in(page, world["fran"].email)
    audit.check(page, "contracts list")
    page.goto("/contracts/new")
    audit.check(page, "contract builder (new)")
    page.goto(f"/contracts/{sent_cid}")
    audit.check(page, "sent contract")
    revised_cid, draft = world["draft_revision"]
    for path, screen in [(f"/contracts/{revised_cid}", "sent contract with a draft revision"),
                         (f"/contracts/{draft}/terms", "builder with a draft revision"),
                         (f"/contracts/{draft}/review", "review of a draft revision"),
                         (f"/contracts/{revised_cid}/revision/discard", "discard the draft revision")]:
        page.goto(path)
        audit.check(page, screen)
    page.goto(f"/contracts/{cid}")
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    audit.check(page, "funded contract with a payment request")
    page.goto(f"/contracts/{cid}/disputes/{did}")
    audit.check(page, "dispute (freelancer)")
    page.goto(f"/contracts/{cid}/agreement")
    expect(page.get_by_role("button", name="Print or save as PDF")).to_be_visible()
    audit.check(page, "signed agreement (freelancer)")
    page.goto(f"/contracts/{sent_cid}/agreement")
    audit.check(page, "agreement not signed yet (freelancer)")
    page.goto("/account")
    audit.check(page, "account (time zone and language)")
    first, second, third = milestone_ids(db, cid)
    for path, screen in [(f"/contracts/{sent_cid}/client", "builder: the client's details"),
                         (f"/contracts/{sent_cid}/withdraw", "withdraw (confirm)"),
                         (f"/contracts/{sent_cid}/new-link", "send a new link (confirm)"),
                         (f"/contracts/{cid}/end", "end the contract (confirm)"),
                         (f"/contracts/{cid}/milestones/{third}/request-payment", "request payment"),
                         (f"/contracts/{cid}/milestones/{third}/refund", "refund (confirm)"),
                         (f"/contracts/{cid}/milestones/{third}/dispute", "open a dispute (freelancer)"),
                         ("/notifications", "notifications"), ("/account/password", "change password")]:
        page.goto(path)
        audit.check(page, screen)

    # -- the owner
    owner, owner_log = new_page(viewport=viewport)
    log_in(owner, world["owner"].email)
    for path, screen in [("/admin/settings", "owner settings"), ("/admin/members", "owner members"),
                         ("/admin/payouts", "owner payouts"), ("/admin/disputes", "owner disputes"),
                         (f"/admin/disputes/{did}", "owner dispute"), ("/admin/chargebacks", "owner chargebacks"),
                         ("/admin/reconciliation", "owner reconciliation"),
                         (f"/admin/contracts/{cid}/agreement", "owner signed agreement"),
                         ("/admin/contracts", "owner: all contracts"), (f"/admin/contracts/{cid}", "owner: a contract"),
                         ("/admin/webhooks", "owner webhooks"), ("/dev/inbox", "local inbox"),
                         ("/dev/gateway", "test payment processor"),
                         (f"/admin/members/{world['fran'].id}/deactivate", "deactivate a member (confirm)")]:
        owner.goto(path)
        audit.check(owner, screen)

    # -- the client (no account: a fresh browser)
    client, client_log = new_page(viewport=viewport)
    client.goto("/c")
    audit.check(client, "client: open a contract by its reference")
    client.goto(sent_link)
    expect(client.locator("header.site img.logo")).to_be_visible()
    audit.check(client, "client proposal")
    client.goto(f"{sent_link}/verify?next=fund")
    audit.check(client, "client verify")
    trust_this_browser(client, live_server, db, sent_cid)
    client.goto(f"{sent_link}/fund")
    expect(client.get_by_role("heading", name="Accept and fund", level=1)).to_be_visible()
    audit.check(client, "client fund (test gateway)")
    trust_this_browser(client, live_server, db, cid)
    client.goto(link)
    expect(client.locator("table.escrow")).to_be_visible()
    audit.check(client, "client funded contract with a payment request")
    client.goto(f"{link}/disputes/{did}")
    audit.check(client, "client dispute")
    for path, screen in [(f"{link}/milestones/{first}/approve", "client approve (confirm)"),
                         (f"{link}/milestones/{first}/changes", "client asks for changes to a milestone"),
                         (f"{link}/milestones/{third}/dispute", "client opens a dispute"),
                         (f"{sent_link}/changes", "client asks for changes to the proposal"),
                         (f"{sent_link}/decline", "client declines (confirm)")]:
        client.goto(path)
        audit.check(client, screen)
    client.goto(link)
    client.get_by_role("link", name="Receipt").first.click()
    expect(client.get_by_role("heading", level=1)).to_be_visible()
    audit.check(client, "client receipt")
    client.goto(f"{link}/agreement")
    expect(client.get_by_role("heading", name="Signature")).to_be_visible()
    audit.check(client, "client signed agreement")
    money_cid, money_link = world["money"]
    trust_this_browser(client, live_server, db, money_cid)
    client.goto(money_link)
    expect(client.locator("table.escrow tbody tr")).to_have_count(5)
    audit.check(client, "client funded contract (full escrow table)")

    audit.assert_clean()
    for each in (log, owner_log, client_log):
        each.assert_clean()


# ---- the client's path with the keyboard only -------------------------------

MAX_TABS = 80


def tab_to(page, target):
    """Press Tab until ``target`` (a locator) has the focus; fail if it never does."""
    for _ in range(MAX_TABS):
        page.keyboard.press("Tab")
        if target.evaluate("el => el === document.activeElement"):
            return
    raise AssertionError(f"Tab never reached {target}")


def choose_radio(page, target):
    """Tab into the radio group (the focus lands on its checked radio), then arrow to ``target``."""
    group = page.locator(f"input[type=radio][name='{target.get_attribute('name')}']")
    for _ in range(MAX_TABS):
        page.keyboard.press("Tab")
        if group.evaluate_all("(els) => els.includes(document.activeElement)"):
            break
    else:
        raise AssertionError("Tab never reached the radio group")
    for _ in range(group.count()):
        if target.is_checked():
            return
        page.keyboard.press("ArrowDown")
    expect(target).to_be_checked()


def test_the_client_goes_from_the_link_to_the_release_with_the_keyboard_only(new_page, app, db, make_member,
                                                                            login_as, outbox):
    fran = make_member("fran@example.com", "Fran Freelancer")
    freelancer = login_as(fran, Client(app.test_client()))
    cid, link = sent_contract(freelancer, outbox)
    first = milestone_ids(db, cid)[0]
    db.session.rollback()
    page, log = new_page(viewport=PHONE)
    page.goto(link)  # the emailed link: the only address typed

    tab_to(page, page.get_by_role("link", name="Accept and fund"))
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Confirm it's you", level=1)).to_be_visible()
    tab_to(page, page.get_by_role("button", name="Email me a code"))
    page.keyboard.press("Enter")
    code_field = page.get_by_label("6-digit code")
    expect(code_field).to_be_visible()
    tab_to(page, code_field)
    page.keyboard.type(latest_code(outbox))
    db.session.rollback()
    tab_to(page, page.get_by_role("button", name="Confirm"))
    page.keyboard.press("Enter")

    expect(page.get_by_role("heading", name="Accept and fund", level=1)).to_be_visible()
    tab_to(page, page.get_by_label("Your full name (your signature)"))
    page.keyboard.type("Carla Client")
    tab_to(page, page.get_by_label("I agree to these terms", exact=False))
    page.keyboard.press("Space")
    expect(page.get_by_label("I agree to these terms", exact=False)).to_be_checked()
    choose_radio(page, page.get_by_role("radio", name=re.compile(r"^The first milestone")))
    expect(page.get_by_role("radio", name="Test card (Visa) — approved")).to_be_checked()
    tab_to(page, page.locator("#pay-button"))
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Receipt", level=1)).to_be_visible()

    request_payment(freelancer, cid, first)  # the freelancer, meanwhile, asks for the payment
    db.session.rollback()
    tab_to(page, page.get_by_role("link", name="Back to the contract"))
    page.keyboard.press("Enter")
    approve_link = page.get_by_role("link", name="Approve and release")
    expect(approve_link).to_be_visible()
    tab_to(page, approve_link)
    page.keyboard.press("Enter")
    release = page.get_by_role("button", name="Release $1,000.00")
    expect(release).to_be_visible()
    tab_to(page, release)
    page.keyboard.press("Enter")
    expect(page.locator("#notices")).to_have_text(
        "Released $1,000.00 to Fran Freelancer for “Milestone 1”. A receipt is on its way.")
    log.assert_clean()
