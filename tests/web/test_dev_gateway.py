"""The test payment processor panel (``/dev/gateway``): the owner plays the gateway's side in the demo —
settle, decline settling, open a chargeback and give the bank's decision — and the app hears of each through
the same signed-webhook path as from Braintree. Driven through HTTP, as the demo user would."""
from __future__ import annotations

import html
import re

from directcontracts.models import PaymentAttempt, WebhookNotification
from directcontracts.services import ledger
from tests.conftest import sales
from tests.web.builders import approve, contract, funded_contract, request_payment, sale_of
from tests.web.refund_steps import credits, refunds

PANEL = "/dev/gateway"


def act(client, sale, action, **form):
    """Press a button of the panel: a plain POST, then the 303 back to the panel, followed."""
    r = client.post(f"{PANEL}/{sale}", {"action": action, **form})
    assert r.status_code == 303 and r.location.endswith(PANEL), r.text
    page = client.get(r.location)
    assert page.status_code == 200
    return html.unescape(page.text)


def flash_of(page: str) -> str:
    """The newest flash on the page (earlier steps' flashes, never shown, come first)."""
    return re.sub(r"\s+", " ", re.findall(r'<p class="flash \w+">(.*?)</p>', page, re.S)[-1])


def states(db, cid) -> list[str]:
    return [m.state for m in contract(db, cid).milestones]


def test_an_empty_panel_says_so_and_the_owner_has_the_link(logged_in):
    page = logged_in.get(PANEL)
    assert page.status_code == 200
    assert "This panel plays the payment processor's side in test mode" in page.text
    assert "No sales yet" in page.text
    assert 'href="/dev/gateway">Test processor</a>' in logged_in.get("/contracts").text


def test_the_panel_lists_a_funded_contracts_sale_with_its_forms(logged_in, visitor, outbox, db, gateway):
    cid, _ = funded_contract(logged_in, visitor, outbox, amounts=("300", "500"))
    sale, order_id = sale_of(db), db.session.scalar(db.select(PaymentAttempt.id))
    page = html.unescape(logged_in.get(PANEL).text)
    assert page.count('data-testid="gateway-sale"') == 1
    for text in ("$800.00", sale, order_id, "submitted for settlement", "Website redesign",
                 f'href="/admin/contracts/{cid}"', "Settle now", "Decline settlement", "Open a chargeback",
                 'name="csrf_token"'):
        assert text in page, text
    assert "Bank decides" not in page
    # Every input has its label; the bank's reasons are the five the brief names.
    assert f'<label for="reason-{sale}">' in page and f'id="reason-{sale}"' in page
    assert re.findall(r'<option value="(\w+)"', page) == ["fraud", "product_not_received",
                                                          "product_unsatisfactory", "not_recognized", "duplicate"]


def test_settle_now_issues_the_queued_refund(logged_in, visitor, outbox, db, gateway):
    cid, link = funded_contract(logged_in, visitor, outbox, amounts=("300", "500"), choice="all")
    a, b = (m.id for m in contract(db, cid).milestones)
    request_payment(logged_in, cid, a)
    approve(visitor, link, a)
    logged_in.post(f"/contracts/{cid}/milestones/{b}/refund", {"reason": "Not needed any more."})
    assert [r.status for r in refunds(db)] == ["queued"] and not credits(gateway)
    sale = sale_of(db)

    page = act(logged_in, sale, "settle")
    assert flash_of(page) == (f"The processor settled sale {sale}; the notification was applied: settled, "
                              "1 queued refund(s) issued.")
    assert sales(gateway)[0]["status"] == "settled" and [c["minor"] for c in credits(gateway)] == [50000]
    assert [r.status for r in refunds(db)] == ["succeeded"] and states(db, cid) == ["released", "refunded"]
    assert "Settle now" not in page and "Open a chargeback" in page  # a settled sale can still be disputed
    assert ledger.check() == []


def test_decline_settlement_puts_the_milestones_back_to_awaiting_funding(logged_in, visitor, outbox, db,
                                                                          gateway):
    cid, link = funded_contract(logged_in, visitor, outbox, amounts=("300", "500"))
    sale = sale_of(db)
    page = act(logged_in, sale, "decline")
    assert flash_of(page).startswith(f"The processor declined to settle sale {sale}; the notification was "
                                     "applied: settlement declined")
    assert sales(gateway)[0]["status"] == "settlement_declined"
    assert states(db, cid) == ["pending", "pending"]
    assert "did not go through" in visitor.get(link).text
    assert "Settle now" not in page and "Open a chargeback" not in page
    assert "Nothing more the processor would do to this sale." in page
    assert ledger.check() == []


def test_a_chargeback_opened_then_lost_charges_the_milestones_back(logged_in, visitor, outbox, db, gateway):
    cid, _ = funded_contract(logged_in, visitor, outbox, amounts=("300", "500"))
    sale = sale_of(db)
    page = act(logged_in, sale, "open", reason="product_not_received")
    assert flash_of(page).startswith(f"The processor opened a chargeback (the client says the work was not "
                                     f"delivered) on sale {sale}; the notification was applied: opened")
    assert "Bank decides: won" in page and "Bank decides: lost" in page and "Bank decides: accepted" in page
    assert "Open a chargeback" not in page and "Settle now" not in page
    assert "open" in re.search(r'data-testid="sale-chargeback">(.*?)</dd>', page, re.S).group(1)

    page = act(logged_in, sale, "lost")
    assert flash_of(page).startswith(f"The processor passed on the bank's decision (lost) on the chargeback of "
                                     f"sale {sale}; the notification was applied: lost")
    assert states(db, cid) == ["charged_back", "charged_back"]
    assert "Bank decides" not in page
    kinds = [n.kind for n in db.session.scalars(db.select(WebhookNotification).order_by(WebhookNotification.id))]
    assert kinds == ["dispute_opened", "dispute_lost"]
    assert ledger.check() == []


def test_an_action_the_sale_no_longer_allows_is_refused_in_words(logged_in, visitor, outbox, db, gateway):
    funded_contract(logged_in, visitor, outbox, amounts=("300",))
    sale = sale_of(db)
    act(logged_in, sale, "settle")
    page = act(logged_in, sale, "settle")  # pressed again from a stale page
    assert flash_of(page) == f"The processor cannot do that to sale {sale} now (it is settled)."
    assert act(logged_in, sale, "lost").count("cannot do that") == 1  # no chargeback open
    assert "choose the bank's reason" in act(logged_in, sale, "open", reason="bogus").lower()
    assert logged_in.post(f"{PANEL}/no-such-sale", {"action": "settle"}).status_code == 404
    assert db.session.scalar(db.select(db.func.count(WebhookNotification.id))) == 1


def test_a_member_who_is_not_the_owner_gets_404_and_no_link(logged_in, make_member, login_as, visitor):
    other = login_as(make_member("sam@example.com", "Sam Second"), visitor)
    assert other.get(PANEL).status_code == 404
    assert other.post(f"{PANEL}/anything", {"action": "settle"}).status_code == 404
    assert "Test processor" not in other.get("/contracts").text and "Inbox" in other.get("/contracts").text


def test_a_visitor_is_sent_to_log_in(client, member):
    r = client.get(PANEL)
    assert r.status_code in (302, 303) and "/login" in r.location
