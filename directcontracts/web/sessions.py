"""Member sessions: what the session cookie holds, how long it lasts, and how it is ended.

Flask keeps the session in a signed cookie, so deleting it on logout does not
stop a copy of it from working. Each member therefore has a
``session_version``; a session holds the version it started with (Flask-Login
keeps ``Member.get_id()``, "12:3") and the member loader refuses it once the
two differ. Logging out moves the version on (``accounts.end_sessions``), which
ends that member's sessions everywhere, a copied cookie included.

A session also ends after ``PERMANENT_SESSION_LIFETIME`` without a request
(the cookie is re-signed on every request, so the limit slides), and in any
case ``MEMBER_SESSION_MAX_AGE`` after the login.
"""
from __future__ import annotations

import time

from flask import Flask, current_app, session
from flask_login import login_user, logout_user

from ..models import Member
from ..services import accounts

#: When the member logged in (seconds since the epoch), for the absolute limit.
LOGIN_AT = "login_at"


def start(member: Member) -> None:
    """Log ``member`` in, in a fresh session that carries their current session version."""
    session.clear()  # nothing from before the login (a form's CSRF secret, flashes) carries into it
    login_user(member)
    session.permanent = True
    session[LOGIN_AT] = int(time.time())


def end(member: Member) -> None:
    """Log ``member`` out and end every session of theirs (other browsers and copied cookies too)."""
    accounts.end_sessions(member)
    logout_user()
    session.clear()


def load_member(token: str) -> Member | None:
    """Flask-Login's loader: the member this session names, or None if it has ended (then: logged out)."""
    member_id, _, version = (token or "").partition(":")
    if not (member_id.isdigit() and version.isdigit()):
        return None  # a session from before versions existed: log in again
    login_at = session.get(LOGIN_AT)
    max_age = current_app.config["MEMBER_SESSION_MAX_AGE"].total_seconds()
    if not isinstance(login_at, int) or time.time() - login_at > max_age:
        return None
    return accounts.session_member(int(member_id), int(version))


def register(app: Flask) -> None:
    """Install the loader, and make every session that holds something expire after inactivity."""
    from ..extensions import login_manager

    login_manager.user_loader(load_member)

    @app.before_request
    def sliding_session():
        # A session that is not "permanent" would be re-signed only when it changes, so it would
        # expire PERMANENT_SESSION_LIFETIME after its first write however busy its browser was.
        if session and not session.permanent:
            session.permanent = True
