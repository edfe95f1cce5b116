"""Members log in and out and change their password (or reset a forgotten one by email); the very first
visit sets up the owner, and the setup page closes for good once any member exists."""
from __future__ import annotations

from urllib.parse import unquote, urlsplit, urlunsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from werkzeug.exceptions import HTTPException
from werkzeug.routing import RequestRedirect

from ..htmx import respond
from ..services import accounts, preferences
from ..services.errors import ServiceError, ValidationFailed
from . import limits, sessions
from .forms.auth import (
    LoginForm, PasswordChangeForm, PasswordForgotForm, PasswordResetForm, PreferencesForm, SetupForm,
)
from .helpers import zone_choices

bp = Blueprint("auth", __name__)


def _unsafe(text: str) -> bool:
    """Whitespace, control characters and backslashes: browsers and Werkzeug drop or reinterpret them."""
    return "\\" in text or any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in text)


def safe_next(target: str | None) -> str:
    """Where to go after logging in: ``target`` if it is a page of this site, else the contract list.

    Only a path (and query) that this app serves by GET is followed. A scheme, a
    host, a path starting ``//``, backslashes, whitespace or control characters
    — raw, or percent-encoded in the path, where a browser or Werkzeug would
    decode, strip or read them as ``/`` — send the member to their contract
    list instead.
    """
    fallback = url_for("freelancer.contract_list")
    if not target or _unsafe(target):
        return fallback
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return fallback
    path = parts.path
    for _ in range(4):  # "%252F" is "%2F" once decoded: look through every layer of encoding
        if _unsafe(path) or not path.startswith("/") or path.startswith("//"):
            return fallback
        path, encoded = unquote(path), path
        if path == encoded:
            break
    else:
        return fallback  # encoded over and over: no page of ours needs that
    try:
        current_app.url_map.bind("localhost").match(path, method="GET")
    except RequestRedirect:
        pass  # a page of ours that Werkzeug redirects to its canonical URL (a trailing slash)
    except HTTPException:
        return fallback  # no such page, or one that only takes POST
    return urlunsplit(("", "", parts.path, parts.query, ""))


@bp.before_app_request
def require_setup():
    """Until an owner exists, every page leads to the setup page (not ``/healthz``: a monitor must see "ok")."""
    if request.endpoint in ("auth.setup", "auth.setup_create", "static") or request.blueprint in ("client", "webhooks",
                                                                                                  "health"):
        return None
    if not accounts.members_exist():
        return redirect(url_for("auth.setup"))
    return None


@bp.get("/")
def home():
    """Members go to their contracts; others to the login page."""
    if current_user.is_authenticated:
        return redirect(url_for("freelancer.contract_list"))
    return redirect(url_for("auth.login"))


@bp.get("/setup")
def setup():
    """First-run page that creates the shop owner; gone once a member exists."""
    if accounts.member_count():
        return redirect(url_for("auth.login"))
    return render_template("auth/setup.html", form=SetupForm())


@bp.post("/setup")
def setup_create():
    """Create the owner and log them in. Refused once any member exists."""
    form = SetupForm()
    if form.validate():
        try:
            member = accounts.setup_owner(**form.values())
        except ValidationFailed as exc:
            form.add_errors(exc.errors)
        except accounts.SetupDone as exc:
            flash(str(exc), "info")
            return redirect(url_for("auth.login"), 303)
        else:
            sessions.start(member)
            flash("Your shop is ready. Create your first contract.", "success")
            return redirect(url_for("freelancer.contract_list"), 303)
    return respond(render_template("auth/setup.html", form=form), 422)


@bp.get("/login")
def login():
    """The login form."""
    if current_user.is_authenticated:
        return redirect(url_for("freelancer.contract_list"))
    return render_template("auth/login.html", form=LoginForm(data={"next": request.args.get("next", "")}))


