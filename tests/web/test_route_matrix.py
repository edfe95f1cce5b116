"""Every route × every role × GET, POST and htmx, against one table of expectations (issue 11).

The table ``TABLE`` names every endpoint of ``app.url_map``; a route added
without an entry fails ``test_every_route_has_an_entry``. Each entry gives, per
method, what each role gets (the columns are ``ROLES``):

* ``anon``: nobody logged in, no client link (a client URL gets a token that opens nothing);
* ``client_other``: the verified client of contract B. A client URL with ids gets B's token and A's ids;
  one without ids gets A's token (B's verified device must not count for A);
* ``client_cross``: A's verified client, A's token with B's ids (on a URL without ids: as ``client``);
* ``client``: A's verified client, A's token, A's ids;
* ``member_other``: Bob, a member who is neither A's freelancer nor the owner;
* ``member``: Fran, A's freelancer;
* ``owner``: Olive, the shop owner (not A's freelancer: she sees A through ``/admin``).

Member URLs always carry A's ids. Outcomes: a status code; ``LOGIN`` (a page: 302 to
/login; htmx: 401 with ``HX-Redirect`` to /login); ``VERIFY`` (303 to the link's verification
page); ``COMMIT`` (the request got as far as committing a change). Nothing the matrix sends is
kept: ``Session.commit`` raises instead, so the world is the same for every request, and a
wrong role that reached a commit would show here as ``COMMIT`` without having changed anything.
POSTs send an empty form with a valid CSRF token; ``test_state_changes_need_the_csrf_token``
sends them without one and with another session's (400), and ``webhooks.braintree`` with a bad
signature (403). An htmx request (``HX-Request: true``) expects the same as the page unless the
entry has its own ``HX GET`` / ``HX POST`` row.
"""
from __future__ import annotations

import pytest
import sqlalchemy.orm

from directcontracts.extensions import limiter
from tests.web.builders import post_webhook
from tests.web.route_matrix_world import ROLES, World, bogus_token, build, login_location

LOGIN, VERIFY, COMMIT = "login", "verify", "commit"


def row(*outcomes) -> tuple:
    assert len(outcomes) == len(ROLES), outcomes
    return outcomes


def everyone(outcome) -> tuple:
    return (outcome,) * len(ROLES)


#                           anon    client_other client_cross client  member_other member  owner
def own(outcome) -> tuple:
    """A's freelancer only; anyone else's session is 404 (the owner mediates through /admin)."""
    return row(LOGIN, LOGIN, LOGIN, LOGIN, 404, outcome, 404)


def members(outcome, owner=None) -> tuple:
    """Any member, on their own things."""
    return row(LOGIN, LOGIN, LOGIN, LOGIN, outcome, outcome, outcome if owner is None else owner)


def owner_only(outcome) -> tuple:
    return row(LOGIN, LOGIN, LOGIN, LOGIN, 404, 404, outcome)


def link_read(outcome) -> tuple:
    """A client page that reading needs only the link for (members here hold A's link, not verified)."""
    return row(404, 404, 404, outcome, outcome, outcome, outcome)


def link_act(outcome) -> tuple:
    """A client page or action with ids that needs a device verified for the contract."""
    return row(404, 404, 404, outcome, VERIFY, VERIFY, VERIFY)


def link_act_no_ids(outcome) -> tuple:
    """As ``link_act`` on a URL without ids: B's verified client, holding A's link, must verify first."""
    return row(404, VERIFY, outcome, outcome, VERIFY, VERIFY, VERIFY)


def link_read_no_ids(outcome) -> tuple:
    return row(404, outcome, outcome, outcome, outcome, outcome, outcome)


NO_GET, NO_POST = {"GET": everyone(405)}, {"POST": everyone(405)}

