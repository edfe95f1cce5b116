"""Chargebacks in a real browser at 390 px and 1280 px: the owner's chargeback page (send evidence), the
freelancer's contract with a frozen milestone, and the client's page during and after a chargeback. No
sideways scroll, every field labelled. Set CHARGEBACK_SHOTS to a directory to save full-page screenshots."""
from __future__ import annotations

import os

import pytest

from directcontracts.models import Contract, PaymentAttempt
from directcontracts.services import client_access
from tests.browser.conftest import DESKTOP, PHONE, expect, log_in
from tests.web.builders import approve, funded_contract, request_payment

pytestmark = pytest.mark.browser

SHOTS = os.environ.get("CHARGEBACK_SHOTS")


def fits(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


def unlabelled(page) -> list[str]:
    """The visible form fields without a <label> (or an aria-label)."""
    return page.evaluate("""[...document.querySelectorAll('input, textarea, select')]
        .filter(e => e.type !== 'hidden' && !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
        .map(e => e.outerHTML)""")


def check(page, name: str, shot: str, *parts: str) -> None:
    """No sideways scroll, every field labelled; with CHARGEBACK_SHOTS, the page and ``parts`` (CSS) shot."""
    assert fits(page), f"{shot} scrolls sideways at {name}"
    assert unlabelled(page) == [], f"{shot}: fields without a label"
    if SHOTS:
        page.screenshot(path=os.path.join(SHOTS, f"{shot}-{name}.png"), full_page=True)
        for i, css in enumerate(parts):
            page.locator(css).first.screenshot(path=os.path.join(SHOTS, f"{shot}-{name}-{i}.png"))


@pytest.mark.parametrize("name, viewport", [("phone", PHONE), ("desktop", DESKTOP)])
def test_chargeback_pages_read_on_a_phone_and_a_desktop(name, viewport, new_page, live_server, app, logged_in, member, visitor,
                                                        outbox, db, gateway):
    cid, link = funded_contract(logged_in, visitor, outbox, amounts=("300", "500"))
    first = min(contract_milestones(db, cid))
    request_payment(logged_in, cid, first)
    approve(visitor, link, first)  # $300 released, $500 still in escrow
    sale = db.session.scalar(db.select(PaymentAttempt.transaction_id))
    gateway.settle(sale)
    hook = app.test_client()

    def notify(status):
        signature, payload = gateway.dispute(sale, status, reason="product_unsatisfactory")
        assert hook.post("/webhooks/braintree", data={"bt_signature": signature,
                                                      "bt_payload": payload}).status_code == 200

    notify("open")
    page, log = new_page(viewport=viewport)
    log_in(page, member.email)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Chargebacks").click()
    expect(page.get_by_role("heading", name="Chargebacks", level=1)).to_be_visible()
    check(page, name, "chargebacks")
    page.get_by_test_id("chargeback-row").get_by_role("link").click()
    expect(page.get_by_test_id("chargeback-reason")).to_have_text("The client says the work was not as described")
    page.get_by_label("Evidence for the bank").fill("The client approved the designs on 3 May (message attached).")
    page.get_by_role("button", name="Send to the bank").click()
    expect(page.get_by_test_id("evidence-sent")).to_contain_text("approved the designs on 3 May")
    expect(page.get_by_role("button", name="Submit evidence to the bank")).to_be_visible()
    check(page, name, "chargeback")

    page.goto(f"/contracts/{cid}")
    expect(page.get_by_test_id("frozen")).to_have_count(1)  # the milestone still in escrow, not the released one
    expect(page.get_by_test_id("chargebacks")).to_contain_text("Open — the bank is reviewing it")
    check(page, name, "freelancer-frozen", "[data-testid=chargebacks]", "#milestone-" + str(first))

    client_page, client_log = new_page(viewport=viewport)
    # The money is shown to a verified device only: this browser is the client's, verified before.
    c = db.session.get(Contract, cid)
    client_page.context.add_cookies([{"name": client_access.device_cookie_name(c),
                                      "value": client_access.device_cookie_value(c), "url": live_server.url}])
    client_page.goto(link)
    expect(client_page.get_by_test_id("frozen")).to_contain_text("“Milestone 2”: your bank is")
    check(client_page, name, "client-frozen", "section[aria-labelledby=escrow-heading]")
    notify("lost")
    client_page.reload()
    expect(client_page.get_by_test_id("escrow-charged_back")).to_have_text("$800.00")
    expect(client_page.get_by_test_id("payment-status")).to_contain_text("Charged back by your bank")
    check(client_page, name, "client-charged-back", "section[aria-labelledby=escrow-heading]",
          "section[aria-labelledby=payments-heading]")
    page.reload()
    expect(page.get_by_test_id("owed")).to_have_text("$289.80")
    check(page, name, "freelancer-owes")
    log.assert_clean()
    client_log.assert_clean()


def contract_milestones(db, cid) -> list[int]:
    from tests.web.builders import contract

    return [m.id for m in contract(db, cid).milestones]
