"""The client's contract page explains every cent: their payments, and each milestone's money (over HTTP)."""
from __future__ import annotations

import html
import re
from datetime import timedelta

from directcontracts.models import PaymentAttempt, Refund, utcnow
from directcontracts.payments.testgateway import REFUND_UNREACHABLE
from tests.conftest import sales
from tests.web.builders import approve, contract, fund, funded_contract, request_payment, sent_contract, verify
from tests.web.refund_steps import refund_with_fault


def visible(page_html: str) -> str:
    """The page's text as read on screen: no tags (so no link targets), entities decoded, spaces squeezed."""
    text = re.sub(r"<script.*?</script>|<[^>]+>", " ", page_html, flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(text))


def section(page_html: str, heading_id: str) -> str:
    """The visible text of the page's section labelled by ``heading_id``."""
    start = page_html.index(f'aria-labelledby="{heading_id}"')
    return visible(page_html[start:page_html.index("</section>", start)])


def rows(page_html: str, heading_id: str) -> list[str]:
    """The visible text of each body row of that section's table."""
    start = page_html.index(f'aria-labelledby="{heading_id}"')
    part = page_html[start:page_html.index("</section>", start)]
    body = part[part.index("<tbody>"):part.index("</tbody>")]
    return [visible(r).strip() for r in re.findall(r"<tr.*?</tr>", body, flags=re.S)]


def totals(page_html: str) -> dict[str, str]:
    return dict(re.findall(r'data-testid="escrow-(funded|released|refunded|held)">([^<]*)<', page_html))


def cents(text: str) -> int:
    return int(text.replace("$", "").replace(",", "").replace(".", ""))


def no_internal_ids(db, page_html: str) -> None:
    db.session.expire_all()
    text = visible(page_html)
    for attempt_id in db.session.scalars(db.select(PaymentAttempt.id)):
        assert attempt_id not in text
    for refund_id in db.session.scalars(db.select(Refund.id)):
        assert not re.search(rf"(?i)\brefund #?{refund_id}\b", text)
    money = section(page_html, "escrow-heading") + section(page_html, "payments-heading")
    assert "order" not in money.lower() and "attempt" not in money.lower()


def test_release_refund_split_and_escrow_add_up(logged_in, visitor, outbox, db, gateway):
    """$1,000 released, $2,000 refunded, $500 split $200/$300 in a dispute, $300 still in escrow."""
    cid, link = funded_contract(logged_in, visitor, outbox, amounts=("1000", "2000", "500", "300"))
    [sale] = sales(gateway)
    gateway.settle(sale["id"])  # settled, so parts of it can be refunded
    m1, m2, m3, m4 = (m.id for m in sorted(contract(db, cid).milestones, key=lambda m: m.position))
    request_payment(logged_in, cid, m1)
    approve(visitor, link, m1)
    r = logged_in.post(f"/contracts/{cid}/milestones/{m2}/refund", {"reason": "Not needed after all."})
    assert r.status_code == 303, r.text
    r = visitor.post(f"{link}/milestones/{m3}/dispute", {"reason": "not_as_agreed", "statement": "Half done."})
    assert r.status_code == 303, r.text
    dispute_page = visitor.get(link).text
    dispute_url = re.search(rf'href="({re.escape(link)}/disputes/\d+)"', dispute_page).group(1)
    did = dispute_url.rsplit("/", 1)[1]
    assert logged_in.post(f"/contracts/{cid}/disputes/{did}/offer", {"release": "200"}).status_code == 303
    assert visitor.post(f"{dispute_url}/accept", {"shown_release_minor": "20000", "confirmed": "y"}).status_code == 303

    page = visitor.get(link).text
    assert rows(page, "escrow-heading") == [
        "Milestone 1 Released $1,000.00 $1,000.00 $0.00 $0.00",
        "Milestone 2 Refunded $2,000.00 $0.00 $2,000.00 $0.00",
        "Milestone 3 Settled (split) $500.00 $200.00 $300.00 $0.00",
        "Milestone 4 Funded $300.00 $0.00 $0.00 $300.00",
    ]
    shown = totals(page)
    assert shown == {"funded": "$3,800.00", "released": "$1,200.00", "refunded": "$2,300.00", "held": "$300.00"}
    assert cents(shown["funded"]) == cents(shown["released"]) + cents(shown["refunded"]) + cents(shown["held"])
    for row in rows(page, "escrow-heading"):  # and on every row
        funded, released, refunded, held = (cents(a) for a in re.findall(r"\$[\d,]+\.\d\d", row))
        assert funded == released + refunded + held

    [payment] = rows(page, "payments-heading")
    assert "$3,800.00" in payment and "Visa ending in 1881" in payment and sale["id"] in payment
    assert "Milestone 1: $1,000.00 Milestone 2: $2,000.00 Milestone 3: $500.00 Milestone 4: $300.00" in payment
    assert "Confirmed" in payment and "Receipt" in payment
    attempt = db.session.scalar(db.select(PaymentAttempt))
    assert f'href="{link}/payments/{attempt.id}"' in page or f"/payments/{attempt.id}" in page
    no_internal_ids(db, page)


