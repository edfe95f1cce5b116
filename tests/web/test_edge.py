"""The edge of every request: bad input is cleaned or refused (never a 500), and every page carries the
security headers, with no inline script (tests/browser checks that Chromium reports no CSP violation)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from directcontracts.web.edge import content_security_policy
from tests.web.builders import add_milestone, contract, create_draft, fund_form, funded_contract, save_terms, \
    sent_contract, verify

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
SCRIPT_TAG = re.compile(r"<script\b[^>]*>", re.I)
INLINE_HANDLER = re.compile(r"""<[^>]*\s(on[a-z]+|style)\s*=""", re.I)


def csp(response) -> dict[str, str]:
    return dict(part.strip().split(" ", 1) for part in response.headers["Content-Security-Policy"].split(";"))


def assert_secure(response, *, no_store: bool):
    policy = csp(response)
    assert policy["frame-ancestors"] == "'none'"
    assert "'unsafe-inline'" not in policy["script-src"] and "'unsafe-eval'" not in policy["script-src"]
    assert policy["object-src"] == "'none'"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] in ("no-referrer", "same-origin")
    assert (response.headers.get("Cache-Control") == "no-store") is no_store
    assert "Strict-Transport-Security" not in response.headers  # BASE_URL is http in tests


def assert_no_inline_script(response):
    """Every <script> is a file carrying this response's nonce; no handler or style attribute."""
    nonce = re.search(r"'nonce-([^']+)'", response.headers["Content-Security-Policy"]).group(1)
    for tag in SCRIPT_TAG.findall(response.text):
        assert "src=" in tag, f"inline script: {tag}"
        assert f'nonce="{nonce}"' in tag, f"script without this response's nonce: {tag}"
    assert not INLINE_HANDLER.search(response.text), INLINE_HANDLER.search(response.text).group(0)
    assert "javascript:" not in response.text


def test_no_template_has_an_inline_script_or_handler():
    for path in TEMPLATES.rglob("*.html"):
        if "email" in path.parts:
            continue  # emails are not pages: no script runs in them
        html = path.read_text()
        for tag in SCRIPT_TAG.findall(html):
            assert "src=" in tag and "nonce=" in tag, f"{path.name}: {tag}"
        assert not INLINE_HANDLER.search(html), f"{path.name}: {INLINE_HANDLER.search(html).group(0)}"


def test_anonymous_pages(client, member):
    for url in ("/login", "/c"):
        page = client.get(url)
        assert page.status_code == 200
        assert_secure(page, no_store=url == "/c")  # the client's pages are never stored
        assert_no_inline_script(page)
    assert page.headers["Referrer-Policy"] == "no-referrer"  # /c is the client's
    assert client.get("/login").headers["Referrer-Policy"] == "same-origin"


def test_static_files_are_not_sniffed(client):
    js = client.get("/static/client.js")
    assert js.headers["X-Content-Type-Options"] == "nosniff"
    assert "Cache-Control" not in js.headers or js.headers["Cache-Control"] != "no-store"


def test_member_pages_are_never_stored(logged_in, visitor, outbox, db):
    cid, link = funded_contract(logged_in, visitor, outbox)
    draft = create_draft(logged_in)
    for url in ("/contracts", f"/contracts/{cid}", f"/contracts/{draft}/terms", "/notifications",
                "/admin/settings", "/admin/members", "/admin/payouts", "/admin/contracts", "/admin/disputes",
                "/admin/reconciliation", "/dev/inbox"):
        page = logged_in.get(url)
        assert page.status_code == 200, url
        assert_secure(page, no_store=True)
        assert_no_inline_script(page)


def test_client_pages_send_no_referrer_and_are_never_stored(logged_in, visitor, outbox, db):
    cid, link = sent_contract(logged_in, outbox)
    verify(visitor, link, outbox)
    for url in (link, f"{link}/fund", f"{link}/changes", f"{link}/decline", f"{link}/verify"):
        page = visitor.get(url)
        assert page.status_code == 200, url
        assert_secure(page, no_store=True)
        assert page.headers["Referrer-Policy"] == "no-referrer"
        assert_no_inline_script(page)


def test_each_response_has_its_own_nonce(client, member):
    first, second = client.get("/login"), client.get("/login")
    assert csp(first)["script-src"] != csp(second)["script-src"]


def test_hsts_only_over_https(app, client, member):
    old = app.config["BASE_URL"]
    app.config["BASE_URL"] = "https://shop.example.com"
    try:
        assert client.get("/login").headers["Strict-Transport-Security"].startswith("max-age=")
    finally:
        app.config["BASE_URL"] = old