TABLE: dict[str, dict[str, tuple]] = {
    # ---- public: static files, login, setup, finding a contract by reference ----------------------------------
    "static": {"GET": everyone(200)} | NO_POST,
    # The shop's logo and accent stylesheet: clients (no account) and their mail programs load them.
    "brand.logo": {"GET": everyone(200)} | NO_POST,
    "brand.theme": {"GET": everyone(200)} | NO_POST,
    "auth.home": {"GET": row(LOGIN, LOGIN, LOGIN, LOGIN, 302, 302, 302)} | NO_POST,  # members: to their list
    "auth.login": {"GET": row(200, 200, 200, 200, 302, 302, 302), "POST": everyone(401)},
    "auth.login_submit": {"GET": row(200, 200, 200, 200, 302, 302, 302)} | {"POST": everyone(401)},
    "auth.logout": NO_GET | {"POST": members(COMMIT)},
    "auth.setup": {"GET": everyone(LOGIN), "POST": everyone(LOGIN)},  # once a member exists: to the login page
    "auth.setup_create": {"GET": everyone(LOGIN), "POST": everyone(LOGIN)},
    # Password pages: changing needs a session; forgotten and reset are for anyone (a member too).
    # A member's own time zone and locale: an empty form means "the shop's", so it saves.
    "auth.account": {"GET": members(200), "POST": members(COMMIT)},
    "auth.account_update": {"GET": members(200), "POST": members(COMMIT)},
    "auth.password_form": {"GET": members(200), "POST": members(422)},
    "auth.password_change": {"GET": members(200), "POST": members(422)},
    "auth.password_forgot_form": {"GET": everyone(200), "POST": everyone(422)},  # an empty email
    "auth.password_forgot": {"GET": everyone(200), "POST": everyone(422)},
    "auth.password_reset_form": {"GET": everyone(410), "POST": everyone(410)},  # a token that opens nothing
    "auth.password_reset": {"GET": everyone(410), "POST": everyone(410)},
    "client.find_form": {"GET": everyone(200), "POST": everyone(200)},
    "client.find_send_code": {"GET": everyone(200)} | {"POST": everyone(200)},
    "client.find_open": {"GET": everyone(404)} |  # GET /c/open is /c/<token> with a token that opens nothing
    {"POST": everyone(422)},
    # ---- the client's link: /c/<token>/… ------------------------------------------------------------------------
    "client.contract_view": {"GET": link_read_no_ids(200)} | NO_POST,
    "client.verify_form": {"GET": link_read_no_ids(200), "POST": link_read_no_ids(422)},
    "client.verify_send": NO_GET | {"POST": link_read_no_ids(COMMIT)},
    "client.verify_check": {"GET": link_read_no_ids(200)} | {"POST": link_read_no_ids(422)},
    "client.changes_form": {"GET": link_act_no_ids(200), "POST": link_act_no_ids(422)},
    "client.changes_submit": {"GET": link_act_no_ids(200), "POST": link_act_no_ids(422)},
    "client.decline_form": {"GET": link_act_no_ids(200), "POST": link_act_no_ids(422)},
    "client.decline_submit": {"GET": link_act_no_ids(200), "POST": link_act_no_ids(422)},
    "client.fund_form": {"GET": link_act_no_ids(200), "POST": link_act_no_ids(422)},
    "client.fund_submit": {"GET": link_act_no_ids(200), "POST": link_act_no_ids(422)},
    "client.message_post": NO_GET | {"POST": link_act_no_ids(422)},
    "client.approve_form": {"GET": link_act(200), "POST": link_act(COMMIT)},
    "client.approve": {"GET": link_act(200), "POST": link_act(COMMIT)},
    "client.milestone_changes_form": {"GET": link_act(200), "POST": link_act(422)},
    "client.milestone_changes": {"GET": link_act(200), "POST": link_act(422)},
    "client.dispute_open_form": {"GET": link_act(200), "POST": link_act(422)},
    "client.dispute_open": {"GET": link_act(200), "POST": link_act(422)},
    "client.dispute_show": {"GET": link_read(200)} | NO_POST,
    "client.dispute_say": NO_GET | {"POST": link_act(422)},
    "client.dispute_offer": NO_GET | {"POST": link_act(422)},
    "client.dispute_accept": NO_GET | {"POST": link_act(303)},
    "client.dispute_release": NO_GET | {"POST": link_act(200)},
    "client.payment_status": {"GET": link_act(200)} | NO_POST,
    "client.agreement_view": {"GET": link_act_no_ids(200)} | NO_POST,
    # Another contract's key finds nothing on this contract: the "no record of this payment yet" page (a request
    # that timed out may not have reached the server), the same for any key it does not know.
    "client.payment_by_key": {"GET": row(404, 200, 200, 303, VERIFY, VERIFY, VERIFY)} | NO_POST,
    # ---- the freelancer's portal -----------------------------------------------------------------------------
    "freelancer.contract_list": {"GET": members(200)} | {"POST": members(422)},  # POST is contract_create
    "freelancer.contract_create": {"GET": members(200), "POST": members(422)},
    "freelancer.contract_new": {"GET": members(200)} | NO_POST,
    "freelancer.contract_show": {"GET": own(200)} | NO_POST,
    "freelancer.contract_agreement": {"GET": own(200)} | NO_POST,
    "freelancer.contract_client": {"GET": own(200), "POST": own(422)},
    "freelancer.contract_client_update": {"GET": own(200), "POST": own(422)},
    "freelancer.contract_terms": {"GET": own(200), "POST": own(422)},
    "freelancer.contract_terms_update": {"GET": own(200), "POST": own(422)},
    "freelancer.contract_amount_preview": NO_GET | {"POST": own(200)},
    "freelancer.contract_review": {"GET": own(200)} | NO_POST,
    "freelancer.contract_send": NO_GET | {"POST": own(303), "HX POST": own(409)},
    "freelancer.contract_revise": NO_GET | {"POST": own(303), "HX POST": own(409)},
    # A's contract is active with no draft revision: there is nothing to discard (refused, back to the contract)
    "freelancer.contract_revision_discard_confirm": {"GET": own(303), "HX GET": own(409), "POST": own(303),
                                                     "HX POST": own(409)},
    "freelancer.contract_revision_discard": {"GET": own(303), "HX GET": own(409), "POST": own(303),
                                             "HX POST": own(409)},
    "freelancer.contract_withdraw_confirm": {"GET": own(200), "POST": own(303), "HX POST": own(409)},
    "freelancer.contract_withdraw": {"GET": own(200), "POST": own(303), "HX POST": own(409)},
    "freelancer.contract_end_confirm": {"GET": own(200), "POST": own(303), "HX POST": own(409)},
    "freelancer.contract_end": {"GET": own(200), "POST": own(303), "HX POST": own(409)},
    "freelancer.client_link_confirm": {"GET": own(200), "POST": own(COMMIT)},
    "freelancer.client_link_send": {"GET": own(200), "POST": own(COMMIT)},
    "freelancer.message_post": NO_GET | {"POST": own(422)},
    "freelancer.milestone_create": NO_GET | {"POST": own(422)},
    "freelancer.milestone_row": {"GET": own(303), "HX GET": own(200), "POST": own(422)},  # a page: to the contract
    "freelancer.milestone_update": {"GET": own(303), "HX GET": own(200), "POST": own(422)},
    "freelancer.milestone_edit_form": {"GET": own(200)} | NO_POST,
    "freelancer.milestone_delete": NO_GET | {"POST": own(303), "HX POST": own(409)},
    "freelancer.milestone_move": NO_GET | {"POST": own(303), "HX POST": own(409)},
    "freelancer.payment_request_form": {"GET": own(303), "HX GET": own(409), "POST": own(422)},  # requested already
    "freelancer.payment_request": {"GET": own(303), "HX GET": own(409), "POST": own(422)},
    "freelancer.refund_form": {"GET": own(200), "POST": own(422)},
    "freelancer.refund": {"GET": own(200), "POST": own(422)},
    "freelancer.dispute_open_form": {"GET": own(200), "POST": own(422)},
    "freelancer.dispute_open": {"GET": own(200), "POST": own(422)},
    "freelancer.dispute_show": {"GET": own(200)} | NO_POST,
    "freelancer.dispute_say": NO_GET | {"POST": own(422)},
    "freelancer.dispute_offer": NO_GET | {"POST": own(422)},
    "freelancer.dispute_accept": NO_GET | {"POST": own(303)},
    "freelancer.dispute_refund": NO_GET | {"POST": own(200)},
    "freelancer.notification_list": {"GET": members(200)} | NO_POST,
    "freelancer.notification_count": {"GET": members(200)} | NO_POST,
    "freelancer.notification_read_all": NO_GET | {"POST": members(COMMIT)},
    # ---- the owner's pages -----------------------------------------------------------------------------------
    "admin.member_list": {"GET": owner_only(200), "POST": owner_only(422)},
    "admin.member_create": {"GET": owner_only(200), "POST": owner_only(422)},
    # The member is Bob (member_other): the owner deactivates him, or hands him ownership (an empty form is enough:
    # the confirmation is the GET page before it); reactivating an active member is refused.
    "admin.member_deactivate_confirm": {"GET": owner_only(200), "POST": owner_only(COMMIT)},
    "admin.member_deactivate": {"GET": owner_only(200), "POST": owner_only(COMMIT)},
    "admin.member_reactivate": NO_GET | {"POST": owner_only(422)},
    "admin.ownership_confirm": {"GET": owner_only(200), "POST": owner_only(COMMIT)},
    "admin.ownership_transfer": {"GET": owner_only(200), "POST": owner_only(COMMIT)},
    "admin.settings": {"GET": owner_only(200), "POST": owner_only(422)},
    "admin.settings_update": {"GET": owner_only(200), "POST": owner_only(422)},
    "admin.health_check": NO_GET | {"POST": owner_only(COMMIT)},  # "Check now" keeps the result
    "admin.settings_logo": NO_GET | {"POST": owner_only(422)},  # no file chosen
    "admin.settings_logo_remove": NO_GET | {"POST": owner_only(COMMIT)},
    "admin.payouts": {"GET": owner_only(200)} | NO_POST,
    "admin.payouts_csv": {"GET": owner_only(200)} | NO_POST,
    "admin.reconciliation": {"GET": owner_only(200), "POST": owner_only(COMMIT)},
    "admin.reconciliation_check": {"GET": owner_only(200), "POST": owner_only(COMMIT)},
    "admin.webhook_list": {"GET": owner_only(200)} | NO_POST,
    "admin.contract_list": {"GET": owner_only(200)} | NO_POST,
    "admin.contract_show": {"GET": owner_only(200)} | NO_POST,
    "admin.contract_agreement": {"GET": owner_only(200)} | NO_POST,
    "admin.dispute_list": {"GET": owner_only(200)} | NO_POST,
    "admin.dispute_show": {"GET": owner_only(200)} | NO_POST,
    "admin.dispute_say": NO_GET | {"POST": owner_only(422)},
    "admin.dispute_resolve": NO_GET | {"POST": owner_only(422)},
    "admin.chargeback_list": {"GET": owner_only(200)} | NO_POST,
    "admin.chargeback_show": {"GET": owner_only(200)} | NO_POST,
    "admin.chargeback_evidence": NO_GET | {"POST": owner_only(422)},
    "admin.chargeback_finalize": NO_GET | {"POST": owner_only(422)},
    # ---- development helpers: the inbox (no mail server) and the owner's test processor panel ----------------
    # The inbox (without a mail server only) lists a member's own emails, the owner's all: Bob cannot open an
    # email of A's (its client link and code are not his to read); Fran and the owner can.
    "dev.inbox": {"GET": members(200)} | NO_POST,
    "dev.inbox_email": {"GET": row(LOGIN, LOGIN, LOGIN, LOGIN, 404, 200, 200)} | NO_POST,
    "dev.gateway": {"GET": members(404, owner=200)} | NO_POST,
    "dev.gateway_action": NO_GET | {"POST": members(404, owner=303)},
    # ---- the gateway's notifications: signed, not CSRF-protected; a bad signature is refused ------------------
    "health.healthz": {"GET": everyone(200)} | NO_POST,  # for monitors and flask doctor --check-url
    "webhooks.braintree": NO_GET | {"POST": everyone(403)},  # posted with a bad signature,
}