def test_each_payment_with_its_method_reference_and_status(logged_in, visitor, outbox, db, gateway):
    cid, link = sent_contract(logged_in, outbox, amounts=("1000", "500"))
    verify(visitor, link, outbox)
    assert fund(visitor, link, nonce="fake-processor-declined-visa-nonce").status_code == 422  # the form says why
    assert fund(visitor, link, nonce="fake-paypal-one-time-nonce").status_code == 303
    assert fund(visitor, link, nonce="fake-timeout-nonce").status_code == 303  # the answer is lost: unknown
    page = visitor.get(link).text
    confirming, paypal, declined = rows(page, "payments-heading")
    assert "$500.00" in confirming and "Being confirmed" in confirming and "Milestone 2: $500.00" in confirming
    assert "$1,000.00" in paypal and "PayPal (jane.doe@paypal.com)" in paypal and "Confirmed" in paypal
    assert any(s["id"] in paypal for s in sales(gateway)), (paypal, sales(gateway))
    assert "$1,000.00" in declined and "Declined — nothing was taken" in declined and "Milestone 1" in declined
    assert "Visa ending in 1115" in declined  # the declined test card, as the gateway named it
    assert re.search(r"[A-Z][a-z]{2} \d{1,2}, \d{4} \d{1,2}:\d\d [AP]M UTC", declined)  # the date, unambiguous
    assert totals(page) == {"funded": "$1,000.00", "released": "$0.00", "refunded": "$0.00", "held": "$1,000.00"}
    no_internal_ids(db, page)


def test_a_payment_given_back_says_so(logged_in, visitor, outbox, db, gateway, runner):
    cid, link = sent_contract(logged_in, outbox)
    verify(visitor, link, outbox)
    fund(visitor, link, nonce="fake-timeout-nonce")
    c = contract(db, cid)
    c.state = "ended"  # however it got there, it can no longer take money
    db.session.commit()
    runner.invoke(args=["payments", "reconcile"])
    page = visitor.get(link).text
    [row] = rows(page, "payments-heading")
    assert "Given back — cancelled before it settled: you are not charged" in row and "$1,000.00" in row
    assert sales(gateway)[0]["id"] in row
    assert totals(page) == {"funded": "$0.00", "released": "$0.00", "refunded": "$0.00", "held": "$0.00"}
    no_internal_ids(db, page)


def test_a_refund_being_confirmed_stays_in_escrow_until_it_is(logged_in, visitor, outbox, db, gateway):
    cid, link = funded_contract(logged_in, visitor, outbox, amounts=("300", "500"))
    gateway.settle(sales(gateway)[0]["id"])
    a, _ = (m.id for m in sorted(contract(db, cid).milestones, key=lambda m: m.position))
    refund_with_fault(logged_in, gateway, cid, a, REFUND_UNREACHABLE)
    page = visitor.get(link).text
    first, second = rows(page, "escrow-heading")
    assert first == "Milestone 1 Refund of $300.00 being confirmed $300.00 $0.00 $0.00 $300.00"
    assert second == "Milestone 2 Funded $500.00 $0.00 $0.00 $500.00"
    assert totals(page) == {"funded": "$800.00", "released": "$0.00", "refunded": "$0.00", "held": "$800.00"}
    assert 'data-testid="escrow-refunding"' in page and "A refund of $300.00 to you is being confirmed" in page
    no_internal_ids(db, page)
    # the gateway comes back and has no such refund: it was never made, the money is plainly in escrow again
    from directcontracts.services import refunds
    refunds.reconcile(utcnow() + timedelta(hours=1))
    page = visitor.get(link).text
    assert rows(page, "escrow-heading")[0] == "Milestone 1 Funded $300.00 $0.00 $0.00 $300.00"
    assert 'data-testid="escrow-refunding"' not in page and totals(page)["held"] == "$800.00"


