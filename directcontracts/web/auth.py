"""Members log in and out; the very first visit sets up the owner."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user

from ..htmx import respond
from ..services import accounts
from ..services.errors import ServiceError, ValidationFailed
from . import limits
from .forms.auth import LoginForm, SetupForm

bp = Blueprint("auth", __name__)


def _safe_next(target: str | None) -> str:
    """Only same-site relative paths; anything else goes to the contract list."""
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return url_for("freelancer.contract_list")


@bp.before_app_request
def require_setup():
    """Until an owner exists, every page leads to the setup page."""
    if request.endpoint in ("auth.setup", "auth.setup_create", "static") or request.blueprint in ("client", "webhooks"):
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
            login_user(member)
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
    login_user(member)
    return redirect(_safe_next(form.next.data), 303)


@bp.post("/logout")
@login_required
def logout():
    """Log out (POST, so a link elsewhere cannot log you out)."""
    logout_user()
    flash("You are logged out.", "info")
    return redirect(url_for("auth.login"), 303)
