"""The client's money on their contract page, in a real browser: readable at 390 px without sideways
scrolling (the tables stack into cards) and at 1280 px as tables. Set MONEY_SHOTS to a directory to
save full-page screenshots of both widths (to look at them)."""
from __future__ import annotations

import os

import pytest

from directcontracts.models import Contract
from directcontracts.services import client_access
from tests.browser.conftest import DESKTOP, PHONE, expect
from tests.conftest import Client
from tests.web.money_steps import every_way

pytestmark = pytest.mark.browser

SHOTS = os.environ.get("MONEY_SHOTS")


def fits(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


@pytest.mark.parametrize("name, viewport", [("phone", PHONE), ("desktop", DESKTOP)])
def test_the_money_reads_on_a_phone_and_a_desktop(name, viewport, new_page, live_server, app, logged_in, outbox, db,
                                                  gateway):
    cid, link = every_way(logged_in, Client(app.test_client()), outbox, db, gateway)
    page, log = new_page(viewport=viewport)
    # The money is shown to a verified device only: this browser is the client's, verified before.
    c = db.session.get(Contract, cid)
    page.context.add_cookies([{"name": client_access.device_cookie_name(c), "value": client_access.device_cookie_value(c),
                               "url": live_server.url}])
    page.goto(link)
    escrow, payments = page.locator("table.escrow"), page.locator("table.payments")
    expect(page.get_by_test_id("escrow-funded")).to_have_text("$5,450.00")
    expect(page.get_by_test_id("escrow-held")).to_have_text("$450.00")
    expect(escrow.locator("tbody tr")).to_have_count(5)
    expect(payments.locator("tbody tr")).to_have_count(3)
    expect(payments.get_by_test_id("payment-method").first).to_have_text("PayPal (jane.doe@paypal.com)")
    expect(payments.get_by_test_id("payment-status")).to_have_text(
        ["Confirmed", "Confirmed", "Declined — nothing was taken"])
    expect(escrow.locator("tbody tr").nth(4)).to_contain_text("Refund of $150.00 being confirmed")
    assert fits(page), "the page scrolls sideways"
    stacked = page.evaluate("getComputedStyle(document.querySelector('table.escrow thead')).display") == "none"
    assert stacked == (name == "phone")  # cards on a phone, a table on a desktop
    for table in (escrow, payments):  # nothing inside the tables is cut off or wider than the screen
        box = table.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"] + 1
    if SHOTS:
        page.locator("#escrow-heading").scroll_into_view_if_needed()
        page.screenshot(path=os.path.join(SHOTS, f"money-{name}.png"), full_page=True)
        for part in ("escrow", "payments"):
            page.locator(f"section[aria-labelledby={part}-heading]").screenshot(
                path=os.path.join(SHOTS, f"money-{name}-{part}.png"))
    page.get_by_role("link", name="Receipt").first.click()
    expect(page.get_by_role("heading", name="Receipt")).to_be_visible()
    expect(page.get_by_test_id("receipt-total")).to_have_text("$4,450.00")
    assert fits(page)
    log.assert_clean()
