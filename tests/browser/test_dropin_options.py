"""Drop-in is always given the amount being paid, so PayPal's checkout can start.

Braintree's real Drop-in loads hosted assets this machine cannot reach, so the
vendored file is replaced, in the browser only, by a small fake that records
the options it was created with (and each ``updateConfiguration``) and hands
back a test PayPal nonce. The app runs with a gateway that is not the offline
one, so the page renders Drop-in exactly as it does with Braintree.
"""
from __future__ import annotations

import json
import time

import pytest

from directcontracts.payments.testgateway import TestGateway
from tests.browser.conftest import expect
from tests.conftest import sales
from tests.web.builders import contract, fund, latest_code, link_in, milestone_contract, send, sent_contract, verify

pytestmark = pytest.mark.browser

FAKE_DROPIN = """
window.dropinLog = {options: null, updates: []};
window.braintree = {dropin: {create: function (options, done) {
  window.dropinLog.options = JSON.parse(JSON.stringify({paypal: options.paypal,
                                                        authorization: options.authorization}));
  done(null, {
    updateConfiguration: function (kind, key, value) { window.dropinLog.updates.push([kind, key, value]); },
    // like the real one, it answers later (after the PayPal window), never inside the submit event
    requestPaymentMethod: function (cb) {
      setTimeout(function () { cb(null, {nonce: "fake-paypal-one-time-nonce"}); }, 50);
    }
  });
}}};
"""


class DropinGateway(TestGateway):
    """The offline gateway's sandbox rules, presented as Braintree: the page shows Drop-in."""

    name = "braintree"

    def client_token(self, currency: str) -> str:
        return "fake-client-token-" + currency


@pytest.fixture
def dropin_app(app, gateway):
    gw = DropinGateway()
    app.extensions["gateway"] = gw
    yield gw
    app.extensions["gateway"] = gateway


def open_fund_page(new_page, live_server, client, link, outbox):
    """The client's browser on the fund page, verified, with the fake Drop-in in place."""
    page, log = new_page()
    page.route("**/vendor/braintree-web-drop-in-*.js?v=*",
               lambda route: route.fulfill(body=FAKE_DROPIN, content_type="application/javascript"))
    page.goto(live_server(f"{link}/verify?next=fund"))
    page.get_by_role("button", name="Email me a code").click()
    page.get_by_label("6-digit code").fill(latest_code(outbox))
    page.get_by_role("button", name="Confirm").click()  # verified, it goes on to the fund page
    # Polled with evaluate: wait_for_function evaluates a string, which the page's CSP (no eval) refuses.
    deadline = time.monotonic() + 10
    while not page.evaluate("() => Boolean(window.dropinLog && window.dropinLog.options)"):
        assert time.monotonic() < deadline, "Drop-in was never created"
        page.wait_for_timeout(50)
    return page, log


def options(page) -> dict:
    return json.loads(page.evaluate("JSON.stringify(window.dropinLog)"))


def test_one_amount_gives_paypal_its_amount_and_pays(new_page, live_server, logged_in, outbox, db, dropin_app):
    cid, link = sent_contract(logged_in, outbox, amounts=("400",))
    page, log = open_fund_page(new_page, live_server, logged_in, link, outbox)
    recorded = options(page)
    assert recorded["options"]["paypal"] == {"flow": "checkout", "amount": "400.00", "currency": "USD"}
    assert recorded["options"]["authorization"] == "fake-client-token-USD"

    page.get_by_label("Your full name (your signature)").fill("Carla Client")
    page.get_by_label("I agree to these terms").check()
    page.get_by_role("button", name="Sign and pay").click()
    expect(page.get_by_text("held in escrow")).to_be_visible()
    assert [(s["minor"], s["instrument"]) for s in sales(dropin_app)] == [(40000, "paypal_account")]
    assert contract(db, cid).milestones[0].state == "funded"
    log.assert_clean()


def test_several_milestones_follow_the_choice(new_page, live_server, logged_in, outbox, db, dropin_app):
    cid, link = sent_contract(logged_in, outbox, amounts=("400", "150.50", "70"))
    page, log = open_fund_page(new_page, live_server, logged_in, link, outbox)
    assert options(page)["options"]["paypal"]["amount"] == "400.00"
    page.get_by_label("All 3 milestones at once").check()
    page.get_by_label("The first milestone").check()
    page.get_by_label("All 3 milestones at once").check()
    assert options(page)["updates"] == [["paypal", "amount", "620.50"], ["paypal", "amount", "400.00"],
                                        ["paypal", "amount", "620.50"]]
    log.assert_clean()


def test_the_last_milestone_left_gives_paypal_its_amount(new_page, live_server, logged_in, visitor, outbox, db,
                                                         dropin_app):
    cid = milestone_contract(logged_in, amounts=("400", "250"))
    send(logged_in, cid)
    link = link_in(outbox()[-1].body_text)
    verify(visitor, link, outbox)
    assert fund(visitor, link, choice="first", nonce="fake-valid-nonce").status_code == 303
    page, log = open_fund_page(new_page, live_server, logged_in, link, outbox)
    assert options(page)["options"]["paypal"] == {"flow": "checkout", "amount": "250.00", "currency": "USD"}
    page.get_by_role("button", name="Pay").click()
    expect(page.get_by_text("held in escrow")).to_be_visible()
    assert [m.state for m in contract(db, cid).milestones] == ["funded", "funded"]
    log.assert_clean()
