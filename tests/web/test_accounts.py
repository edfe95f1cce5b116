"""Accounts a shop can run (issue 12): change password, forgotten password by email, deactivating
members, handing ownership on, and the setup page closing for good — through HTTP with CSRF on."""
from __future__ import annotations

import re
from datetime import timedelta

from directcontracts.models import Member, PasswordReset, utcnow
from directcontracts.services import accounts
from tests.conftest import PASSWORD, Client
from tests.web.builders import approve, contract, funded_contract, request_payment

NEW_PASSWORD = "lantern meadow copper"


def browser(app) -> Client:
    return Client(app.test_client())


def logged_out(c: Client) -> bool:
    r = c.get("/contracts")
    return r.status_code == 302 and "/login" in r.location


def reset_link(outbox) -> str:
    email = outbox()[-1]
    return re.search(r"https?://[^/\s]+(/password/reset/[A-Za-z0-9_\-]+)", email.body_text).group(1)


# ---- changing one's password ---------------------------------------------------------------------------------

def test_change_password_needs_the_current_one_and_ends_the_other_sessions(app, client, member, login_as):
    login_as(member)
    elsewhere = login_as(member, browser(app))
    page = client.get("/account/password")
    assert page.status_code == 200
    assert 'label for="current_password"' in page.text and 'label for="password"' in page.text

    wrong = client.post("/account/password", {"current_password": "not it at all", "password": NEW_PASSWORD})
    assert wrong.status_code == 422 and "That is not your current password." in wrong.text
    weak = client.post("/account/password", {"current_password": PASSWORD, "password": "1234567890"})
    assert weak.status_code == 422 and "sequence" in weak.text
    assert not logged_out(elsewhere)  # nothing changed yet

    ok = client.post("/account/password", {"current_password": PASSWORD, "password": NEW_PASSWORD})
    assert ok.status_code == 303
    assert client.get("/contracts").status_code == 200  # this browser goes on
    assert logged_out(elsewhere)  # every other one ended
    fresh = browser(app)
    assert fresh.post("/login", {"email": member.email, "password": PASSWORD}).status_code == 401
    assert fresh.post("/login", {"email": member.email, "password": NEW_PASSWORD}).status_code == 303


# ---- a forgotten password ------------------------------------------------------------------------------------

def test_asking_for_a_reset_says_the_same_for_any_email(client, member, outbox):
    before = len(outbox())
    unknown = client.post("/password/forgot", {"email": "nobody@example.com"}, follow_redirects=True)
    assert len(outbox()) == before
    known = client.post("/password/forgot", {"email": member.email}, follow_redirects=True)
    assert len(outbox()) == before + 1
    def said(r, email):
        main = r.text.split('<main id="main">', 1)[1]
        return re.sub(r'name="csrf_token" value="[^"]+"', "", main.replace(email, "EMAIL"))
    assert unknown.status_code == known.status_code == 200
    assert said(unknown, "nobody@example.com") == said(known, member.email)
    assert "it has been sent a link" in known.text
    empty = client.post("/password/forgot", {"email": ""})
    assert empty.status_code == 422 and "Enter the email you log in with." in empty.text


def test_a_reset_link_works_once_and_ends_every_session(app, client, db, member, login_as, outbox):
    elsewhere = login_as(member, browser(app))
    client.post("/password/forgot", {"email": member.email})
    email = outbox()[-1]
    assert email.to_addr == member.email and "one hour" not in email.subject
    link = reset_link(outbox)
    raw = link.rsplit("/", 1)[1]
    stored = db.session.scalar(db.select(PasswordReset))
    assert stored.token_hash != raw and raw not in stored.token_hash  # only the hash is kept
    assert stored.expires_at - stored.created_at == timedelta(hours=1)

    page = client.get(link)
    assert page.status_code == 200 and member.email in page.text and 'label for="password"' in page.text
    weak = client.post(link, {"password": "password123"})
    assert weak.status_code == 422
    ok = client.post(link, {"password": NEW_PASSWORD})
    assert ok.status_code == 303 and ok.location.endswith("/login")
    assert logged_out(elsewhere)
    assert client.post("/login", {"email": member.email, "password": NEW_PASSWORD}).status_code == 303

    again = browser(app)
    assert again.get(link).status_code == 410
    used = again.post(link, {"password": "another fine passphrase"})
    assert used.status_code == 410 and "expired or has already been used" in used.text


