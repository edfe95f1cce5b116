"""Amounts as large as the shop's limits allow: stored, shown and funded without a 500.

Amount columns are 64-bit (BIGINT) minor units; the owner's settings refuse a
maximum whose fullest contract (every milestone at the maximum) would not fit.
These run on SQLite and, with TEST_DATABASE_URL, on PostgreSQL, where a
32-bit column overflowed.

The offline test gateway approves any amount outside Braintree's sandbox test
ranges (2000.00–2999.99, 3000.00–3000.99, 5001.00, 5001.01), so these huge
totals are approved as a real Braintree merchant account would approve them
if its transaction limit allows (a lower limit is the gateway's refusal, shown
to the client as a failed payment, never a 500).
"""
from decimal import Decimal

import pytest

from directcontracts.domain.terms import MAX_MINOR, Limits, largest_max_amount
from directcontracts.models import PaymentAttempt, ShopSettings
from directcontracts.services import ledger
from tests.conftest import sales
from tests.web.builders import add_milestone, contract, create_draft, fund, link_in, save_terms, send, verify

MAX_MILESTONES = Limits.max_milestones


def set_limits(client, max_amount, min_amount="5", expect=303):
    r = client.post("/admin/settings", {"shop_name": "Shop", "fee_percent": "3.4", "min_amount": min_amount,
                                        "max_amount": max_amount, "auto_release_days": "14"})
    assert r.status_code == expect, r.text
    return r


def sent_contract_of(client, outbox, amounts) -> tuple[int, str]:
    cid = create_draft(client)
    save_terms(client, cid)
    for n, amount in enumerate(amounts, 1):
        add_milestone(client, cid, f"Milestone {n}", amount)
    send(client, cid)
    return cid, link_in(outbox()[-1].body_text)


def fund_all(visitor, link, outbox):
    verify(visitor, link, outbox)
    r = fund(visitor, link, choice="all")
    assert r.status_code == 303, r.text
    assert visitor.get(r.location).status_code == 200  # the receipt


def assert_funded(db, gateway, cid, total_minor):
    c = contract(db, cid)
    assert c.state == "active"
    assert {m.state for m in c.milestones} == {"funded"}
    attempt = db.session.scalar(db.select(PaymentAttempt))
    assert (attempt.status, attempt.amount_minor) == ("succeeded", total_minor)
    assert [s["minor"] for s in sales(gateway)] == [total_minor]
    assert ledger.contract_money([c])[cid].in_escrow.minor == total_minor
    assert ledger.check() == []


def test_fund_all_of_the_fullest_contract_the_default_limits_allow(logged_in, visitor, outbox, db, gateway):
    """50 milestones of $1,000,000.00 (the default maximum) funded at once: $50M, over 2^31 cents."""
    cid, link = sent_contract_of(logged_in, outbox, ["1,000,000.00"] * MAX_MILESTONES)
    fund_all(visitor, link, outbox)
    total = MAX_MILESTONES * 1_000_000 * 100
    assert total > 2**31
    assert_funded(db, gateway, cid, total)
    assert "$50,000,000.00" in logged_in.get(f"/contracts/{cid}").text
    assert "$50,000,000.00" in logged_in.get("/contracts").text


def test_fund_all_at_the_largest_maximum_the_columns_hold(logged_in, visitor, outbox, db, gateway):
    """The owner's largest accepted maximum, on every milestone, funded at once, fits a BIGINT."""
    largest = largest_max_amount()
    set_limits(logged_in, f"{largest}")
    assert db.session.get(ShopSettings, 1).max_amount == largest
    cid, link = sent_contract_of(logged_in, outbox, [f"{largest}"] * MAX_MILESTONES)
    fund_all(visitor, link, outbox)
    total = MAX_MILESTONES * int(largest) * 100
    # the limit is set for the currency with most decimals (KWD, three): there it nearly fills a BIGINT
    assert 2**62 < total * 10 <= MAX_MINOR
    assert_funded(db, gateway, cid, total)
    for page in (f"/contracts/{cid}", "/contracts", "/admin/settings", "/admin/payouts"):
        assert logged_in.get(page).status_code == 200, page


def test_owner_maximum_of_100_billion_works_everywhere(logged_in, visitor, outbox, db, gateway):
    set_limits(logged_in, "100,000,000,000")
    db.session.expire_all()
    assert db.session.get(ShopSettings, 1).max_amount == Decimal("100000000000")
    page = logged_in.get("/admin/settings")
    assert page.status_code == 200 and 'value="100000000000"' in page.text

    # the builder: a single amount at the maximum previews and saves; one cent more is refused
    cid = create_draft(logged_in)
    preview = logged_in.post(f"/contracts/{cid}/terms/preview", {"amount": "100,000,000,000"}, htmx=True)
    assert preview.status_code == 200 and "$100,000,000,000.00" in preview.text
    save_terms(logged_in, cid, kind="single", amount="100000000000.01", expect=422)
    save_terms(logged_in, cid, kind="single", amount="100000000000")
    assert contract(db, cid).milestones[0].amount_minor == 100_000_000_000 * 100
    assert "$100,000,000,000.00" in logged_in.get(f"/contracts/{cid}/review").text

    # milestones at the maximum, funded together
    cid, link = sent_contract_of(logged_in, outbox, ["100000000000"] * 3)
    refused = add_milestone(logged_in, create_draft(logged_in), "Too much", "100000000000.01", expect=422)
    assert "The maximum is $100,000,000,000.00." in refused.text
    fund_all(visitor, link, outbox)
    assert_funded(db, gateway, cid, 3 * 100_000_000_000 * 100)


@pytest.mark.parametrize("max_amount", [
    str(largest_max_amount() + 1),
    "100000000000000000000",  # would not even fit the settings column
])
def test_owner_maximum_that_could_overflow_is_refused(logged_in, db, max_amount):
    r = set_limits(logged_in, max_amount, expect=422)
    largest = f"{largest_max_amount():,}"
    assert f"Enter a maximum of at most {largest}" in r.text
    assert f"{MAX_MILESTONES} milestones at the maximum must fit" in r.text
    db.session.expire_all()
    assert ShopSettings.get().max_amount == Decimal("1000000")  # unchanged


@pytest.mark.parametrize("max_amount", ["1e30", "\u0661\u0660\u0660\u0660", "1,0,0,0"])
def test_owner_maximum_not_written_as_a_plain_number_is_refused(logged_in, db, max_amount):
    r = set_limits(logged_in, max_amount, expect=422)
    assert "Enter the maximum as a number, like 1000000." in r.text
    db.session.expire_all()
    assert ShopSettings.get().max_amount == Decimal("1000000")  # unchanged


def test_owner_minimum_that_could_overflow_is_refused(logged_in, db):
    huge = str(largest_max_amount() * 10)
    r = set_limits(logged_in, huge, min_amount=huge, expect=422)
    assert "Enter a minimum of at most" in r.text and "Enter a maximum of at most" in r.text
    db.session.expire_all()
    assert ShopSettings.get().min_amount == Decimal("5")
