"""Issue 13's rough edges at 390 px, in Chromium: tap targets of 44 px, nothing scrolls sideways,
the fund form's choices pick what is tapped, and the pay button when Drop-in cannot load.

Set ``POLISH_SHOTS=/some/dir`` to keep a screenshot of each page (at 390 and 1280 px).
"""
from __future__ import annotations

import os
import re

import pytest

from tests.browser.conftest import DESKTOP, PHONE, expect, log_in
from tests.browser.test_dropin_options import FAKE_DROPIN, dropin_app  # noqa: F401 (a fixture)
from tests.web.builders import create_draft, fund, latest_code, save_terms, sent_contract, verify

pytestmark = pytest.mark.browser
MIN_TAP = 44
SHOTS = os.environ.get("POLISH_SHOTS")


def shot(page, name):
    if SHOTS:
        os.makedirs(SHOTS, exist_ok=True)
        width = page.viewport_size["width"]
        page.screenshot(path=f"{SHOTS}/{name}-{width}.png", full_page=True)


def assert_fits(page):
    """Nothing scrolls sideways."""
    width, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width <= inner, f"{page.url} scrolls sideways: {width} > {inner}"


def assert_tall(locator, what):
    """Every control matched is at least 44 px tall (a thumb's tap target)."""
    assert locator.count(), f"no {what}"
    for i in range(locator.count()):
        box = locator.nth(i).bounding_box()
        assert box and box["height"] >= MIN_TAP, f"{what} #{i} is {box and box['height']} px tall"


CONTROLS = "main button:visible, main input:not([type=hidden]):not([type=radio]):not([type=checkbox]):visible, " \
           "main select:visible, main label.choice:visible"


def fund_page(new_page, live_server, link, outbox, viewport):
    page, log = new_page(viewport=viewport)
    page.goto(live_server(f"{link}/verify?next=fund"))
    page.get_by_role("button", name="Email me a code").click()
    page.get_by_label("6-digit code").fill(latest_code(outbox))
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("heading", name="Accept and fund", level=1)).to_be_visible()
    return page, log


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_verify_and_fund_pages_on_a_phone(new_page, live_server, logged_in, outbox, db, viewport):
    cid, link = sent_contract(logged_in, outbox)
    db.session.rollback()
    page, log = new_page(viewport=viewport)
    page.goto(live_server(f"{link}/verify?next=fund"))
    shot(page, "verify")
    assert_fits(page)
    assert_tall(page.locator(CONTROLS), "control on the verify page")
    assert page.get_by_label("6-digit code").get_attribute("type") == "text"
    # before asking for a code, typing one says what to do
    page.get_by_label("6-digit code").fill("123456")
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("alert").filter(has_text="Ask for a code first")).to_be_visible()
    shot(page, "verify-no-code")
    page.get_by_role("button", name="Email me a code").click()
    page.get_by_label("6-digit code").fill(latest_code(outbox))
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("heading", name="Accept and fund", level=1)).to_be_visible()
    shot(page, "fund")
    assert_fits(page)
    assert_tall(page.locator(CONTROLS), "control on the fund page")
    choices = page.locator("label.choice:has(input[type=radio])")
    fieldset_width = page.locator("fieldset").nth(1).bounding_box()["width"]
    for i in range(choices.count()):
        label = choices.nth(i)
        box, radio = label.bounding_box(), label.locator("input").bounding_box()
        text = label.locator("span").bounding_box()
        assert box["width"] >= fieldset_width * 0.85, "a choice is not full width"
        assert radio["x"] < text["x"] and radio["x"] - box["x"] < 20, "the radio is not at the start of its option"
    # a tap on an option's text, at its far end, picks that option (not the next one)
    all_at_once = page.get_by_role("radio", name=re.compile(r"^All 3 milestones"))
    label = choices.filter(has=all_at_once)
    label.scroll_into_view_if_needed()
    box = label.bounding_box()
    page.mouse.click(box["x"] + box["width"] - 5, box["y"] + box["height"] / 2)
    expect(all_at_once).to_be_checked()
    declined = page.get_by_role("radio", name="Test card — declined by the bank")
    choices.filter(has=declined).scroll_into_view_if_needed()
    box = choices.filter(has=declined).bounding_box()
    page.mouse.click(box["x"] + box["width"] - 5, box["y"] + 3)
    expect(declined).to_be_checked()
    # the escrow terms the signer agrees to are above the tick box
    terms = page.locator("details.escrow-terms")
    agree = page.get_by_label("I agree to these terms", exact=False)
    assert "(above)" in page.locator("label.choice:has(#agree)").inner_text()
    assert terms.bounding_box()["y"] < agree.bounding_box()["y"]
    terms.locator("summary").click()
    expect(terms.get_by_text("Escrow:", exact=True)).to_be_visible()
    assert_fits(page)
    log.assert_clean()


FAILING_DROPIN = """
window.braintree = {dropin: {create: function (options, done) {
  setTimeout(function () { done(new Error("Could not fetch the client configuration")); }, 20);
}}};
"""


