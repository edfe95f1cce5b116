"""The pages a chargeback shows on: the owner's list, detail, evidence and submit; the webhook log; the
freelancer's and the client's contract pages; the payouts report. Driven through HTTP, as a user would."""
from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest

from directcontracts.models import Journal
from tests.web.builders import approve, contract, funded_contract, post_webhook, request_payment, sale_of

FROZEN = "is reviewing a chargeback"


@pytest.fixture
def hook(app):
    """POST a signed notification the way Braintree does (no CSRF token, no session)."""
    http = app.test_client()

    def post(signed):
        response = post_webhook(http, signed)
        assert response.status_code == 200, response.text
        return response

    return post


def opened(hook, gateway, db, logged_in, visitor, outbox, amounts=("300", "500"), reason="product_not_received"):
    """A funded contract whose payment the client's bank disputes; (contract id, client link, sale)."""
    cid, link = funded_contract(logged_in, visitor, outbox, amounts=amounts)
    sale = sale_of(db)
    hook(gateway.dispute(sale, reason=reason))
    return cid, link, sale


def chargeback_url(logged_in) -> str:
    page = logged_in.get("/admin/chargebacks").text
    return re.search(r'href="(/admin/chargebacks/\d+)"', page).group(1)


def evidence_in_gateway(gateway) -> list[str]:
    with gateway.store.locked() as data:
        return [str(e) for d in data["disputes"].values() for e in d.get("evidence", [])]


# ---- the owner's pages -------------------------------------------------------------

def test_empty_lists_say_so(logged_in):
    page = logged_in.get("/admin/chargebacks")
    assert page.status_code == 200
    assert "No open chargebacks" in page.text and "None yet." in page.text
    assert 'href="/admin/chargebacks"' in page.text and 'href="/admin/webhooks"' in page.text  # the nav
    assert "No notifications yet" in logged_in.get("/admin/webhooks").text


def test_the_owner_sees_an_opened_chargeback_in_the_list_and_its_page(hook, gateway, db, logged_in, visitor,
                                                                       outbox):
    cid, _, sale = opened(hook, gateway, db, logged_in, visitor, outbox)
    listing = logged_in.get("/admin/chargebacks").text
    assert "Open (1)" in listing and "$800.00" in listing and "the work was not delivered" in listing
    page = logged_in.get(chargeback_url(logged_in))
    assert page.status_code == 200
    text = page.text
    assert f'href="/admin/contracts/{cid}"' in text and sale in text and "$800.00" in text
    assert "The client says the work was not delivered" in text and "Reply by" in text
    assert "Open — the bank is reviewing it" in text
    for m in contract(db, cid).milestones:
        assert m.title in text
    assert 'data-testid="evidence-form"' in text and 'for="body"' in text
    assert "dispute" not in re.sub(r"<[^>]+>", " ", text).lower().replace("disputes", "")  # never "dispute"


def test_evidence_reaches_the_bank_and_empty_evidence_is_refused_beside_the_field(hook, gateway, db, logged_in,
                                                                                  visitor, outbox):
    opened(hook, gateway, db, logged_in, visitor, outbox)
    url = chargeback_url(logged_in)
    r = logged_in.post(f"{url}/evidence", {"body": "   "})
    assert r.status_code == 422
    assert 'id="body-error"' in r.text and "Write what the bank should read." in r.text
    r = logged_in.post(f"{url}/evidence", {"body": "x" * 4001})
    assert r.status_code == 422 and "x" * 4001 in r.text  # the text is kept
    r = logged_in.post(f"{url}/evidence", {"body": "Delivered on 3 May; the client said thanks."})
    assert r.status_code == 303
    assert any("Delivered on 3 May" in e for e in evidence_in_gateway(gateway))
    page = logged_in.get(url).text
    assert "Delivered on 3 May; the client said thanks." in page and 'data-testid="finalize-form"' in page


