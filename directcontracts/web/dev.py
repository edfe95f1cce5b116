"""The local inbox: with no mail server, every email is kept and shown here."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, render_template
from flask_login import login_required

from ..services import mailer

bp = Blueprint("dev", __name__, url_prefix="/dev")


@bp.before_request
@login_required
def members_only():
    """Members only, and only when no real mail server is configured."""
    if current_app.config.get("MAIL_SERVER"):
        abort(404)


@bp.get("/inbox")
def inbox():
    """Every email the app has written, newest first."""
    return render_template("dev/inbox.html", emails=mailer.recent())


@bp.get("/inbox/<int:email_id>")
def inbox_email(email_id: int):
    """One email: its HTML body (our own escaped templates) and its plain text."""
    email = mailer.get(email_id) or abort(404)
    return render_template("dev/email.html", email=email)