@pytest.mark.parametrize("how", ["script blocked", "braintree unreachable", "loads"])
def test_pay_button_waits_for_dropin(new_page, live_server, logged_in, outbox, db, dropin_app, how):
    cid, link = sent_contract(logged_in, outbox, amounts=("400",))
    db.session.rollback()
    page, log = new_page(viewport=PHONE)
    if how == "script blocked":
        page.route("**/vendor/braintree-web-drop-in-*.js?v=*", lambda route: route.abort())
    else:
        body = FAILING_DROPIN if how == "braintree unreachable" else FAKE_DROPIN
        page.route("**/vendor/braintree-web-drop-in-*.js?v=*",
                   lambda route: route.fulfill(body=body, content_type="application/javascript"))
    fund_page(new_page=lambda **kw: (page, log), live_server=live_server, link=link, outbox=outbox, viewport=PHONE)
    pay = page.locator("#pay-button")
    if how == "loads":
        expect(pay).to_be_enabled()
        expect(page.locator("#dropin-status")).to_have_count(0)
        return
    status = page.get_by_role("alert").filter(has_text="could not load, so you cannot pay yet")
    expect(status).to_be_visible()
    expect(status).to_contain_text("reload this page")
    assert status.bounding_box()["y"] < pay.bounding_box()["y"]
    expect(pay).to_be_disabled()
    shot(page, f"fund-dropin-{how.replace(' ', '-')}")
    assert_fits(page)


def test_dropin_pay_button_is_disabled_as_served(logged_in, visitor, outbox, dropin_app):
    """Without the script (or before it ran), the page itself serves the pay button disabled."""
    cid, link = sent_contract(logged_in, outbox, amounts=("400",))
    verify(visitor, link, outbox)
    html = visitor.get(f"{link}/fund").text
    assert re.search(r'<button type="submit" id="pay-button" disabled>', html)
    assert "Loading card and PayPal payment" in html


def test_builder_on_a_phone(new_page, live_server, member, outbox, db, client, login_as):
    login_as(member)
    cid = create_draft(client)
    email = member.email
    db.session.rollback()
    for viewport in (PHONE, DESKTOP):
        page, log = new_page(viewport=viewport)
        log_in(page, email)
        page.goto(live_server(f"/contracts/{cid}/terms"))
        page.check("#kind-single")
        amount_label = page.locator("label[for=amount]")
        expect(amount_label).not_to_contain_text("optional")
        expect(amount_label).to_contain_text("Amount (USD)")
        page.select_option("#currency", "JPY")
        expect(amount_label).to_contain_text("Amount (JPY)")
        page.fill("#amount", "abc")
        expect(page.get_by_test_id("preview-refusal")).to_be_visible()
        shot(page, "builder-refused")
        page.fill("#amount", "150000")
        expect(page.get_by_test_id("total")).to_have_text("¥150,000")
        expect(page.get_by_test_id("preview-refusal")).to_have_count(0)
        shot(page, "builder")
        assert_fits(page)
        assert_tall(page.locator("#terms-form button:visible, #terms-form input:visible:not([type=radio]), "
                                 "#terms-form select, #terms-form label.choice"), "builder control")
        log.assert_clean()


def test_owner_pages_and_emails_fit_a_phone(new_page, live_server, member, outbox, db, client, login_as, visitor):
    login_as(member)
    long_title = "Brand-guidelines-and-logo-files-for-every-platform-in-one-package"
    cid = create_draft(client)
    save_terms(client, cid, title="Logo", kind="milestones")
    from tests.web.builders import add_milestone, link_in, send
    add_milestone(client, cid, long_title, "400")
    send(client, cid)
    link = link_in(outbox()[-1].body_text)
    verify(visitor, link, outbox)
    assert fund(visitor, link).status_code == 303
    from directcontracts.models import Milestone
    mid = db.session.scalar(db.select(Milestone.id).where(Milestone.contract_id == cid))
    email = member.email
    db.session.rollback()
    page, log = new_page(viewport=PHONE)
    log_in(page, email)
    page.goto(live_server("/admin/payouts"))
    shot(page, "payouts")
    assert_fits(page)
    assert_tall(page.locator("main form button, main form input"), "payouts control")
    page.goto(live_server(f"/contracts/{cid}/milestones/{mid}/request-payment"))
    link_box = page.locator("input[type=url]")
    assert link_box.evaluate("e => getComputedStyle(e).borderTopStyle") == "solid"
    assert link_box.bounding_box()["width"] > 300
    assert_tall(page.locator("main form input:visible, main form textarea, main form button"), "request control")
    assert_fits(page)
    shot(page, "request-payment")
    page.goto(live_server("/dev/inbox"))
    page.locator("ul.inbox > li > a").filter(has_text="sent you a contract").first.click()
    expect(page.get_by_text(long_title, exact=False).first).to_be_visible()
    shot(page, "proposal-email")
    assert_fits(page)
    page.locator("details.email-text summary").click()
    assert_fits(page)
    log.assert_clean()
