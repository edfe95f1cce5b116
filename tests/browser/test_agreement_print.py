"""The signed agreement in Chromium (issue 13, item 6): it fits a phone, its button prints, and printed
(print media, and a real PDF) it is a plain document: no header, navigation or buttons, black on white.

Set ``AGREEMENT_SHOTS=/some/dir`` to keep the screen and print screenshots and the PDF.
"""
from __future__ import annotations

import os

import pytest

from tests.browser.conftest import DESKTOP, PHONE, expect, log_in
from tests.browser.test_accessibility import trust_this_browser
from tests.browser.test_phone_polish import CONTROLS, assert_fits, assert_tall
from tests.conftest import Client
from tests.web.builders import funded_contract

pytestmark = pytest.mark.browser
SHOTS = os.environ.get("AGREEMENT_SHOTS")


def keep(page, name):
    if SHOTS:
        os.makedirs(SHOTS, exist_ok=True)
        page.screenshot(path=f"{SHOTS}/{name}.png", full_page=True)


def shown(locator) -> bool:
    return locator.evaluate("el => getComputedStyle(el).display !== 'none' && el.getClientRects().length > 0")


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_the_client_prints_the_signed_agreement(new_page, live_server, app, db, logged_in, outbox, viewport):
    cid, link = funded_contract(logged_in, Client(app.test_client()), outbox, choice="first")
    page, log = new_page(viewport=viewport)
    page.add_init_script("window.print = () => { window.printed = (window.printed || 0) + 1; };")
    trust_this_browser(page, live_server, db, cid)
    page.goto(link)
    page.get_by_role("link", name="Signed agreement (print or save as PDF)").click()
    expect(page.get_by_role("heading", name="Website redesign", level=1)).to_be_visible()
    expect(page.get_by_test_id("signer-name")).to_have_text("Carla Client")
    assert_fits(page)
    if viewport is PHONE:
        assert_tall(page.locator(CONTROLS), "controls")
    width = viewport["width"]
    keep(page, f"agreement-screen-{width}")

    button = page.get_by_role("button", name="Print or save as PDF")
    button.click()
    assert page.evaluate("window.printed") == 1

    page.emulate_media(media="print")
    # (hidden things leave the accessibility tree: found by CSS here)
    for chrome in (page.locator("header.site"), page.locator("button[data-print]"),
                   page.locator(".agreement-tools a"), page.locator(".skip")):
        assert not shown(chrome), f"{chrome} is printed"
    assert shown(page.get_by_test_id("signature")) and shown(page.get_by_test_id("agreement-money"))
    assert page.evaluate("getComputedStyle(document.body).color") == "rgb(0, 0, 0)"
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") in ("rgb(255, 255, 255)",
                                                                               "rgba(0, 0, 0, 0)")
    keep(page, f"agreement-print-{width}")
    page.emulate_media(media="screen")
    expect(button).to_be_visible()
    log.assert_clean()


def test_the_member_saves_it_as_a_pdf(new_page, live_server, app, db, member, logged_in, outbox):
    cid, _ = funded_contract(logged_in, Client(app.test_client()), outbox, choice="all")
    page, log = new_page(viewport=DESKTOP)
    log_in(page, member.email)
    page.goto(f"/contracts/{cid}")
    page.get_by_role("link", name="Signed agreement (print or save as PDF)").click()
    expect(page.get_by_role("heading", name="Signature")).to_be_visible()
    pdf = page.pdf(format="A4", print_background=False)  # what "Save as PDF" makes, printed in print media
    assert pdf.startswith(b"%PDF") and len(pdf) > 10_000
    if SHOTS:
        os.makedirs(SHOTS, exist_ok=True)
        with open(f"{SHOTS}/agreement.pdf", "wb") as f:
            f.write(pdf)
    log.assert_clean()
