"""Issue 13, items 4 and 5, in Chromium: a German member's builder refuses an ambiguous amount in the live
preview (the reason, not a zero total) and takes "1.234,50"; the account page picks a zone and a locale.
At 390 and 1280 px: nothing scrolls sideways, controls are 44 px tall.

Set ``POLISH_SHOTS=/some/dir`` to keep a screenshot of each page.
"""
from __future__ import annotations

import pytest

from directcontracts.models import Member
from tests.browser.conftest import DESKTOP, PHONE, expect, log_in
from tests.browser.test_phone_polish import assert_fits, assert_tall, shot
from tests.web.builders import create_draft, save_terms

pytestmark = pytest.mark.browser


def test_german_builder_preview_and_account_page(new_page, live_server, member, db, client, login_as):
    login_as(member)
    assert client.post("/account", {"time_zone": "Europe/Berlin", "locale": "de_DE"}).status_code == 303
    cid = create_draft(client)
    save_terms(client, cid, currency="EUR")
    email, member_id = member.email, member.id
    db.session.rollback()
    for viewport in (PHONE, DESKTOP):
        page, log = new_page(viewport=viewport)
        log_in(page, email)
        page.goto(live_server(f"/contracts/{cid}/terms"))
        page.check("#kind-single")
        expect(page.locator(".single-only .hint")).to_have_text("Type it as 1.234,50, or 1234.50.")
        page.fill("#amount", "1,234")
        refusal = page.get_by_test_id("preview-refusal")
        expect(refusal).to_contain_text("“1,234” is ambiguous")
        expect(page.get_by_test_id("total")).to_have_count(0)  # the reason instead of a zero total
        shot(page, "builder-ambiguous-amount")
        assert_fits(page)
        page.fill("#amount", "1.234,50")
        expect(page.get_by_test_id("total")).to_have_text("1.234,50\xa0€")
        expect(refusal).to_have_count(0)

        page.goto(live_server("/account"))
        expect(page.get_by_label("Time zone", exact=True)).to_have_value("Europe/Berlin")
        expect(page.get_by_label("Language and region (dates and amounts)")).to_have_value("de_DE")
        shot(page, "account")
        assert_fits(page)
        assert_tall(page.locator("main select, main button"), "account control")

        page.goto(live_server("/admin/settings"))  # the owner's: the shop's zone and locale, a fieldset of their own
        expect(page.locator("#shop-zone").get_by_label("Time zone", exact=True)).to_have_value("UTC")
        shot(page, "owner-settings")
        assert_fits(page)
        assert_tall(page.locator("#shop-zone select"), "shop zone control")
        log.assert_clean()

    # choosing in the account page itself saves it
    page.goto(live_server("/account"))
    page.get_by_label("Time zone", exact=True).select_option("America/New_York")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".flash.success")).to_contain_text("now show in your time zone")
    db.session.expire_all()
    assert db.session.get(Member, member_id).time_zone == "America/New_York"
