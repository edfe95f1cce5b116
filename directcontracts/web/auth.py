"""Members log in and out; the very first visit sets up the owner."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user

from ..htmx import respond
from ..services import accounts
from ..services.errors import ServiceError, ValidationFailed

bp = Blueprint("auth", __name__)


def _safe_next(target: str | None) -> str:
    """Only same-site relative paths; anything else goes to the contract list."""
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return url_for("freelancer.contract_list")


@bp.before_app_request
def require_setup():
    """Until an owner exists, every page leads to the setup page."""
    if request.endpoint in ("auth.setup", "auth.setup_create", "static") or request.blueprint == "client":
        return None
    if accounts.member_count() == 0:
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
    return render_template("auth/setup.html", form={}, errors={})


@bp.post("/setup")
def setup_create():
    """Create the owner and log them in. Refused once any member exists."""
    form = request.form
    try:
        member = accounts.setup_owner(form.get("email", ""), form.get("name", ""), form.get("password", ""))
    except ValidationFailed as exc:
        return respond(render_template("auth/setup.html", form=form, errors=exc.errors), 422)
    except accounts.SetupDone as exc:
        flash(str(exc), "info")
        return redirect(url_for("auth.login"), 303)
    login_user(member)
    flash("Your shop is ready. Create your first contract.", "success")
    return redirect(url_for("freelancer.contract_list"), 303)


@bp.get("/login")
def login():
    """The login form."""
    if current_user.is_authenticated:
        return redirect(url_for("freelancer.contract_list"))
    return render_template("auth/login.html", email="", error=None, next=request.args.get("next", ""))


@bp.post("/login")
def login_submit():
    """Log in; one message for unknown email and wrong password."""
    email = request.form.get("email", "")
    try:
        member = accounts.authenticate(email, request.form.get("password", ""))
    except ServiceError as exc:
        return respond(render_template("auth/login.html", email=email, error=str(exc),
                                       next=request.form.get("next", "")), 401)
    login_user(member)
    return redirect(_safe_next(request.form.get("next")), 303)


@bp.post("/logout")
@login_required
def logout():
    """Log out (POST, so a link elsewhere cannot log you out)."""
    logout_user()
    flash("You are logged out.", "info")
    return redirect(url_for("auth.login"), 303)