def url_args(rule, role: str, world: World) -> dict:
    """Real ids for the rule's parameters, from the side of the world this role's URL should carry."""
    names = set(rule.arguments) - set(rule.defaults or {})
    a, b = world.a, world.b
    token, ids = a.token, a
    if "token" in names:
        has_ids = bool(names - {"token"})
        if role == "anon":
            token = bogus_token()
        elif role == "client_other" and has_ids:
            token = b.token
        elif role == "client_cross":
            ids = b
    values = {"token": token, "contract_id": ids.contract_id, "milestone_id": ids.milestone_id,
              "dispute_id": ids.dispute_id, "attempt_id": ids.attempt_id, "key": ids.key, "sale_id": ids.sale_id,
              "chargeback_id": world.chargeback_id, "email_id": world.email_id, "filename": "app.css",
              "member_id": world.member_id, "reset_token": bogus_token()}
    return {name: values[name] for name in names}


class Reached(BaseException):
    """Raised instead of committing: the request got as far as changing something (not an ``Exception``,
    so no ``except Exception`` in the app can swallow it)."""


def outcome(response) -> str | int:
    location = response.headers.get("Location", "")
    if response.status_code in (302, 303) and login_location(location):
        return LOGIN
    if response.status_code == 401 and login_location(response.headers.get("HX-Redirect", "").split("?")[0] + "?"):
        return LOGIN
    if response.status_code == 303 and "/verify" in location:
        return VERIFY
    return response.status_code


