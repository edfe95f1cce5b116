"""Sessions end for real: logout (and a password change) revokes copied cookies; idle and absolute limits."""
from datetime import timedelta

import itsdangerous.timed
from directcontracts.extensions import db as _db
from directcontracts.models import Member
from directcontracts.web.sessions import LOGIN_AT
from tests.conftest import Client


def _cookie(c: Client) -> str:
    return c.http.get_cookie(c.http.application.config["SESSION_COOKIE_NAME"]).value


def _browser_with(app, cookie: str) -> Client:
    """Another browser, holding a copy of someone's session cookie."""
    other = Client(app.test_client())
    other.http.set_cookie(app.config["SESSION_COOKIE_NAME"], cookie)
    return other


def _replayed_post(app, cookie: str, url: str, data: dict, htmx=False):
    """POST with the copied cookie and the CSRF token that goes with it (as the attacker would have it)."""
    thief = _browser_with(app, cookie)
    token = thief.csrf()  # read from a page rendered with the copied session: its CSRF secret still matches
    assert thief._csrf_secret() is not None
    return thief.post(url, data, htmx=htmx, headers={"X-CSRFToken": token} if htmx else {})


def test_a_copied_cookie_stops_working_after_logout(app, logged_in, member, db):
    copied = _cookie(logged_in)
    assert _browser_with(app, copied).get("/contracts").status_code == 200  # the copy works while logged in
    assert logged_in.post("/logout").status_code == 303
    replay = _browser_with(app, copied)
    r = replay.get("/contracts")
    assert r.status_code == 302 and r.location.startswith("/login")
    fragment = replay.get("/notifications", htmx=True)
    assert fragment.status_code == 401 and "<html" not in fragment.text
    assert fragment.headers["HX-Retarget"] == "#notices" and fragment.headers["HX-Redirect"].startswith("/login")
    assert "Your session has ended. Log in again to continue." in fragment.text


def test_a_copied_cookie_cannot_post_after_logout(app, logged_in, member, db):
    from directcontracts.models import Contract
    copied = _cookie(logged_in)
    logged_in.post("/logout")
    page = _replayed_post(app, copied, "/contracts", {"client_name": "C", "client_email": "c@example.com"})
    assert page.status_code == 302 and page.location.startswith("/login")
    htmx = _replayed_post(app, copied, "/contracts", {"client_name": "C", "client_email": "c@example.com"}, htmx=True)
    assert htmx.status_code == 401 and htmx.headers["HX-Retarget"] == "#notices"
    assert db.session.scalar(db.select(db.func.count(Contract.id))) == 0


def test_logout_ends_the_member_s_other_sessions_too(app, client, member, login_as):
    laptop, phone = login_as(member), login_as(member, Client(app.test_client()))
    assert phone.get("/contracts").status_code == 200
    laptop.post("/logout")
    assert phone.get("/contracts").status_code == 302
    login_as(member, phone)  # logging in again starts a new, valid session
    assert phone.get("/contracts").status_code == 200


def test_a_password_change_ends_every_session(app, logged_in, member):
    copied = _cookie(logged_in)
    m = _db.session.get(Member, member.id)
    m.set_password("plum river lantern")
    _db.session.commit()
    assert logged_in.get("/contracts").status_code == 302
    assert _browser_with(app, copied).get("/contracts").status_code == 302


def test_a_session_without_a_version_is_refused(app, logged_in, member):
    with logged_in.http.session_transaction() as session:
        session["_user_id"] = str(member.id)  # as sessions were before versions
    assert logged_in.get("/contracts").status_code == 302


def test_a_session_ends_fourteen_days_after_login_however_busy(app, logged_in):
    assert app.config["MEMBER_SESSION_MAX_AGE"] == timedelta(days=14)
    with logged_in.http.session_transaction() as session:
        session[LOGIN_AT] -= int(timedelta(days=13, hours=23).total_seconds())
    assert logged_in.get("/contracts").status_code == 200
    with logged_in.http.session_transaction() as session:
        session[LOGIN_AT] -= int(timedelta(hours=2).total_seconds())
    assert logged_in.get("/contracts").status_code == 302


class _Clock:
    def __init__(self, at: float):
        self.at = at

    def time(self) -> float:
        return self.at


def test_a_session_ends_after_twelve_idle_hours_and_each_request_renews_it(app, logged_in, monkeypatch):
    import time
    assert app.permanent_session_lifetime == timedelta(hours=12)
    r = logged_in.get("/contracts")
    set_cookie = r.headers["Set-Cookie"]
    assert "Expires=" in set_cookie and "HttpOnly" in set_cookie  # re-signed on each request: a sliding limit
    signed = _cookie(logged_in)
    serializer = app.session_interface.get_signing_serializer(app)
    data = serializer.loads(signed)
    # the same session, as if its cookie had last been signed 11 h or 13 h ago
    for hours, status in ((11, 200), (13, 302)):
        monkeypatch.setattr(itsdangerous.timed, "time", _Clock(time.time() - hours * 3600))
        old = serializer.dumps(data)
        monkeypatch.undo()
        assert _browser_with(app, old).get("/contracts").status_code == status


def test_logging_in_starts_a_fresh_session(app, client, member):
    with client.http.session_transaction() as session:
        session["planted"] = "by someone else"
    from tests.conftest import PASSWORD
    client.post("/login", {"email": member.email, "password": PASSWORD})
    with client.http.session_transaction() as session:
        assert "planted" not in session and session.permanent
