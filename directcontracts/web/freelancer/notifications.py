"""The bell: the member's notifications, marking them read, and the unread count."""
from __future__ import annotations

from flask import redirect, render_template, url_for
from flask_login import current_user

from ...htmx import respond
from ...services import activity
from . import bp


@bp.get("/notifications")
def notification_list():
    """The member's notifications, newest first; the mediator's about other members' contracts link to
    the owner's read-only page of the contract."""
    return render_template("freelancer/notifications.html", notes=activity.recent_notifications(current_user.id))


@bp.post("/notifications/read")
def notification_read_all():
    """Mark every notification read."""
    activity.mark_all_read(current_user.id)
    return redirect(url_for("freelancer.notification_list"), 303)


@bp.get("/notifications/count")
def notification_count():
    """The bell's badge (polled lightly by htmx)."""
    return respond(render_template("partials/_bell_count.html", unread_count=activity.unread_count(current_user.id)))