def test_a_contract_whose_money_went_every_way(logged_in, visitor, outbox, db, gateway):
    from tests.web.money_steps import every_way
    cid, link = every_way(logged_in, visitor, outbox, db, gateway)
    page = visitor.get(link).text
    assert rows(page, "escrow-heading") == [
        "Milestone 1 Released $1,000.00 $1,000.00 $0.00 $0.00",
        "Milestone 2 Refunded $3,500.00 $0.00 $3,500.00 $0.00",
        "Milestone 3 Settled (split) $500.00 $200.00 $300.00 $0.00",
        "Milestone 4 Funded $300.00 $0.00 $0.00 $300.00",
        "Milestone 5 Refund of $150.00 being confirmed $150.00 $0.00 $0.00 $150.00",
    ]
    shown = totals(page)
    assert shown == {"funded": "$5,450.00", "released": "$1,200.00", "refunded": "$3,800.00", "held": "$450.00"}
    assert cents(shown["funded"]) == cents(shown["released"]) + cents(shown["refunded"]) + cents(shown["held"])
    paypal, visa, declined = rows(page, "payments-heading")
    assert "$4,450.00" in paypal and "PayPal (jane.doe@paypal.com)" in paypal and "Confirmed" in paypal
    assert "Milestone 2: $3,500.00 Milestone 3: $500.00 Milestone 4: $300.00 Milestone 5: $150.00" in paypal
    assert "$1,000.00" in visa and "Visa ending in 1111" in visa and "Milestone 1: $1,000.00" in visa
    assert "Declined — nothing was taken" in declined
    references = {s["id"] for s in sales(gateway)}
    assert all(any(ref in row for ref in references) for row in (paypal, visa, declined))
    no_internal_ids(db, page)


def test_charged_back_money_has_its_own_column_and_every_row_still_adds_up(logged_in, visitor, outbox, db, gateway,
                                                                            app):
    """A lost chargeback of a $300 + $500 payment, after $300 was released: each row and the totals read
    funded = released + refunded + in escrow + charged back."""
    cid, link = funded_contract(logged_in, visitor, outbox, amounts=("300", "500"))
    m1, _ = (m.id for m in sorted(contract(db, cid).milestones, key=lambda m: m.position))
    request_payment(logged_in, cid, m1)
    approve(visitor, link, m1)
    [sale] = sales(gateway)
    gateway.settle(sale["id"])
    http = app.test_client()
    for status in ("open", "lost"):
        signature, payload = gateway.dispute(sale["id"], status)
        assert http.post("/webhooks/braintree", data={"bt_signature": signature, "bt_payload": payload}).status_code == 200
    page = visitor.get(link).text
    assert "funded = released + refunded + in escrow + charged back" in visible(page)
    for row in rows(page, "escrow-heading"):
        funded, released, refunded, held, charged_back = (cents(a) for a in re.findall(r"\$[\d,]+\.\d\d", row))
        assert funded == released + refunded + held + charged_back
    shown = dict(re.findall(r'data-testid="escrow-(funded|released|refunded|held|charged_back)">([^<]*)<', page))
    assert shown == {"funded": "$800.00", "released": "$0.00", "refunded": "$0.00", "held": "$0.00",
                     "charged_back": "$800.00"}
    [payment] = rows(page, "payments-heading")
    assert "Charged back by your bank" in payment and "$800.00 went back to you" in payment
    no_internal_ids(db, page)
