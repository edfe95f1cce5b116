"""The shop owner's pages: members, shop settings (with the health panel), payouts; the dispute queue and decisions (the owner
mediates every dispute); and a read-only view of every member's contracts."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, make_response, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from ..domain import brand as brand_rules
from ..domain.fees import percent_label
from ..domain.states import LIST_STATUSES
from ..htmx import respond, wants_fragment
from .helpers import arg_id, zone_choices
from ..services import accounts, activity, agreement, contract_queries, disputes, ledger, refunds, thread
from ..services import payouts as payouts_svc, settings as settings_svc
from ..services import brand as brand_svc, gateway_audit, health
from ..services.errors import InvalidTransition, ValidationFailed
from . import dispute_page
from .forms.auth import MemberActionForm, MemberForm
from .forms.disputes import ResolveForm, SayForm
from .forms.owner import CheckNowForm, LogoForm, LogoRemoveForm, PeriodForm, SettingsForm

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.before_request
@login_required
def owner_only():
    """Only the shop owner; others get a 404 as if the page did not exist."""
    if not current_user.is_owner:
        abort(404)


def _members_page(form: MemberForm, status: int = 200):
    return respond(render_template("owner/members.html", members=settings_svc.members(), form=form,
                                   action_form=MemberActionForm()), status)


def _member_confirm(member_id: int, action: str):
    return render_template("owner/member_confirm.html", member=settings_svc.member(member_id), action=action,
                           form=MemberActionForm())


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


@bp.get("/members/<int:member_id>/deactivate")
def member_deactivate_confirm(member_id: int):
    """Ask before deactivating: what happens to the member, their sessions, contracts and clients."""
    return _member_confirm(member_id, "deactivate")


@bp.post("/members/<int:member_id>/deactivate")
def member_deactivate(member_id: int):
    """Deactivate a member: no more logins, every session of theirs ends now; their contracts stay.
    Raises NotFound, or ValidationFailed (the owner, or already deactivated)."""
    member = accounts.deactivate(current_user, member_id)
    flash(f"{member.name} is deactivated and logged out everywhere. Their contracts are under All contracts.",
          "success")
    return redirect(url_for("admin.member_list"), 303)


@bp.post("/members/<int:member_id>/reactivate")
def member_reactivate(member_id: int):
    """Let a deactivated member log in again, with their old password. Raises NotFound or ValidationFailed."""
    member = accounts.reactivate(current_user, member_id)
    flash(f"{member.name} can log in again as {member.email}, with their old password.", "success")
    return redirect(url_for("admin.member_list"), 303)


@bp.get("/members/<int:member_id>/owner")
def ownership_confirm(member_id: int):
    """Ask before handing ownership on: the owner's pages become theirs and no longer the current owner's."""
    return _member_confirm(member_id, "ownership")


@bp.post("/members/<int:member_id>/owner")
def ownership_transfer(member_id: int):
    """Make another active member the owner; the current owner becomes a member. Raises NotFound or
    ValidationFailed."""
    member = accounts.transfer_ownership(current_user, member_id)
    flash(f"{member.name} is now the owner of the shop. You are a member.", "success")
    return redirect(url_for("freelancer.contract_list"), 303)


def _saved_settings_form() -> SettingsForm:
    """The settings form filled with what is saved."""
    s = settings_svc.current()
    saved = {"fee_percent": percent_label(s.fee_bps).rstrip("%"), "min_amount": f"{s.min_amount.normalize():f}",
             "max_amount": f"{s.max_amount.normalize():f}", "auto_release_days": s.auto_release_days,
             "shop_name": s.shop_name, "dispute_response_days": s.dispute_response_days,
             "accent_colour": s.accent_colour or "", "contact_email": s.contact_email or "",
             "time_zone": s.time_zone, "locale": s.locale}
    return SettingsForm(formdata=None, data=saved)


@bp.get("/settings")
def settings():
    """Shop settings: the brand (name, accent, contact, logo), processing fee, amount limits, auto-release days."""
    return _settings_page(_saved_settings_form())


def _settings_page(form: SettingsForm, status: int = 200, logo_form: LogoForm | None = None):
    """The settings form, the logo's, and the health panel as last checked (the checks are not run here)."""
    return respond(render_template("owner/settings.html", form=form, logo_form=logo_form or LogoForm(formdata=None),
                                   logo_rules=brand_rules, health=health.cached(), **zone_choices()), status)


@bp.post("/settings/logo")
def settings_logo():
    """Upload the shop's logo (PNG, JPEG or WebP, checked by content); 422 with the reason beside the field."""
    form = LogoForm()
    if form.submit(lambda: brand_svc.save_logo(form.data_bytes())) is None:
        return _settings_page(_saved_settings_form(), 422, logo_form=form)
    flash("Logo saved: clients see it on their pages and in the emails sent from now on.", "success")
    return redirect(url_for("admin.settings", _anchor="brand"), 303)


@bp.post("/settings/logo/remove")
def settings_logo_remove():
    """Remove the shop's logo: pages and emails show the shop name alone."""
    LogoRemoveForm().validate()  # only the CSRF token, which CSRFProtect has checked already
    brand_svc.remove_logo()
    flash("Logo removed.", "success")
    return redirect(url_for("admin.settings", _anchor="brand"), 303)


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
    return _settings_page(form, 422)


@bp.post("/settings/health")
def health_check():
    """"Check now": run the health checks (calls the gateway and the mail server) and keep the result.

    htmx gets the panel back; without JavaScript, a 303 to the settings page.
    """
    if not CheckNowForm().validate():  # only the CSRF token, which CSRFProtect has checked already
        abort(400)
    health.refresh()
    if wants_fragment():
        return respond(render_template("owner/partials/_health.html", health=health.cached()))
    flash("Health checked.", "success")
    return redirect(url_for("admin.settings"), 303)


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


