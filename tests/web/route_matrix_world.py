"""The world the route matrix walks: three members, two funded contracts, a dispute and a chargeback; a shop logo.

Built over HTTP with the builders, as the other web tests build theirs, so the
ids in the matrix's URLs are real ones. Each browser is one role of the matrix.
"""
from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field

from directcontracts.models import Chargeback, Dispute, OutboxEmail, PaymentAttempt
from tests.conftest import PASSWORD, Client
from tests.web.brand_steps import set_brand
from tests.web.builders import contract, funded_contract, request_payment

#: The roles, in the order of the matrix's columns.
ROLES = ("anon", "client_other", "client_cross", "client", "member_other", "member", "owner")


@dataclass
class Side:
    """One contract and the ids hanging off it: what a URL of the matrix can carry."""

    contract_id: int
    token: str  # the client's link token (the part after /c/)
    milestone_id: int  # a milestone whose payment was requested
    disputed_milestone_id: int
    dispute_id: int
    attempt_id: str
    key: str  # the funding's idempotency key
    sale_id: str


@dataclass
class World:
    a: Side  # the contract under test: Fran's
    b: Side  # the other contract: Bob's
    chargeback_id: int
    email_id: int
    member_id: int  # Bob, the member the owner's member actions are aimed at
    browsers: dict[str, Client] = field(default_factory=dict)  # role -> browser


def build(app, db, make_member, hook) -> World:
    """Olive (the owner), Fran (A's freelancer), Bob (B's freelancer); A and B funded, each with a payment
    requested and a dispute opened by its client; a chargeback on B's sale; every browser logged in or
    verified as its role needs."""
    olive = make_member("olive@shop.example", "Olga Owner", owner=True)
    fran = make_member("fran@example.com", "Fran Freelancer", owner=False)
    bob = make_member("bob@example.com", "Bob Builder", owner=False)

    def browser() -> Client:
        return Client(app.test_client())

    def login(member) -> Client:
        c = browser()
        r = c.post("/login", {"email": member.email, "password": PASSWORD})
        assert r.status_code == 303, r.text
        return c

    def outbox():
        return list(db.session.scalars(db.select(OutboxEmail).order_by(OutboxEmail.id)))

    def side(member_browser: Client, client_browser: Client) -> Side:
        cid, link = funded_contract(member_browser, client_browser, outbox)
        first, second = (m.id for m in contract(db, cid).milestones[:2])
        request_payment(member_browser, cid, first)
        assert client_browser.get(link).status_code == 200  # viewed: the next views within the hour write nothing
        r = client_browser.post(f"{link}/milestones/{second}/dispute",
                                {"reason": "not_as_agreed", "statement": "Not what we agreed."})
        assert r.status_code == 303, r.text
        dispute = db.session.scalar(db.select(Dispute).where(Dispute.milestone_id == second))
        attempt = db.session.scalar(db.select(PaymentAttempt).where(PaymentAttempt.contract_id == cid))
        return Side(cid, link.removeprefix("/c/"), first, second, dispute.id, attempt.id,
                    attempt.idempotency_key, attempt.transaction_id)

    fran_c, bob_c, olive_c = login(fran), login(bob), login(olive)
    set_brand(olive_c)  # a logo, so the logo's route has something to serve
    client_a, client_b = browser(), browser()
    a = side(fran_c, client_a)
    b = side(bob_c, client_b)
    hook(app.extensions["gateway"].dispute(b.sale_id, reason="product_not_received"))
    db.session.expire_all()
    chargeback_id = db.session.scalar(db.select(Chargeback.id))
    assert chargeback_id is not None
    anon = browser()
    anon.csrf()  # a session of its own, so its POSTs carry a valid token and meet the login wall, not CSRF
    a_email = [e for e in outbox() if e.contract_id == a.contract_id][-1]  # an email of Fran's contract
    world = World(a, b, chargeback_id, a_email.id, bob.id)
    world.browsers = {"anon": anon, "client_other": client_b, "client_cross": client_a, "client": client_a,
                      "member_other": bob_c, "member": fran_c, "owner": olive_c}
    return world


def bogus_token() -> str:
    """A token shaped like a real one that opens nothing."""
    return secrets.token_urlsafe(32)


def login_location(location: str | None) -> bool:
    return bool(location) and re.search(r"(^|//[^/]+)/login(\?|$)", location) is not None