@bp.post("/login")
@limits.login
def login_submit():
    """Log in; one message for unknown email and wrong password."""
    form = LoginForm()
    try:
        member = accounts.authenticate(form.email.data, form.password.data)
    except ServiceError as exc:
        return respond(render_template("auth/login.html", form=form, error=str(exc)), 401)
    sessions.start(member)
    return redirect(safe_next(form.next.data), 303)


@bp.post("/logout")
@login_required
def logout():
    """Log out (POST, so a link elsewhere cannot log you out): every session of the member ends."""
    sessions.end(current_user)
    flash("You are logged out.", "info")
    return redirect(url_for("auth.login"), 303)


@bp.get("/account/password")
@login_required
def password_form():
    """A member's form to change their own password."""
    return render_template("auth/password.html", form=PasswordChangeForm())


@bp.post("/account/password")
@login_required
@limits.password_change
def password_change():
    """Change the member's password (the current one required); their other sessions end, this one goes on."""
    form = PasswordChangeForm()
    member = form.submit(accounts.change_password, current_user._get_current_object(),
                         form.current_password.data, form.password.data)
    if member is None:
        return respond(render_template("auth/password.html", form=form), 422)
    sessions.start(member)  # the version moved on: this browser gets a fresh session, every other one ended
    flash("Your password is changed. You were logged out everywhere else.", "success")
    return redirect(url_for("freelancer.contract_list"), 303)


@bp.get("/account")
@login_required
def account():
    """A member's account: their time zone and locale (or the shop's), and a link to change the password."""
    member = current_user._get_current_object()
    return _account_page(PreferencesForm(formdata=None, data={"time_zone": member.time_zone or "",
                                                              "locale": member.locale or ""}))


def _account_page(form: PreferencesForm, status: int = 200):
    return respond(render_template("auth/account.html", form=form, shop=preferences.shop_display(),
                                   **zone_choices()), status)


@bp.post("/account")
@login_required
def account_update():
    """Save the member's time zone and locale; a zone or locale not on the lists is refused beside its field."""
    form = PreferencesForm()
    if not form.submit(preferences.update_member, current_user._get_current_object(),
                       **form.values("time_zone", "locale")):
        return _account_page(form, 422)
    flash("Saved: dates, times and amounts now show in your time zone and locale.", "success")
    return redirect(url_for("auth.account"), 303)


@bp.get("/password/forgot")
def password_forgot_form():
    """Ask for a password reset link by email."""
    return render_template("auth/password_forgot.html", form=PasswordForgotForm())


@bp.post("/password/forgot")
@limits.password_forgot
def password_forgot():
    """Email a reset link if the email belongs to an active member; say the same either way."""
    form = PasswordForgotForm()
    if not form.validate():
        return respond(render_template("auth/password_forgot.html", form=form), 422)
    accounts.request_reset(form.email.data)
    flash(f"If {form.email.data} is the email of an account here, it has been sent a link to choose a new "
          "password. The link works once, for one hour.", "info")
    return redirect(url_for("auth.login"), 303)


@bp.get("/password/reset/<reset_token>")
def password_reset_form(reset_token: str):
    """The new-password form of an emailed reset link; 410 when the link is used, expired or unknown."""
    member = accounts.reset_member(reset_token)
    return render_template("auth/password_reset.html", form=PasswordResetForm(), member=member,
                           reset_token=reset_token)


@bp.post("/password/reset/<reset_token>")
@limits.password_reset
def password_reset(reset_token: str):
    """Set the new password (once per link); every session of the member ends, and they log in with it."""
    member, form = accounts.reset_member(reset_token), PasswordResetForm()
    if form.submit(accounts.reset_password, reset_token, form.password.data) is None:
        return respond(render_template("auth/password_reset.html", form=form, member=member,
                                       reset_token=reset_token), 422)
    flash("Your password is changed. Log in with it.", "success")
    return redirect(url_for("auth.login"), 303)
