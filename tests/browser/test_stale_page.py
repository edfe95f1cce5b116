"""In a real browser: the freelancer revises while the client's fund page is open.

The client clicks "Sign and pay" on a page that says $300.00; the freelancer
has since sent a revision at $3,300.00. Nothing is charged: the widget says
what changed, and the client confirms the new amount on the same page.
"""
from __future__ import annotations

import pytest

from directcontracts.models import PaymentAttempt
from tests.browser.conftest import PHONE, expect
from tests.conftest import sales
from tests.web.builders import contract, latest_code, revise, send_revision, sent_contract

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("viewport", [PHONE, None], ids=["phone", "desktop"])
def test_a_stale_fund_page_charges_nothing_and_shows_what_changed(new_page, live_server, logged_in, outbox, db,
                                                                  gateway, viewport, tmp_path):
    cid, link = sent_contract(logged_in, outbox, amounts=("300", "500"))
    page, log = new_page(**({"viewport": viewport} if viewport else {}))
    page.goto(live_server(f"{link}/verify?next=fund"))
    page.get_by_role("button", name="Email me a code").click()
    page.get_by_label("6-digit code").fill(latest_code(outbox))
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_text("The first milestone, Milestone 1: $300.00")).to_be_visible()

    # meanwhile, the freelancer revises the first milestone and sends revision 2
    draft = revise(logged_in, cid)
    m = contract(db, draft).milestones[0]
    logged_in.post(f"/contracts/{draft}/milestones/{m.id}", {"title": m.title, "amount": "3300"}, htmx=True)
    send_revision(logged_in, draft, cid)

    page.get_by_label("Your full name (your signature)").fill("Carla Client")
    page.get_by_label("I agree to these terms").check()
    page.get_by_role("button", name="Sign and pay").click()
    notice = page.get_by_role("alert").filter(has_text="changed this contract since you opened it")
    expect(notice).to_be_visible()
    expect(notice).to_contain_text("“Milestone 1” changed from $300.00 to $3,300.00.")
    expect(notice).to_contain_text("Nothing was charged")
    expect(page.get_by_text("The first milestone, Milestone 1: $3,300.00")).to_be_visible()
    page.screenshot(path=str(tmp_path / "stale.png"), full_page=True)
    assert sales(gateway) == [] and db.session.scalar(db.select(db.func.count(PaymentAttempt.id))) == 0
    expect(page.get_by_label("Your full name (your signature)")).to_have_value("Carla Client")
    expect(page.get_by_label("I agree to these terms")).not_to_be_checked()

    page.get_by_label("I agree to these terms").check()
    page.get_by_role("button", name="Sign and pay").click()
    expect(page.get_by_text("held in escrow").first).to_be_visible()
    assert [s["minor"] for s in sales(gateway)] == [330000]
    log.assert_clean()