def test_a_reset_link_expires_and_a_newer_password_voids_older_links(app, client, db, member, outbox):
    client.post("/password/forgot", {"email": member.email})
    first = reset_link(outbox)
    client.post("/password/forgot", {"email": member.email})
    second = reset_link(outbox)
    db.session.execute(db.update(PasswordReset).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    assert client.get(first).status_code == 410 and client.get(second).status_code == 410
    client.post("/password/forgot", {"email": member.email})
    third = reset_link(outbox)
    client.post("/password/forgot", {"email": member.email})
    fourth = reset_link(outbox)
    assert client.post(third, {"password": NEW_PASSWORD}).status_code == 303
    assert client.get(fourth).status_code == 410  # one reset voids the member's other links


def test_reset_requests_are_rate_limited_per_email(client, member):
    for _ in range(5):
        assert client.post("/password/forgot", {"email": "someone@example.com"}).status_code == 303
    refused = client.post("/password/forgot", {"email": "someone@example.com"})
    assert refused.status_code == 429 and "Too many reset links" in refused.text and refused.headers["Retry-After"]
    assert client.post("/password/forgot", {"email": member.email}).status_code == 303  # another email is not


# ---- the owner: deactivating members -------------------------------------------------------------------------

def test_deactivating_a_member_ends_their_sessions_keeps_their_contracts_and_their_clients_links(
        app, client, db, make_member, login_as, outbox, visitor):
    olive = make_member("olive@example.com", "Olive Owner", owner=True)
    fran = make_member("fran@example.com", "Fran Freelancer", owner=False)
    fran_c = login_as(fran, browser(app))
    cid, link = funded_contract(fran_c, visitor, outbox)
    mid = contract(db, cid).milestones[0].id
    request_payment(fran_c, cid, mid)
    login_as(olive)

    page = client.get(f"/admin/members/{fran.id}/deactivate")
    assert page.status_code == 200 and "Their clients' links keep working" in page.text
    assert client.post(f"/admin/members/{fran.id}/deactivate").status_code == 303
    assert logged_out(fran_c)
    refused = browser(app).post("/login", {"email": fran.email, "password": PASSWORD})
    assert refused.status_code == 401 and "deactivated" in refused.text
    wrong = browser(app).post("/login", {"email": fran.email, "password": "not the password"})
    assert "deactivated" not in wrong.text  # said only to someone who knows the password
    forgot = browser(app)
    before = len(outbox())
    forgot.post("/password/forgot", {"email": fran.email})
    assert len(outbox()) == before  # no reset link for a deactivated member

    assert client.get(f"/admin/contracts/{cid}").status_code == 200  # the owner still sees the contract
    members = client.get("/admin/members")
    assert "Deactivated" in members.text and "Reactivate" in members.text
    assert visitor.get(link).status_code == 200  # the client's link still works, as the page says
    approve(visitor, link, mid)

    assert client.post(f"/admin/members/{fran.id}/deactivate").status_code == 422  # already
    assert client.post(f"/admin/members/{olive.id}/deactivate").status_code == 422  # never the owner
    assert client.post(f"/admin/members/{fran.id}/reactivate").status_code == 303
    assert browser(app).post("/login", {"email": fran.email, "password": PASSWORD}).status_code == 303


# ---- the owner: handing ownership on -------------------------------------------------------------------------

def test_handing_ownership_on_leaves_exactly_one_owner(app, client, db, make_member, login_as):
    olive = make_member("olive@example.com", "Olive Owner", owner=True)
    fran = make_member("fran@example.com", "Fran Freelancer", owner=False)
    bob = make_member("bob@example.com", "Bob Builder", owner=False)
    login_as(olive)
    accounts.deactivate(olive, bob.id)
    assert client.post(f"/admin/members/{bob.id}/owner").status_code == 422  # not a deactivated member
    page = client.get(f"/admin/members/{fran.id}/owner")
    assert page.status_code == 200 and "Make Fran Freelancer the owner?" in page.text
    done = client.post(f"/admin/members/{fran.id}/owner")
    assert done.status_code == 303
    db.session.expire_all()
    owners = db.session.scalars(db.select(Member.email).where(Member.is_owner)).all()
    assert owners == [fran.email]
    assert client.get("/admin/members").status_code == 404  # Olive is a member now
    assert client.get("/contracts").status_code == 200
    fran_c = login_as(fran, browser(app))
    assert fran_c.get("/admin/members").status_code == 200


def test_setup_closes_for_good_once_an_owner_exists(client, db, member):
    assert client.get("/setup").status_code == 302
    for _ in range(2):
        r = client.post("/setup", {"name": "Mallory", "email": "mallory@example.com", "password": PASSWORD})
        assert r.status_code == 303 and r.location.endswith("/login")
    assert db.session.scalar(db.select(db.func.count(Member.id))) == 1
    # even when the owner hands ownership on or members are deactivated, members exist: it stays closed
    assert accounts.member_count() == 1


def test_reset_tokens_never_reach_a_log_line():
    from directcontracts.redaction import redact
    assert redact("GET /password/reset/AbCdEfGhIjKlMnOpQrStUvWxYz0123456789_-abcde HTTP/1.1") == \
        "GET /password/reset/[token] HTTP/1.1"
