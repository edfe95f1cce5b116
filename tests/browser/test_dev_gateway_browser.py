"""The test payment processor panel in a real browser at 390 px and 1280 px: reached from the header's
"Test processor" link, no sideways scroll, every field labelled; settle, then open a chargeback and lose it.
Set GATEWAY_SHOTS to a directory to save full-page screenshots."""
from __future__ import annotations

import os

import pytest

from tests.browser.conftest import DESKTOP, PHONE, expect, log_in
from tests.browser.test_chargeback_browser import fits, unlabelled
from tests.web.builders import funded_contract

pytestmark = pytest.mark.browser

SHOTS = os.environ.get("GATEWAY_SHOTS")


def check(page, name: str, shot: str) -> None:
    assert fits(page), f"{shot} scrolls sideways at {name}"
    assert unlabelled(page) == [], f"{shot}: fields without a label"
    if SHOTS:
        page.screenshot(path=os.path.join(SHOTS, f"{shot}-{name}.png"), full_page=True)


@pytest.mark.parametrize("name, viewport", [("phone", PHONE), ("desktop", DESKTOP)])
def test_the_processor_panel_reads_on_a_phone_and_a_desktop(name, viewport, new_page, logged_in, member, visitor,
                                                            outbox, gateway):
    page, log = new_page(viewport=viewport)
    log_in(page, member.email)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Test processor").click()
    expect(page.get_by_role("heading", name="Test payment processor", level=1)).to_be_visible()
    expect(page.get_by_text("No sales yet")).to_be_visible()
    check(page, name, "gateway-empty")

    funded_contract(logged_in, visitor, outbox, amounts=("300", "500"))
    page.reload()
    expect(page.get_by_test_id("gateway-sale")).to_have_count(1)
    check(page, name, "gateway-sale")
    page.get_by_role("button", name="Settle now").click()
    expect(page.locator(".flash.success")).to_contain_text("The processor settled sale")
    page.get_by_label("The bank's reason").select_option("fraud")
    page.get_by_role("button", name="Open a chargeback").click()
    expect(page.locator(".flash.success")).to_contain_text("the notification was applied: opened")
    check(page, name, "gateway-chargeback")
    page.get_by_role("button", name="Bank decides: lost").click()
    expect(page.locator(".flash.success")).to_contain_text("the notification was applied: lost")
    expect(page.get_by_test_id("sale-chargeback")).to_contain_text("lost")
    check(page, name, "gateway-lost")
    log.assert_clean()