def test_submit_needs_the_tick_then_nothing_more_can_be_added(hook, gateway, db, logged_in, visitor, outbox):
    opened(hook, gateway, db, logged_in, visitor, outbox)
    url = chargeback_url(logged_in)
    assert 'data-testid="finalize-form"' not in logged_in.get(url).text  # nothing to submit yet
    r = logged_in.post(f"{url}/finalize", {"confirmed": "y"})
    assert r.status_code == 409 and "Send at least one piece of evidence first" in r.text
    logged_in.post(f"{url}/evidence", {"body": "The contract and the delivery email."})
    r = logged_in.post(f"{url}/finalize", {})
    assert r.status_code == 422 and "Tick the box" in r.text
    r = logged_in.post(f"{url}/finalize", {"confirmed": "y"})
    assert r.status_code == 303
    page = logged_in.get(url).text
    assert 'data-testid="evidence-form"' not in page and "it takes nothing more" in page
    r = logged_in.post(f"{url}/evidence", {"body": "One more thing I forgot."})
    assert r.status_code == 409
    assert "nothing more can be added" in r.text and "One more thing I forgot." in r.text  # kept to copy


def test_a_closed_chargeback_has_no_form_and_says_why(hook, gateway, db, logged_in, visitor, outbox):
    _, _, sale = opened(hook, gateway, db, logged_in, visitor, outbox)
    url = chargeback_url(logged_in)
    hook(gateway.dispute(sale, "won"))
    page = logged_in.get(url).text
    assert "Won — the freeze is lifted" in page and "closed (won)" in page
    assert 'data-testid="evidence-form"' not in page
    listing = logged_in.get("/admin/chargebacks").text
    assert "No open chargebacks" in listing and "the freeze was lifted" in listing


def test_the_webhook_log_lists_a_check_notification(hook, gateway, logged_in):
    hook(gateway.sample_webhook("check"))
    page = logged_in.get("/admin/webhooks").text
    assert "<code>check</code>" in page and "applied: check answered" in page and "Applied" in page


def test_other_members_get_404_on_every_chargeback_and_webhook_page(hook, gateway, db, logged_in, visitor,
                                                                    outbox, make_member, login_as, app):
    opened(hook, gateway, db, logged_in, visitor, outbox)
    url = chargeback_url(logged_in)
    from tests.conftest import Client

    other = login_as(make_member("pat@example.com", "Pat", owner=False), Client(app.test_client()))
    for path in ("/admin/chargebacks", url, "/admin/webhooks"):
        assert other.get(path).status_code == 404
    for path in (f"{url}/evidence", f"{url}/finalize"):
        assert other.post(path, {"body": "x", "confirmed": "y"}).status_code == 404
    assert evidence_in_gateway(gateway) == []
    assert visitor.get(url).status_code in (302, 303, 404)  # the client has no account at all


# ---- the freelancer's, the client's and the payouts pages ------------------------------

def visible(page_html: str) -> str:
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page_html)))


def totals(page_html: str) -> dict[str, str]:
    """The client's escrow totals as shown."""
    return dict(re.findall(r'data-testid="escrow-(funded|released|refunded|held|charged_back)">([^<]*)<', page_html))


def test_the_freelancer_sees_frozen_milestones_and_the_chargeback_box(hook, gateway, db, logged_in, visitor,
                                                                      outbox):
    cid, _, sale = opened(hook, gateway, db, logged_in, visitor, outbox)
    page = logged_in.get(f"/contracts/{cid}").text
    assert page.count('data-testid="frozen"') == 2
    box = visible(page[page.index('data-testid="chargebacks"'):])
    assert "$800.00 on payment" in box and sale in box and "the client says the work was not delivered" in box
    assert "Open — the bank is reviewing it" in box and "The shop replies by" in box
    hook(gateway.dispute(sale, "won"))
    page = logged_in.get(f"/contracts/{cid}").text
    assert 'data-testid="frozen"' not in page and "Won — the freeze is lifted" in page


