"""Drive the contract builder over HTTP the way a freelancer does."""
from __future__ import annotations

import re

from directcontracts.models import Contract, PaymentAttempt


def create_draft(client, *, name="Carla Client", email="carla@client-co.com", company="Client Co"):
    r = client.post("/contracts", {"client_name": name, "client_email": email, "client_company": company})
    assert r.status_code == 303, r.text
    return int(re.search(r"/contracts/(\d+)/terms", r.location).group(1))


def save_terms(client, cid, *, title="Website redesign", scope="Design and build.", currency="USD",
               kind="milestones", amount="", due_date="", expect=303):
    r = client.post(f"/contracts/{cid}/terms", {"title": title, "scope": scope, "currency": currency,
                                                  "kind": kind, "amount": amount, "due_date": due_date,
                                                  "next": "save"})
    assert r.status_code == expect, r.text
    return r


def add_milestone(client, cid, title, amount, due_date="", description="", htmx=True, expect=200):
    r = client.post(f"/contracts/{cid}/milestones", {"title": title, "amount": amount,
                                                      "due_date": due_date, "description": description},
                    htmx=htmx)
    assert r.status_code == expect, r.text
    return r


def milestone_contract(client, amounts=("1000", "2000", "500"), **terms) -> int:
    cid = create_draft(client)
    save_terms(client, cid, **terms)
    for n, amount in enumerate(amounts, 1):
        add_milestone(client, cid, f"Milestone {n}", amount)
    return cid


def send(client, cid):
    r = client.post(f"/contracts/{cid}/send")
    assert r.status_code == 303 and r.location.endswith(f"/contracts/{cid}"), r.text
    return r


def revise(client, cid) -> int:
    """Start (or go back to) the draft revision of a sent contract; returns its id (the one its builder's URLs carry)."""
    r = client.post(f"/contracts/{cid}/revise")
    assert r.status_code == 303, r.text
    return int(re.search(r"/contracts/(\d+)/terms$", r.location).group(1))


def send_revision(client, draft_id, cid):
    """Send a draft revision: it lands on the sent contract's page."""
    r = client.post(f"/contracts/{draft_id}/send")
    assert r.status_code == 303 and r.location.endswith(f"/contracts/{cid}"), r.text
    return r


def link_in(email_text: str) -> str:
    return re.search(r"https?://[^/\s]+(/c/[A-Za-z0-9_\-]+)", email_text).group(1)


def contract(db, cid) -> Contract:
    db.session.expire_all()
    return db.session.get(Contract, cid)


def sent_contract(client, outbox, amounts=("1000", "2000", "500"), **terms) -> tuple[int, str]:
    """A contract sent to the client; returns (id, the client's link path)."""
    cid = milestone_contract(client, amounts=amounts, **terms)
    send(client, cid)
    return cid, link_in(outbox()[-1].body_text)


def latest_code(outbox) -> str:
    """The 6-digit code in the newest verification email."""
    email = [e for e in outbox() if e.subject.startswith("Your verification code for")][-1]
    return re.search(r"is (\d{6})\b", email.body_text).group(1)


def verify(client, link, outbox, next_action=""):
    """Verify the client's email on this device (the test client keeps the cookie)."""
    r = client.post(f"{link}/verify/send", {"next": next_action})
    assert r.status_code == 200, r.text
    r = client.post(f"{link}/verify", {"code": latest_code(outbox), "next": next_action})
    assert r.status_code == 303, r.text
    return r


def fund_form(client, link) -> dict[str, str]:
    """The hidden fields of the fund form as the page shows them: the key and a quote per choice."""
    page = client.get(f"{link}/fund")
    assert page.status_code == 200, page.text
    return hidden_fields(page.text)


def hidden_fields(html: str) -> dict[str, str]:
    return dict(re.findall(r'<input type="hidden" name="((?:idempotency_key|quote_\w+))" value="([^"]*)"', html))


def fund_form_key(client, link) -> str:
    return fund_form(client, link)["idempotency_key"]


def fund(client, link, *, choice="first", nonce="fake-valid-nonce", key=None, sign=True, htmx=False, **extra):
    """Submit the fund form as the page just showed it (its key and quotes), choosing ``choice``."""
    shown = fund_form(client, link)
    data = shown | {"idempotency_key": key or shown["idempotency_key"], "choice": choice,
                    "payment_method_nonce": nonce} | extra
    if sign:
        data |= {"signer_name": "Carla Client", "agree": "yes"}
    return client.post(f"{link}/fund", data, htmx=htmx)


def funded_contract(logged_in, visitor, outbox, amounts=("1000", "2000", "500"), choice="all", **terms):
    """A contract sent, verified, signed and funded (all milestones by default)."""
    cid, link = sent_contract(logged_in, outbox, amounts=amounts, **terms)
    verify(visitor, link, outbox)
    r = fund(visitor, link, choice=choice)
    assert r.status_code == 303, r.text
    return cid, link


def request_payment(logged_in, cid, mid, note="Done: see the staging site.", expect=303):
    r = logged_in.post(f"/contracts/{cid}/milestones/{mid}/request-payment",
                       {"note": note, "url": "https://staging.client-co.com"})
    assert r.status_code == expect, r.text
    return r


def approve(visitor, link, mid, expect=303):
    r = visitor.post(f"{link}/milestones/{mid}/approve")
    assert r.status_code == expect, r.text
    return r


def post_webhook(http, signed):
    """POST a signed ``(signature, payload)`` notification the way Braintree does: form fields, no CSRF
    token, no session."""
    signature, payload = signed
    return http.post("/webhooks/braintree", data={"bt_signature": signature, "bt_payload": payload})


def sale_of(db) -> str:
    """The gateway's transaction id of the (one) payment made."""
    return db.session.scalar(db.select(PaymentAttempt.transaction_id))
