"""In a real browser: the freelancer edits a sent proposal while the client's page still shows it as sent.

"Edit (send a revision)" opens a draft revision in the builder; the client's page, open in another
browser, keeps revision 1's terms (and its buttons) until "Send revision 2". The builder with a draft
revision is checked by axe, fits a phone without sideways scroll, and its controls are 44 px tall.
Set ``DRAFT_REVISION_SHOTS`` to a directory to keep screenshots of each width.
"""
from __future__ import annotations

import os

import pytest

from tests.browser.axe import FAILING_IMPACTS, describe, run_axe
from tests.browser.conftest import DESKTOP, PHONE, expect, log_in
from tests.browser.test_phone_polish import CONTROLS, assert_fits, assert_tall
from tests.web.builders import sent_contract

pytestmark = pytest.mark.browser
SHOTS = os.environ.get("DRAFT_REVISION_SHOTS")


def shot(page, name):
    if SHOTS:
        os.makedirs(SHOTS, exist_ok=True)
        page.screenshot(path=os.path.join(SHOTS, f"draft-revision-{name}-{page.viewport_size['width']}.png"),
                        full_page=True)


def assert_accessible(page, screen):
    page.wait_for_load_state("networkidle")
    bad = [v for v in run_axe(page) if v["impact"] in FAILING_IMPACTS]
    assert not bad, f"axe on {screen}:\n" + "\n".join(describe(v) for v in bad)
    assert_fits(page)


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["390", "1280"])
def test_the_freelancer_edits_a_sent_proposal_while_the_client_still_sees_it(new_page, live_server, logged_in,
                                                                             member, outbox, db, viewport):
    cid, link = sent_contract(logged_in, outbox, amounts=("300", "500"))
    db.session.rollback()
    client, client_log = new_page(viewport=viewport)
    client.goto(link)
    expect(client.get_by_role("heading", name="Proposal from Fran Freelancer", level=1)).to_be_visible()

    page, log = new_page(viewport=viewport)
    log_in(page, member.email)
    page.goto(f"/contracts/{cid}")
    page.get_by_role("button", name="Edit (send a revision)").click()
    notice = page.get_by_test_id("draft-revision")
    expect(notice).to_contain_text("Draft revision, not sent.")
    expect(notice).to_contain_text("Carla Client still sees revision 1 exactly as it was sent")
    page.get_by_role("link", name="Edit Milestone 1").click()
    page.get_by_role("group", name="Edit milestone").get_by_label("Amount (USD)").fill("3300")
    page.get_by_role("button", name="Save milestone").click()
    expect(page.get_by_test_id("milestone-amount").first).to_have_text("$3,300.00")
    assert_accessible(page, "builder with a draft revision")
    if viewport is PHONE:
        assert_tall(page.locator(CONTROLS), "control on the builder with a draft revision")
        assert_tall(notice.get_by_role("link"), "link of the draft revision's notice")
    shot(page, "builder")

    # the client's page, reloaded: revision 1 as sent, still to accept and fund
    client.reload()
    expect(client.get_by_role("heading", name="Proposal from Fran Freelancer", level=1)).to_be_visible()
    expect(client.locator("#milestones")).to_contain_text("$300.00")
    expect(client.locator("#milestones")).not_to_contain_text("$3,300.00")
    expect(client.get_by_role("link", name="Accept and fund")).to_be_visible()
    expect(client.get_by_text("is revising")).to_have_count(0)

    # the contract's page says a draft revision waits; so does the discard question
    page.goto(f"/contracts/{cid}")
    expect(page.get_by_test_id("draft-revision-notice")).to_contain_text("not sent")
    assert_accessible(page, "sent contract with a draft revision")
    shot(page, "contract")
    page.get_by_role("link", name="Discard draft revision…").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Discard the draft revision")
    assert_accessible(page, "discard the draft revision")
    shot(page, "discard")
    page.get_by_role("link", name="Keep it").click()

    # sent: the client's page shows revision 2
    page.get_by_role("link", name="Continue the draft revision").click()
    page.get_by_role("button", name="Review", exact=True).click()
    assert_accessible(page, "review of a draft revision")
    shot(page, "review")
    page.get_by_role("button", name="Send revision 2").click()
    expect(page.locator("p.flash.success")).to_have_text("Revision 2 sent to carla@client-co.com.")
    client.reload()
    expect(client.locator("#milestones")).to_contain_text("$3,300.00")
    log.assert_clean()
    client_log.assert_clean()
