"""Issue 13's rough edges, driven over HTTP: the verify page, the Approve round trip, the builder's
live preview, the broken-link page, notifications that name a single amount once, Drop-in's pay button."""
from __future__ import annotations

import re

from directcontracts.models import Milestone, Notification
from tests.conftest import Client
from tests.web.builders import (create_draft, fund, latest_code, request_payment, save_terms, sent_contract,
                                verify)


def test_verify_page_asks_for_a_code_first(visitor, logged_in, outbox):
    cid, link = sent_contract(logged_in, outbox)
    page = visitor.get(f"{link}/verify?next=fund").text
    # the code box is a text box a phone fills from the email
    box = re.search(r'<input[^>]*name="code"[^>]*>', page).group(0)
    for attr in ('type="text"', 'inputmode="numeric"', 'autocomplete="one-time-code"', 'pattern="'):
        assert attr in box
    # before any code: asking for one is the main button, and comes first; Confirm is secondary
    assert re.search(r'<button type="submit">Email me a code</button>', page)
    assert '<button type="submit" class="secondary">Confirm</button>' in page
    assert page.index("Email me a code") < page.index(">Confirm<")
    # a code typed before asking for one: say so (not "expired"), and do not claim one was sent
    r = visitor.post(f"{link}/verify", {"code": "123456", "next": "fund"})
    assert r.status_code == 422 and "Ask for a code first" in r.text and "expired" not in r.text
    assert "We emailed a code" not in r.text
    # once sent, typing it is the main button
    sent = visitor.post(f"{link}/verify/send", {"next": "fund"}).text
    assert "We emailed a code" in sent
    assert '<button type="submit">Confirm</button>' in sent
    assert '<button type="submit" class="secondary">Send a new code</button>' in sent
    wrong = visitor.post(f"{link}/verify", {"code": "000000" if latest_code(outbox) != "000000" else "111111",
                                            "next": "fund"})
    assert wrong.status_code == 422 and "That code is not right" in wrong.text
    assert '<button type="submit">Confirm</button>' in wrong.text


def test_verifying_from_approve_returns_to_approve(app, visitor, logged_in, outbox, db):
    cid, link = sent_contract(logged_in, outbox, amounts=("400",))
    verify(visitor, link, outbox)
    assert fund(visitor, link).status_code == 303
    milestone = db.session.scalar(db.select(Milestone).where(Milestone.contract_id == cid))
    request_payment(logged_in, cid, milestone.id)
    phone = Client(app.test_client())  # another device of the client's, not verified yet
    for path, action in ((f"{link}/milestones/{milestone.id}/approve", "approve"),
                         (f"{link}/milestones/{milestone.id}/changes", "mchanges")):
        r = phone.get(path)
        assert r.status_code == 303 and r.location.endswith(f"/verify?next={action}-{milestone.id}")
        assert f'value="{action}-{milestone.id}"' in phone.get(r.location).text
    phone.post(f"{link}/verify/send", {"next": f"approve-{milestone.id}"})
    done = phone.post(f"{link}/verify", {"code": latest_code(outbox), "next": f"approve-{milestone.id}"})
    # straight back to the Approve page it was going to, not the contract
    assert done.status_code == 303 and done.location.endswith(f"{link}/milestones/{milestone.id}/approve")
    assert "Approve" in phone.get(done.location).text


def test_next_never_leaves_the_contract(visitor, logged_in, outbox):
    cid, link = sent_contract(logged_in, outbox)
    for bad in ("https://evil.example/x", "//evil.example", "approve-x", "approve-1-2", "approve-99999999999999",
                "/c/other/fund"):
        page = visitor.get(f"{link}/verify", query_string={"next": bad}).text
        assert 'name="next" value=""' in page, bad


def test_builder_preview_follows_the_currency_and_says_why_not(logged_in, db):
    cid = create_draft(logged_in)
    save_terms(logged_in, cid, kind="single", amount="1000")
    page = logged_in.get(f"/contracts/{cid}/terms").text
    label = re.search(r'<label for="amount">(.*?)</label>', page, re.S).group(1)
    assert "(optional)" not in label and 'Amount (<span id="amount-currency">USD</span>)' in label
    assert 'name="currency" hx-post="/contracts/%d/terms/preview"' % cid in page
    # JPY chosen, not saved yet: the total is in yen and the label says JPY
    r = logged_in.post(f"/contracts/{cid}/terms/preview", {"amount": "1000", "currency": "JPY"}, htmx=True)
    assert r.status_code == 200 and "<html" not in r.text and 'id="milestone-summary"' in r.text
    assert "¥1,000" in r.text and "$" not in r.text
    assert '<span id="amount-currency" hx-swap-oob="true">JPY</span>' in r.text
    # an amount that cannot be taken says why, in place of a silent 0.00
    r = logged_in.post(f"/contracts/{cid}/terms/preview", {"amount": "abc", "currency": "USD"}, htmx=True)
    assert r.status_code == 200 and 'data-testid="preview-refusal"' in r.text
    refusal = re.search(r'data-testid="preview-refusal">([^<]+)<', r.text).group(1)
    assert refusal.strip()
    r = logged_in.post(f"/contracts/{cid}/terms/preview", {"amount": "12.345", "currency": "JPY"}, htmx=True)
    assert 'data-testid="preview-refusal"' in r.text
    # an unknown currency falls back to the contract's own
    r = logged_in.post(f"/contracts/{cid}/terms/preview", {"amount": "5", "currency": "XXX"}, htmx=True)
    assert "$5.00" in r.text and ">USD<" in r.text
    # the relabelling rides only on the preview: the contract page's total has no stray currency code
    send_page = logged_in.get(f"/contracts/{cid}").text
    assert 'id="milestone-summary"' in send_page and 'id="amount-currency"' not in send_page


def test_broken_links_say_why_and_point_to_the_manual_entry(visitor, logged_in, outbox):
    cid, link = sent_contract(logged_in, outbox)
    unknown = visitor.get("/c/no-such-link-at-all")
    assert unknown.status_code == 404 and "does not open a contract" in unknown.text
    assert "replaced" not in unknown.text and 'href="/c"' in unknown.text
    assert logged_in.post(f"/contracts/{cid}/new-link").status_code == 303
    replaced = visitor.get(link)  # the freelancer sent a new link: the old one says so
    assert replaced.status_code == 410 and "This link was replaced" in replaced.text and 'href="/c"' in replaced.text


def test_single_amount_notification_names_it_once(logged_in, visitor, outbox, db):
    cid = create_draft(logged_in)
    save_terms(logged_in, cid, title="Logo design", kind="single", amount="400")
    logged_in.post(f"/contracts/{cid}/send")
    from tests.web.builders import link_in
    link = link_in(outbox()[-1].body_text)
    verify(visitor, link, outbox)
    assert fund(visitor, link).status_code == 303
    db.session.expire_all()
    messages = [n.message for n in db.session.scalars(db.select(Notification))]
    funded = [m for m in messages if " funded " in m]
    assert funded and "funded “Logo design”: $400.00 is in escrow" in funded[0]
    assert "of “Logo design”" not in " ".join(messages)
