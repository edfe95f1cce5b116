"""The shop owner's pages: members and shop settings."""
from __future__ import annotations

from flask import Blueprint, abort, flash, make_response, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from ..domain.fees import percent_label
from ..htmx import respond
from ..services import accounts, payouts as payouts_svc, settings as settings_svc
from ..services.errors import ValidationFailed
from .forms.auth import MemberForm
from .forms.owner import PeriodForm, SettingsForm

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.before_request
@login_required
def owner_only():
    """Only the shop owner; others get a 404 as if the page did not exist."""
    if not current_user.is_owner:
        abort(404)


def _members_page(form: MemberForm, status: int = 200):
    return respond(render_template("owner/members.html", members=settings_svc.members(), form=form), status)


@bp.get("/members")
def member_list():
    """The shop's members and a form to add one."""
    return _members_page(MemberForm())


@bp.post("/members")
def member_create():
    """Add a member (a freelancer of the shop)."""
    form = MemberForm()
    if form.validate():
        try:
            member = accounts.create_member(**form.values())
        except ValidationFailed as exc:
            form.add_errors(exc.errors)
        else:
            flash(f"{member.name} can now log in as {member.email}.", "success")
            return redirect(url_for("admin.member_list"), 303)
    return _members_page(form, 422)


@bp.get("/settings")
def settings():
    """Shop settings: processing fee, amount limits, auto-release days."""
    s = settings_svc.current()
    form = SettingsForm(data={"fee_percent": percent_label(s.fee_bps).rstrip("%"),
                              "min_amount": f"{s.min_amount.normalize():f}",
                              "max_amount": f"{s.max_amount.normalize():f}",
                              "auto_release_days": s.auto_release_days, "shop_name": s.shop_name})
    return render_template("owner/settings.html", form=form)


@bp.post("/settings")
def settings_update():
    """Save the shop settings; sent contracts keep the fee they were sent with."""
    form = SettingsForm()
    if form.validate():
        try:
            settings_svc.update(form.values())
        except ValidationFailed as exc:
            form.add_errors(exc.errors)
        else:
            flash("Settings saved.", "success")
            return redirect(url_for("admin.settings"), 303)
    return respond(render_template("owner/settings.html", form=form), 422)


@bp.get("/payouts")
def payouts():
    """Payouts report: released minus fees, per member and month."""
    form = PeriodForm(request.args)
    return render_template("owner/payouts.html", rows=payouts_svc.report(**form.dates()), form=form)


@bp.get("/payouts.csv")
def payouts_csv():
    """The same report as CSV."""
    response = make_response(payouts_svc.to_csv(payouts_svc.report(**PeriodForm(request.args).dates())))
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    response.headers["Content-Disposition"] = "attachment; filename=payouts.csv"
    return response