@pytest.fixture
def quiet_limits(monkeypatch):
    """The matrix knocks on every door many times: the rate limits (tested in test_rate_limits) are off."""
    monkeypatch.setattr(limiter, "enabled", False)


@pytest.fixture
def hook(app):
    http = app.test_client()

    def post(signed):
        r = post_webhook(http, signed)
        assert r.status_code == 200, r.text
    return post


@pytest.fixture
def world(app, db, make_member, hook, quiet_limits) -> World:
    return build(app, db, make_member, hook)


@pytest.fixture
def no_commits(monkeypatch):
    """Within ``with no_commits():`` a commit raises ``Reached`` and the request's session is rolled back."""
    import contextlib

    @contextlib.contextmanager
    def probe():
        def refuse(self):
            raise Reached
        with monkeypatch.context() as m:
            m.setattr(sqlalchemy.orm.Session, "commit", refuse)
            yield
    return probe


def entries_by_method(entry: dict) -> list[tuple[str, bool, tuple]]:
    """(method, htmx, expected row) for each request of an entry."""
    out = []
    for method in ("GET", "POST"):
        expected = entry[method]
        out.append((method, False, expected))
        out.append((method, True, entry.get(f"HX {method}", expected)))
    return out


#: What a POST sends besides its CSRF token (by default an empty form).
POST_DATA = {"webhooks.braintree": {"bt_signature": "not|a-signature", "bt_payload": "bm90IGEgcGF5bG9hZA=="}}


