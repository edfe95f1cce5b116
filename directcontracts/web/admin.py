"""The shop owner's pages: members and shop settings."""
from __future__ import annotations

from datetime import date

from flask import Blueprint, abort, flash, make_response, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from ..domain.fees import percent_label
from ..htmx import respond
from ..services import accounts, payouts as payouts_svc, settings as settings_svc
from ..services.errors import ValidationFailed

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.before_request
@login_required
def owner_only():
    """Only the shop owner; others get a 404 as if the page did not exist."""
    if not current_user.is_owner:
        abort(404)


@bp.get("/members")
def member_list():
    """The shop's members and a form to add one."""
    return render_template("owner/members.html", members=settings_svc.members(), form={}, errors={})


@bp.post("/members")
def member_create():
    """Add a member (a freelancer of the shop)."""
    form = request.form
    try:
        member = accounts.create_member(form.get("email", ""), form.get("name", ""), form.get("password", ""))
    except ValidationFailed as exc:
        return respond(render_template("owner/members.html", members=settings_svc.members(),
                                       form=form, errors=exc.errors), 422)
    flash(f"{member.name} can now log in as {member.email}.", "success")
    return redirect(url_for("admin.member_list"), 303)


@bp.get("/settings")
def settings():
    """Shop settings: processing fee, amount limits, auto-release days."""
    s = settings_svc.current()
    form = {"fee_percent": percent_label(s.fee_bps).rstrip("%"), "min_amount": f"{s.min_amount.normalize():f}",
            "max_amount": f"{s.max_amount.normalize():f}", "auto_release_days": s.auto_release_days,
            "shop_name": s.shop_name}
    return render_template("owner/settings.html", form=form, errors={})


@bp.post("/settings")
def settings_update():
    """Save the shop settings; sent contracts keep the fee they were sent with."""
    try:
        settings_svc.update(request.form)
    except ValidationFailed as exc:
        return respond(render_template("owner/settings.html", form=request.form, errors=exc.errors), 422)
    flash("Settings saved.", "success")
    return redirect(url_for("admin.settings"), 303)


def _period():
    """The report's date range from ?start=&end= (YYYY-MM-DD); bad dates are ignored, with a message."""
    values, errors = {}, {}
    for name in ("start", "end"):
        raw = request.args.get(name, "").strip()
        try:
            values[name] = date.fromisoformat(raw) if raw else None
        except ValueError:
            values[name], errors[name] = None, "Use the date picker (YYYY-MM-DD)."
    return values, errors


@bp.get("/payouts")
def payouts():
    """Payouts report: released minus fees, per member and month."""
    period, errors = _period()
    return render_template("owner/payouts.html", rows=payouts_svc.report(**period), errors=errors,
                           form={k: request.args.get(k, "") for k in ("start", "end")})


@bp.get("/payouts.csv")
def payouts_csv():
    """The same report as CSV."""
    period, _ = _period()
    response = make_response(payouts_svc.to_csv(payouts_svc.report(**period)))
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    response.headers["Content-Disposition"] = "attachment; filename=payouts.csv"
    return response
