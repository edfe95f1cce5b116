"""In a real browser: an edit the server refuses leaves the editor as the server kept it.

The freelancer has the terms step open; meanwhile the contract is sent from
another session, so its milestones can no longer be changed. Clicking
"Remove" (``hx-swap="delete"``) or a move button must not delete the row or
replace the list: the refusal shows in the page's notice area instead.
"""
from __future__ import annotations

import pytest

from tests.browser.conftest import expect, log_in
from tests.web.builders import contract, milestone_contract, send

pytestmark = pytest.mark.browser


def test_a_refused_remove_keeps_the_row_and_says_why(new_page, live_server, logged_in, member, db):
    cid = milestone_contract(logged_in, amounts=("1000", "2000"))
    page, log = new_page()
    log_in(page, member.email)
    page.goto(live_server(f"/contracts/{cid}/terms"))
    rows = page.locator("#milestone-list > li")
    expect(rows.locator(".milestone-title")).to_have_text(["Milestone 1", "Milestone 2"])

    send(logged_in, cid)  # from another session, after the page was loaded

    page.get_by_role("button", name="Remove Milestone 1").click()
    notices = page.locator("#notices")
    expect(notices).to_contain_text("Not possible.")
    expect(notices).to_contain_text("Cannot edit")
    expect(rows.locator(".milestone-title")).to_have_text(["Milestone 1", "Milestone 2"])

    page.get_by_role("button", name="Move Milestone 1 down").click()
    expect(notices.get_by_role("alert")).to_have_count(1)  # the notice replaced, not stacked
    expect(rows.locator(".milestone-title")).to_have_text(["Milestone 1", "Milestone 2"])
    expect(page.locator("#milestone-summary")).to_be_visible()
    assert len(contract(db, cid).milestones) == 2
    log.assert_clean()
