"""Fixtures for the fault tests: the Braintree stand-in, the app on the real SDK, and the closing proof.

Every fault test ends with ``books_agree_with(standin)``: ``ledger.check()`` is clean, no payment or
refund is left "being confirmed", and each sale the stand-in holds matches the app's books (the
same comparison the suite makes after every test on the offline gateway).
"""
from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from directcontracts.domain.money import precision
from directcontracts.models import PaymentAttempt, Refund
from directcontracts.services import ledger
from tests.conftest import books_disagreements
from tests.payments.conftest import make_adapter, reconcile, standin  # noqa: F401  (fixtures shared here)

#: Past every grace period (10 minutes) a reconciliation waits before it calls a payment not made.
PAST_GRACE_MINUTES = 11


@pytest.fixture
def braintree_app(app, make_adapter):  # noqa: F811
    """The app's gateway is the Braintree adapter on the stand-in (read timeout 1 s) for this test."""
    previous = app.extensions["gateway"]
    app.extensions["gateway"] = make_adapter()
    yield app.extensions["gateway"]
    app.extensions["gateway"] = previous


def standin_sales(server) -> list[dict]:
    """The stand-in's sales, in the shape ``books_disagreements`` reads (amounts in minor units)."""
    with server._lock:
        transactions = list(server.transactions.values())
    out = []
    for sale in (t for t in transactions if t["type"] == "sale"):
        digits = precision(sale["currency_iso_code"])
        refunded = sum(int(Decimal(c["amount"]).scaleb(digits)) for c in transactions
                       if c["type"] == "credit" and c["refunded_transaction_id"] == sale["id"]
                       and c["status"] != "voided")
        out.append({"id": sale["id"], "order_id": sale["order_id"], "status": sale["status"],
                    "minor": int(Decimal(sale["amount"]).scaleb(digits)), "refunded_minor": refunded})
    return out


def books_agree_with(server, db) -> None:
    """The closing proof: a clean ledger, nothing left unknown, and the stand-in's sales in the books."""
    db.session.rollback()
    db.session.expire_all()
    assert ledger.check() == []
    unsettled = db.session.scalars(db.select(PaymentAttempt).where(PaymentAttempt.status.in_(("pending", "unknown"))))
    assert list(unsettled) == [], "a payment is still being confirmed after reconciliation"
    open_refunds = db.session.scalars(db.select(Refund).where(Refund.status.in_(("pending", "unknown"))))
    assert list(open_refunds) == [], "a refund is still being confirmed after reconciliation"
    assert books_disagreements(standin_sales(server)) == []


def reconcile_past_grace(runner, started: datetime) -> str:
    """``payments reconcile --now`` past the grace period counted from ``started``."""
    return reconcile(runner, started + timedelta(minutes=PAST_GRACE_MINUTES))