def send(c, endpoint: str, method: str, url: str, htmx: bool):
    if method == "GET":
        return c.get(url, htmx=htmx)
    return c.post(url, POST_DATA.get(endpoint, {}), htmx=htmx)


def test_every_route_has_an_entry(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    missing = sorted(endpoints - TABLE.keys())
    assert not missing, f"routes without an entry in the route matrix (tests/web/test_route_matrix.py): {missing}"
    gone = sorted(TABLE.keys() - endpoints)
    assert not gone, f"entries of the route matrix for routes that no longer exist: {gone}"
    for endpoint, entry in TABLE.items():
        assert {"GET", "POST"} <= entry.keys(), f"{endpoint}: the matrix needs a GET and a POST row"
        for key, expected in entry.items():
            assert len(expected) == len(ROLES), f"{endpoint} {key}: one outcome per role {ROLES}"


def test_every_route_for_every_role(app, world, no_commits):
    rules = {rule.endpoint: rule for rule in app.url_map.iter_rules()}
    wrong = []
    count = 0
    with app.test_request_context():
        from flask import url_for
        for endpoint, entry in TABLE.items():
            rule = rules[endpoint]
            for method, htmx, expected in entries_by_method(entry):
                for role, want in zip(ROLES, expected):
                    url = url_for(endpoint, **url_args(rule, role, world))
                    with no_commits():
                        try:
                            got = outcome(send(world.browsers[role], endpoint, method, url, htmx))
                        except Reached:
                            got = COMMIT
                    count += 1
                    if got != want:
                        wrong.append(f"{endpoint:38} {'HX ' if htmx else ''}{method:4} {role:12} {url}: "
                                     f"expected {want}, got {got}")
    assert count > 2000, count  # every endpoint × 7 roles × GET and POST × page and htmx
    assert not wrong, "\n".join([f"{len(wrong)} of {count} requests not as the matrix says:"] + wrong)


def test_state_changes_need_the_csrf_token(app, world, no_commits):
    """Every POST route refuses a missing token, and a token of another session, with 400 — for A's freelancer,
    the owner and A's verified client alike, as a form and as htmx; the webhook, signed instead, says 403."""
    rules = [rule for rule in app.url_map.iter_rules() if "POST" in rule.methods]
    others_token = world.browsers["anon"].csrf()  # a valid token, of another session
    attempts = {
        "missing": lambda c, url, data: c.post(url, data, csrf=False),
        "wrong": lambda c, url, data: c.post(url, data | {"csrf_token": others_token}, csrf=False),
        "missing, htmx": lambda c, url, data: c.post(url, data, htmx=True, csrf=False),
        "wrong, htmx": lambda c, url, data: c.post(url, data, htmx=True, csrf=False,
                                                   headers={"X-CSRFToken": others_token}),
    }
    wrong, count = [], 0
    with app.test_request_context():
        from flask import url_for
        for rule in rules:
            want = 403 if rule.endpoint == "webhooks.braintree" else 400
            for role in ("member", "owner", "client"):
                url = url_for(rule.endpoint, **url_args(rule, role, world))
                for how, post in attempts.items():
                    with no_commits():
                        try:
                            got = post(world.browsers[role], url, POST_DATA.get(rule.endpoint, {})).status_code
                        except Reached:
                            got = COMMIT
                    count += 1
                    if got != want:
                        wrong.append(f"{rule.endpoint:38} {role:7} {how:14} {url}: expected {want}, got {got}")
    assert len(rules) > 40 and count == len(rules) * 3 * len(attempts)
    assert not wrong, "\n".join([f"{len(wrong)} of {count} requests without a good CSRF token not refused:"] + wrong)