# ---- disputes: the mediator's queue and decisions -------------------------------

@bp.get("/disputes")
def dispute_list():
    """The queue: open disputes, the nearest deadline first, then the recently closed ones."""
    return render_template("owner/disputes.html", open_disputes=disputes.queue("open"),
                           closed=disputes.queue("closed")[:20], said=_who_spoke)


def _who_spoke(d) -> set[str]:
    """The sides (client, freelancer) that have written on the dispute so far."""
    return {x.author for x in thread.messages(d.contract, dispute=d)}


def _dispute(dispute_id: int):
    return contract_queries.dispute_for_shop(dispute_id, current_user)


def _dispute_page(d, status: int = 200, template: str = "owner/dispute.html", **context):
    context.setdefault("say_form", SayForm(formdata=None))
    context.setdefault("resolve_form", ResolveForm(formdata=None))
    return respond(render_template(template, **dispute_page.facts(d, "owner"), **context,
                                   back_url=url_for("admin.dispute_show", dispute_id=d.id)), status)


@bp.get("/disputes/<int:dispute_id>")
def dispute_show(dispute_id: int):
    """One dispute: what both sides said, the offer, the deadline, and the decision form."""
    return _dispute_page(_dispute(dispute_id))


@bp.post("/disputes/<int:dispute_id>/messages")
def dispute_say(dispute_id: int):
    """A message from the mediator to both sides."""
    d, form = _dispute(dispute_id), SayForm()
    if form.validate():
        try:
            disputes.say(d, by="owner", body=form.body.data, name=current_user.name)
        except ValidationFailed as exc:
            form.add_errors(exc.errors)
        else:
            flash("Message sent to both sides.", "success")
            return redirect(url_for("admin.dispute_show", dispute_id=d.id), 303)
    return _dispute_page(d, 422, say_form=form)


def _checked_decision(d, form: ResolveForm) -> int | None:
    """The freelancer's part of the decision the form asks for; None with the errors on the form."""
    if not form.validate():
        return None
    try:
        return disputes.mediator_part(d, form.kind.data, form.release.data)
    except ValidationFailed as exc:
        form.add_errors(exc.errors)
    except InvalidTransition as exc:
        form.add_errors({"kind": str(exc)})
    return None


@bp.post("/disputes/<int:dispute_id>/resolve")
def dispute_resolve(dispute_id: int):
    """Decide (release all, refund all, or split) with a reason both sides read; first confirm the amounts."""
    d, form = _dispute(dispute_id), ResolveForm()
    release_minor = _checked_decision(d, form)
    if release_minor is None:
        return _dispute_page(d, 422, resolve_form=form)
    if not form.confirmed.data:
        return _dispute_page(d, template="owner/dispute_confirm.html", action="resolve",
                             **dispute_page.confirmation(d, release_minor, kind=form.kind.data,
                                                         release=form.release.data or "",
                                                         reason=form.reason.data))
    problem, status = dispute_page.attempt(disputes.resolve, d, current_user, **form.values())
    if problem:
        return _dispute_page(d, status, problem=problem)
    flash(dispute_page.done_unless_queued(d, "Decided. Both sides have been emailed the decision and your reason."),
          "success")
    return redirect(url_for("admin.dispute_show", dispute_id=d.id), 303)


# ---- every member's contracts, read-only -----------------------------------------

@bp.get("/contracts")
def contract_list():
    """Every contract of the shop, newest activity first; ?status= filters (as a member's own list)."""
    status = request.args.get("status") or None
    if status not in LIST_STATUSES:
        status = None
    page = contract_queries.list_for_shop(status, arg_id("page", 1),
                                          current_app.config["CONTRACTS_PER_PAGE"])
    return render_template("owner/contracts.html", page=page, status=status, states=LIST_STATUSES)


@bp.get("/contracts/<int:contract_id>")
def contract_show(contract_id: int):
    """One contract, read-only: milestones, money, disputes, thread and timeline; no buttons."""
    contract = contract_queries.get_for_shop(contract_id, current_user)
    money, per_milestone = ledger.money_of(contract)
    return render_template("owner/contract.html", contract=contract, timeline=activity.timeline(contract),
                           money=money, per_milestone=per_milestone, refunding=refunds.in_flight(contract),
                           messages=thread.messages(contract), disputes=disputes.for_contract(contract),
                           signed=bool(contract_queries.signed_ids([contract])))


@bp.get("/contracts/<int:contract_id>/agreement")
def contract_agreement(contract_id: int):
    """The agreement a member's client signed, printable, as the member sees it (read-only, the owner only)."""
    contract = contract_queries.get_for_shop(contract_id, current_user)
    return render_template("freelancer/agreement.html", contract=contract, agreement=agreement.signed(contract),
                           back=url_for("admin.contract_show", contract_id=contract.id))


# ---- reconciliation: the books against the gateway's own records -----------------

@bp.get("/reconciliation")
def reconciliation():
    """The last comparison of the books with the gateway's records, as kept (the gateway is not called)."""
    return render_template("owner/reconciliation.html", run=gateway_audit.latest(),
                           days=gateway_audit.DEFAULT_DAYS)


@bp.post("/reconciliation")
def reconciliation_check():
    """"Check now": compare the last DEFAULT_DAYS days with the gateway now; the result is kept and shown."""
    report, _ = gateway_audit.run()
    if report.ok:
        flash("Checked: the books match the gateway's records.", "success")
    elif not report.reachable:
        flash("The gateway could not be reached: nothing was compared. Try again in a few minutes.", "error")
    else:
        flash(f"Checked: {len(report.problems)} mismatch(es) with the gateway's records, listed below.", "error")
    return redirect(url_for("admin.reconciliation"), 303)
