"""Development helpers: the local inbox (with no mail server, every email is kept and shown here) and the
test payment processor panel (with the offline test gateway, the owner plays the processor's side)."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, has_request_context, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from ..services import chargebacks, demo_gateway, mailer
from ..services.errors import InvalidTransition

bp = Blueprint("dev", __name__, url_prefix="/dev")


@bp.before_request
@login_required
def members_only():
    """Members only; the inbox only when no real mail server is configured, the processor panel only for the
    owner on the offline test gateway (404 otherwise, as if the page did not exist)."""
    if (request.endpoint or "").startswith("dev.gateway"):
        if not gateway_panel_shown():
            abort(404)
    elif current_app.config.get("MAIL_SERVER"):
        abort(404)


def gateway_panel_shown() -> bool:
    """Whether the current member may use the test processor panel: the owner, on the test gateway."""
    return (has_request_context() and current_user.is_authenticated and current_user.is_owner
            and demo_gateway.available())


@bp.app_context_processor
def gateway_panel_link():
    """``dev_gateway``: base.html shows the "Test processor" link beside "Inbox" when it is true."""
    return {"dev_gateway": gateway_panel_shown()}


@bp.get("/inbox")
def inbox():
    """The emails the app has written that this member may read (the owner: all), newest first."""
    return render_template("dev/inbox.html", emails=mailer.recent(current_user))


@bp.get("/inbox/<int:email_id>")
def inbox_email(email_id: int):
    """One email: its HTML body (our own escaped templates) and its plain text."""
    email = mailer.get(email_id, current_user) or abort(404)
    return render_template("dev/email.html", email=email)


@bp.get("/gateway")
def gateway():
    """The test gateway's sales, newest first, each with what the processor could do next (owner only)."""
    return render_template("dev/gateway.html", sales=demo_gateway.sales(), reasons=demo_gateway.REASONS,
                           reason_words=chargebacks.reason_words)


@bp.post("/gateway/<sale_id>")
def gateway_action(sale_id: str):
    """Do what the form asks to the sale as the processor, deliver its notification; 303 back with a flash."""
    try:
        flash(demo_gateway.act(sale_id, request.form.get("action", ""), request.form.get("reason")), "success")
    except InvalidTransition as exc:
        flash(str(exc), "error")
    return redirect(url_for("dev.gateway"), 303)