def test_the_freelancer_sees_what_was_taken_back_and_what_they_owe(hook, gateway, db, logged_in, visitor, outbox):
    cid, link = funded_contract(logged_in, visitor, outbox, amounts=("300", "500"))
    a, _ = (m.id for m in contract(db, cid).milestones)
    request_payment(logged_in, cid, a)
    approve(visitor, link, a)
    sale = sale_of(db)
    gateway.settle(sale)
    hook(gateway.dispute(sale, "lost"))
    text = visible(logged_in.get(f"/contracts/{cid}").text)
    # Released $300 with its $10.20 fee; all of it taken back (owed); the $500 in escrow went back from escrow.
    for shown in ("Released $300.00", "Fees $10.20", "Received $0.00", "Back to the client from escrow $500.00",
                  "Taken back: you owe the shop $289.80"):
        assert shown in text, shown
    assert "All this release was taken back for the client: you owe the shop $289.80" in text
    assert "Lost — the money went back to the client" in text


def test_the_client_sees_the_freeze_and_what_their_bank_charged_back(hook, gateway, db, logged_in, visitor,
                                                                     outbox):
    cid, link = funded_contract(logged_in, visitor, outbox, amounts=("300", "500"))
    a, _ = (m.id for m in contract(db, cid).milestones)
    request_payment(logged_in, cid, a)
    approve(visitor, link, a)
    sale = sale_of(db)
    gateway.settle(sale)
    hook(gateway.dispute(sale))
    page = visitor.get(link).text
    frozen = visible(page[page.index('data-testid="frozen"'):page.index("</p>", page.index('data-testid="frozen"'))])
    assert "“Milestone 2”: your bank is reviewing a chargeback of the payment for it" in frozen  # not the released one
    assert "your bank is reviewing a chargeback of it" in page  # the payment
    hook(gateway.dispute(sale, "lost"))
    page = visitor.get(link).text
    assert 'data-testid="frozen"' not in page and "Charged back by your bank" in page
    assert totals(page) == {"funded": "$800.00", "released": "$0.00", "refunded": "$0.00", "held": "$0.00",
                            "charged_back": "$800.00"}


def test_the_client_sees_a_payment_that_did_not_go_through(hook, gateway, db, logged_in, visitor, outbox):
    cid, link = funded_contract(logged_in, visitor, outbox, amounts=("300", "500"))
    sale = sale_of(db)
    gateway.decline_settlement(sale)
    hook(gateway.sample_webhook("transaction_settlement_declined", sale))
    text = visible(visitor.get(link).text)
    assert "Did not go through — nothing was taken" in text
    assert f"Your payment of $800.00 ({sale}) did not go through after all" in text
    assert totals(visitor.get(link).text) == {"funded": "$0.00", "released": "$0.00", "refunded": "$0.00", "held": "$0.00"}


def test_payouts_show_what_was_taken_back_and_a_member_who_owes(hook, gateway, db, logged_in, visitor, outbox):
    cid, link = funded_contract(logged_in, visitor, outbox, amounts=("300", "500"))
    a, _ = (m.id for m in contract(db, cid).milestones)
    request_payment(logged_in, cid, a)
    approve(visitor, link, a)
    sale = sale_of(db)
    gateway.settle(sale)
    hook(gateway.dispute(sale, "accepted"))
    page = logged_in.get("/admin/payouts").text
    assert "Taken back" in page and ">$289.80<" in page and ">$0.00</strong>" in page
    # the take-back lands in the month after the release: that month the member owes the shop
    journal = db.session.scalar(db.select(Journal).where(Journal.kind == "chargeback"))
    journal.created_at = journal.created_at + timedelta(days=40)
    db.session.commit()
    page = logged_in.get("/admin/payouts").text
    assert "owes $289.80" in page and "-$289.80" not in page
