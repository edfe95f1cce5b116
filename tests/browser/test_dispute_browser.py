"""A dispute in a real browser: the client opens it from the code link, the owner splits, both see the outcome.

The contract is sent and funded over HTTP (quickly, as in the other stories);
the sale is settled at the test gateway so part of it can be refunded. In
Chromium: the client (a fresh browser context: no cookie) verifies the device
with the emailed code, opens a dispute on milestone 1 ($1,000.00); the owner
(another context) finds it under Disputes, decides a split — $600.00 to the
freelancer, $400.00 back to the client — confirms the amounts; the client's
and the freelancer's dispute pages then show that outcome, and the client's
escrow table the released and refunded parts. Each page is also drawn 390 px wide.
"""
from __future__ import annotations

import os
import re

import pytest

from directcontracts.models import Dispute
from tests.browser.conftest import PHONE, expect, log_in
from tests.conftest import Client, sales
from tests.web.builders import funded_contract, latest_code

pytestmark = pytest.mark.browser

SHOTS = os.environ.get("DISPUTE_SHOTS")  # a directory: save screenshots there (to look at them)
STATEMENT = "The pages do not match the agreed design."
REASON = "Most of the work was delivered; the contact form was not."


def shot(page, name):
    if SHOTS:
        page.screenshot(path=os.path.join(SHOTS, f"{name}.png"), full_page=True)


def no_horizontal_scroll(page):
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


def test_client_opens_a_dispute_and_the_owner_splits(new_page, live_server, app, make_member, login_as, db,
                                                     gateway, outbox):
    owner = make_member("olga@shop.example", "Olga Owner", owner=True)
    fran = make_member("fran@example.com", "Fran Freelancer", owner=False)
    member = login_as(fran, Client(app.test_client()))
    cid, link = funded_contract(member, Client(app.test_client()), outbox)
    for sale in sales(gateway):
        gateway.settle(sale["id"])

    # -- the client, from the code link, on a device not verified yet
    client_page, client_log = new_page()
    client_page.goto(link)
    client_page.locator("#milestones > li").first.get_by_role("link", name="Open a dispute").click()
    expect(client_page.get_by_role("heading", name="Confirm it's you")).to_be_visible()
    client_page.get_by_role("button", name="Email me a code").click()
    client_page.get_by_label("6-digit code").fill(latest_code(outbox))
    client_page.get_by_role("button", name="Confirm").click()  # verified: straight back to the dispute form
    expect(client_page.get_by_role("heading", name="Open a dispute about “Milestone 1”")).to_be_visible()
    expect(client_page.get_by_test_id("dispute-explainer")).to_contain_text("Olga Owner")
    client_page.set_viewport_size(PHONE)
    no_horizontal_scroll(client_page)
    shot(client_page, "client-open-390")
    client_page.get_by_label("Not what was agreed").check()
    client_page.get_by_label("What went wrong?").fill(STATEMENT)
    client_page.get_by_role("button", name="Open the dispute").click()
    expect(client_page.get_by_role("heading", name="Dispute about “Milestone 1”")).to_be_visible()
    expect(client_page.get_by_test_id("dispute-messages")).to_contain_text(STATEMENT)
    expect(client_page.get_by_test_id("mediator")).to_contain_text("olga@shop.example")
    no_horizontal_scroll(client_page)
    shot(client_page, "client-dispute-open-390")
    dispute_url = client_page.url

    # -- the owner decides a split
    owner_page, owner_log = new_page()
    log_in(owner_page, owner.email)
    owner_page.get_by_role("navigation", name="Main").get_by_role("link", name="Disputes").click()
    owner_page.get_by_test_id("open-disputes").get_by_role("link", name="Milestone 1").click()
    expect(owner_page.get_by_test_id("dispute-messages")).to_contain_text(STATEMENT)
    owner_page.get_by_label("Split: part to the freelancer").check()
    owner_page.get_by_label(re.compile("Amount to Fran Freelancer")).fill("600")
    owner_page.get_by_label("Reason (both sides read it)").fill(REASON)
    shot(owner_page, "owner-dispute-1280")
    owner_page.get_by_role("button", name="Continue…").click()
    expect(owner_page.get_by_test_id("confirm-release")).to_have_text("$600.00")
    expect(owner_page.get_by_test_id("confirm-refund")).to_have_text("$400.00")
    owner_page.set_viewport_size(PHONE)
    no_horizontal_scroll(owner_page)
    shot(owner_page, "owner-confirm-390")
    owner_page.get_by_test_id("confirm-button").click()
    expect(owner_page.get_by_test_id("dispute-outcome")).to_contain_text("$600.00")
    db.session.expire_all()
    d = db.session.scalar(db.select(Dispute))
    assert (d.status, d.outcome, d.release_minor, d.refund_minor) == ("closed", "split", 60000, 40000)

    # -- both sides see the outcome and the amounts
    client_page.goto(dispute_url)
    expect(client_page.get_by_test_id("outcome-release")).to_have_text("$600.00")
    expect(client_page.get_by_test_id("outcome-refund")).to_have_text("$400.00")
    expect(client_page.get_by_test_id("dispute-outcome")).to_contain_text(REASON)
    no_horizontal_scroll(client_page)
    shot(client_page, "client-outcome-390")
    client_page.goto(link)
    expect(client_page.get_by_test_id("escrow-refunded")).to_have_text("$400.00")
    client_page.set_viewport_size({"width": 1280, "height": 900})
    shot(client_page, "client-contract-1280")

    fran_page, fran_log = new_page()
    log_in(fran_page, fran.email)
    fran_page.goto(f"/contracts/{cid}")
    fran_page.get_by_test_id("disputes").get_by_role("link", name=re.compile("Milestone 1")).click()
    expect(fran_page.get_by_test_id("outcome-release")).to_have_text("$600.00")
    expect(fran_page.get_by_test_id("outcome-refund")).to_have_text("$400.00")
    shot(fran_page, "freelancer-outcome-1280")
    for log in (client_log, owner_log, fran_log):
        log.assert_clean()
