"""The shop's brand in a real browser: the owner picks a logo with the file input and an accent colour; the client's
page then shows the logo (loaded, under the page's CSP), the accent behind the header and the main button with
readable text, and who sent it; no sideways scroll at 390 px and controls at least 44 px tall."""
from __future__ import annotations

import pytest

from tests.browser.conftest import DESKTOP, PHONE, expect, log_in
from tests.browser.test_accessibility import trust_this_browser
from tests.conftest import Client
from tests.web.brand_steps import image
from tests.web.builders import funded_contract, request_payment, contract

pytestmark = pytest.mark.browser


def fits(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


def style(page, selector: str, prop: str) -> str:
    return page.locator(selector).first.evaluate(f"e => getComputedStyle(e).{prop}")


@pytest.mark.parametrize("name, viewport", [("390px", PHONE), ("1280px", DESKTOP)])
def test_the_owner_brands_the_shop_and_the_client_sees_it(name, viewport, new_page, app, db, make_member, login_as,
                                                          outbox, live_server, tmp_path):
    olga = make_member("olga@shop.example", "Olga Owner", owner=True)
    fran = make_member("fran@example.com", "Fran Freelancer", owner=False)
    freelancer = login_as(fran, Client(app.test_client()))
    cid, link = funded_contract(freelancer, Client(app.test_client()), outbox)
    request_payment(freelancer, cid, contract(db, cid).milestones[0].id)

    owner, owner_log = new_page(viewport=viewport)
    log_in(owner, olga.email)
    owner.goto("/admin/settings")
    assert fits(owner), f"the settings page scrolls sideways at {name}"
    owner.get_by_label("Shop name").fill("Northwind Studio")
    owner.get_by_label("Accent colour").fill("#0b6e4f")
    owner.get_by_label("Contact email for clients").fill("hello@northwind.example")
    owner.get_by_role("button", name="Save settings").click()
    expect(owner.get_by_text("Settings saved.")).to_be_visible()
    # the preview of text on the accent, from the versioned stylesheet
    assert style(owner, ".accent-preview span", "backgroundColor") == "rgb(11, 110, 79)"

    bogus = tmp_path / "logo.png"
    bogus.write_bytes(b"<html>not an image</html>")
    owner.get_by_label("Logo file").set_input_files(str(bogus))
    owner.get_by_role("button", name="Upload the logo").click()
    expect(owner.locator("#logo-error")).to_contain_text("not a PNG, JPEG or WebP image")
    assert owner.get_by_label("Logo file").get_attribute("aria-invalid") == "true"

    real = tmp_path / "northwind.png"
    real.write_bytes(image("PNG", (240, 80)))
    owner.get_by_label("Logo file").set_input_files(str(real))
    owner.get_by_role("button", name="Upload the logo").click()
    expect(owner.get_by_text("Logo saved")).to_be_visible()
    current = owner.get_by_role("img", name="Your current logo")
    expect(current).to_be_visible()
    assert current.evaluate("img => img.decode().then(() => img.naturalWidth)") == 240
    for control in (owner.get_by_label("Replace the logo"), owner.get_by_role("button", name="Upload the logo"),
                    owner.get_by_role("button", name="Remove the logo")):
        assert control.bounding_box()["height"] >= 44, control
    assert fits(owner), f"the settings page with a logo scrolls sideways at {name}"

    client, client_log = new_page(viewport=viewport)
    trust_this_browser(client, live_server, db, cid)
    client.goto(link)
    logo = client.locator("header.site img.logo")
    expect(logo).to_be_visible()
    assert logo.evaluate("img => img.decode().then(() => img.naturalWidth)") == 240
    assert logo.bounding_box()["height"] == pytest.approx(40, abs=1)
    expect(client.locator("header.site")).to_contain_text("Northwind Studio")
    assert style(client, "header.site", "backgroundColor") == "rgb(11, 110, 79)"
    approve = client.get_by_role("link", name="Approve and release").or_(
        client.get_by_role("button", name="Approve and release"))
    assert approve.first.evaluate("e => getComputedStyle(e).color") == "rgb(255, 255, 255)"
    expect(client.get_by_role("contentinfo")).to_contain_text(
        "Sent by Fran Freelancer · Northwind Studio · contact hello@northwind.example")
    assert fits(client), f"the branded client page scrolls sideways at {name}"
    for each in (owner_log, client_log):
        each.assert_clean()