@pytest.mark.parametrize("environment, api", [
    ("sandbox", "https://api.sandbox.braintreegateway.com"),
    ("production", "https://api.braintreegateway.com"),
    ("http://127.0.0.1:4567", "http://127.0.0.1:4567"),
])
def test_dropin_pages_allow_braintree_only_there(environment, api):
    policy = dict(p.split(" ", 1) for p in content_security_policy("n0nce", braintree_environment=environment)
                  .split("; "))
    assert "https://js.braintreegateway.com" in policy["script-src"]
    assert "https://assets.braintreegateway.com" in policy["frame-src"]
    assert api in policy["connect-src"]
    assert "'unsafe-inline'" not in policy["script-src"]
    plain = dict(p.split(" ", 1) for p in content_security_policy("n0nce").split("; "))
    assert "braintree" not in " ".join(plain.values())
    assert plain["frame-src"] == "'none'"


# ---- bad input: cleaned or refused, never a 500 -----------------------------------------------------

def test_a_nul_byte_at_login_is_not_an_error(client, member):
    page = client.post("/login", {"email": "fran@example.com\x00", "password": "x\x00"})
    assert page.status_code < 500, page.text
    assert "do not match an account" in page.text
    assert client.post("/login", {"email": "fran\x00@example.com", "password": "correct horse battery"}
                       ).status_code == 303  # the NUL is dropped, so this is Fran's address


def test_control_characters_are_dropped_and_single_lines_stay_single(logged_in, db):
    cid = create_draft(logged_in, name="Carla\x00 Cli\x07ent\nJr.", company="Client\x1b Co\t")
    save_terms(logged_in, cid, title="Web\x00site\r\nredesign", scope="Line one\x00.\nLine two.")
    saved = contract(db, cid)
    assert saved.client_name == "Carla Client Jr."
    assert saved.client_company == "Client Co"
    assert saved.title == "Website redesign"
    assert saved.scope.replace("\r\n", "\n") == "Line one.\nLine two."  # a text area keeps its lines


def test_control_characters_in_htmx_posts_and_query_strings(logged_in, db):
    cid = create_draft(logged_in)
    save_terms(logged_in, cid)
    add_milestone(logged_in, cid, "De\x00sign", "100")
    assert [m.title for m in contract(db, cid).milestones] == ["Design"]
    page = logged_in.get("/contracts?status=act%00ive&page=%00")
    assert page.status_code == 200
    assert logged_in.get(f"/contracts/{cid}/terms?edit=99999999999").status_code == 200
    assert logged_in.get("/contracts?page=99999999999999999999999").status_code == 200


@pytest.mark.parametrize("path", ["/contracts/2147483648", "/contracts/99999999999999999999999",
                                  "/contracts/%D9%A1", "/contracts/%EF%BC%91", "/contracts/-1"])
def test_an_id_out_of_range_or_not_ascii_is_not_found(logged_in, path):
    page = logged_in.get(path)
    assert page.status_code == 404
    assert "Not found" in page.text


def test_a_nul_in_a_path_is_not_found(logged_in, visitor, outbox, db):
    cid, link = funded_contract(logged_in, visitor, outbox)
    assert visitor.get(f"{link}/payments/abc%00def").status_code == 404
    assert visitor.get(f"{link}/payments/by-key/%00").status_code == 404
    assert visitor.get("/c/abc%00def").status_code == 404
    assert visitor.get(f"{link}/verify?next=dispute-%C2%B2").status_code == 200  # "²" is not a milestone id


def test_a_huge_body_is_refused_unread(client, app):
    assert app.config["MAX_CONTENT_LENGTH"] == 2 * 1024 * 1024
    page = client.post("/login", {"email": "a@example.com", "password": "x" * (20 * 1024 * 1024)}, csrf=False)
    assert page.status_code == 413
    assert "larger than this site accepts (2,048 KB)" in page.text
    assert "Traceback" not in page.text


def test_the_body_limit_is_configurable(app, client):
    app.config["MAX_CONTENT_LENGTH"] = 1024
    try:
        assert client.post("/login", {"email": "a@example.com", "password": "x" * 2048}).status_code == 413
    finally:
        app.config["MAX_CONTENT_LENGTH"] = 2 * 1024 * 1024


@pytest.mark.parametrize("amount", ["\u0661\u0660\u0660", "\uff11\uff10\uff10", "1,0,0"])
def test_amounts_in_other_digits_are_refused(logged_in, db, amount):
    cid = create_draft(logged_in)
    save_terms(logged_in, cid)
    page = add_milestone(logged_in, cid, "Design", amount, expect=422)
    assert "Enter the amount as a number" in page.text
    assert contract(db, cid).milestones == []


def test_the_fund_choice_cannot_name_an_impossible_milestone(logged_in, visitor, outbox, db):
    cid, link = sent_contract(logged_in, outbox)
    verify(visitor, link, outbox)
    shown = fund_form(visitor, link)
    for choice in ("m\u00b2", "m99999999999999"):
        page = visitor.post(f"{link}/fund", shown | {"choice": choice, "payment_method_nonce": "fake-valid-nonce",
                                                       "signer_name": "Carla Client", "agree": "yes"})
        assert page.status_code < 500, page.text
