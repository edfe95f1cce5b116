"""A contract whose money went every way, driven over HTTP: for the client's money view (web and browser tests)."""
from __future__ import annotations

import re

from directcontracts.payments.testgateway import REFUND_UNREACHABLE
from tests.conftest import sales
from tests.web.builders import approve, contract, fund, request_payment, sent_contract, verify
from tests.web.refund_steps import refund_with_fault

AMOUNTS = ("1000", "3500", "500", "300", "150")


def every_way(member, visitor, outbox, db, gateway) -> tuple[int, str]:
    """Five milestones: a declined card, then $1,000.00 by Visa and $4,450.00 by PayPal (both settled);
    Milestone 1 released, 2 refunded, 3 split in a dispute ($200.00 released, $300.00 refunded),
    4 in escrow, 5's refund being confirmed (the gateway did not answer). Returns (id, client link)."""
    cid, link = sent_contract(member, outbox, amounts=AMOUNTS)
    verify(visitor, link, outbox)
    assert fund(visitor, link, nonce="fake-processor-declined-visa-nonce").status_code == 422
    assert fund(visitor, link, nonce="fake-valid-visa-nonce").status_code == 303
    assert fund(visitor, link, choice="all", nonce="fake-paypal-one-time-nonce").status_code == 303
    for sale in sales(gateway):
        if sale["status"] == "submitted_for_settlement":
            gateway.settle(sale["id"])
    m1, m2, m3, _, m5 = (m.id for m in sorted(contract(db, cid).milestones, key=lambda m: m.position))
    request_payment(member, cid, m1)
    approve(visitor, link, m1)
    r = member.post(f"/contracts/{cid}/milestones/{m2}/refund", {"reason": "Not needed after all."})
    assert r.status_code == 303, r.text
    r = visitor.post(f"{link}/milestones/{m3}/dispute", {"reason": "not_as_agreed", "statement": "Half done."})
    assert r.status_code == 303, r.text
    did = re.search(rf'href="{re.escape(link)}/disputes/(\d+)"', visitor.get(link).text).group(1)
    assert member.post(f"/contracts/{cid}/disputes/{did}/offer", {"release": "200"}).status_code == 303
    r = visitor.post(f"{link}/disputes/{did}/accept", {"shown_release_minor": "20000", "confirmed": "y"})
    assert r.status_code == 303, r.text
    refund_with_fault(member, gateway, cid, m5, REFUND_UNREACHABLE)
    return cid, link
