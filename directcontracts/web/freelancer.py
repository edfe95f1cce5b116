"""The freelancer's portal: the Direct Contracts list and the contract builder.

Views parse the request, call one service, and choose a template and status.
Milestone endpoints answer htmx with fragments and plain browsers with
redirects (or the full page on a validation error), so the editor works
without JavaScript too.
"""
from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from ..domain.money import SUPPORTED_CURRENCIES
from ..domain.states import LIST_STATUSES, milestone_edit_refusal
from ..htmx import respond, wants_fragment
from ..services import actions, activity, funding, ledger, lifecycle, mailer, refunds
from ..services import settings as settings_svc
from ..services import contracts as svc
from ..services.errors import InvalidTransition, ValidationFailed
from . import errors

bp = Blueprint("freelancer", __name__)

#: The contract builder's steps, in order; each is a ``contract_<step>`` view, and
#: each step's form takes ``next=<step>`` to save and then go there.
BUILDER_STEPS = ("client", "terms", "review")


@bp.before_request
@login_required
def require_login():
    """Every page of the portal is for logged-in members."""


def _contract(contract_id: int):
    """The member's contract; a 404 (by the error handler) if there is none or it is not theirs."""
    return svc.get_for_member(contract_id, current_user)


def _terms_page(contract, status: int = 200, *, editing: int | None = None, row_form=None,
                row_errors=None, add_form=None, add_errors=None, terms_form=None, terms_errors=None):
    """The terms step with the milestone editor; used for plain (no-JS) responses too."""
    body = render_template(
        "freelancer/terms.html", contract=contract, summary=svc.summary_of(contract),
        milestone_actions=actions.milestone_actions(contract, "freelancer"),
        currencies=SUPPORTED_CURRENCIES, editing=editing, row_form=row_form or {},
        row_errors=row_errors or {}, add_form=add_form or {}, add_errors=add_errors or {},
        terms_form=terms_form, terms_errors=terms_errors or {},
    )
    return respond(body, status)


def _back_to_terms(contract, anchor: str = "milestones"):
    return redirect(url_for("freelancer.contract_terms", contract_id=contract.id, _anchor=anchor), 303)


#: A refused action goes back to the contract's page, except from these endpoints (→ where).
REFUSED_BACK = {"freelancer.contract_send": "freelancer.contract_review"}


@bp.errorhandler(InvalidTransition)
def refused(exc: InvalidTransition):
    """Any refused action of the portal: a notice in the flash area (htmx), or flash + 303 back."""
    contract_id = (request.view_args or {}).get("contract_id")
    if contract_id is None:
        return errors.refused(exc, url_for("freelancer.contract_list"))
    back = REFUSED_BACK.get(request.endpoint, "freelancer.contract_show")
    return errors.refused(exc, url_for(back, contract_id=contract_id))


# ---- list ------------------------------------------------------------------

@bp.get("/contracts")
def contract_list():
    """All of the member's contracts, newest activity first; ?status= filters."""
    status = request.args.get("status") or None
    if status not in LIST_STATUSES:
        status = None
    page = svc.list_for_member(current_user, status, request.args.get("page", 1, type=int),
                               current_app.config["CONTRACTS_PER_PAGE"])
    return render_template("freelancer/index.html", page=page, status=status, states=LIST_STATUSES,
                           totals=svc.money_totals(current_user))


# ---- step 1: client --------------------------------------------------------

@bp.get("/contracts/new")
def contract_new():
    """Step 1 of a new contract: the client's details."""
    return render_template("freelancer/client_details.html", contract=None, form={}, errors={})


@bp.post("/contracts")
def contract_create():
    """Create the draft from the client's details, then go to the terms."""
    try:
        contract = svc.create_draft(current_user, client_name=request.form.get("client_name", ""),
                                    client_email=request.form.get("client_email", ""),
                                    client_company=request.form.get("client_company", ""))
    except ValidationFailed as exc:
        return respond(render_template("freelancer/client_details.html", contract=None, form=request.form,
                                       errors=exc.errors), 422)
    return redirect(url_for("freelancer.contract_terms", contract_id=contract.id), 303)


@bp.get("/contracts/<int:contract_id>/client")
def contract_client(contract_id: int):
    """Edit the client's details of a draft."""
    contract = _contract(contract_id)
    form = {"client_name": contract.client_name, "client_email": contract.client_email,
            "client_company": contract.client_company}
    return render_template("freelancer/client_details.html", contract=contract, form=form, errors={})


@bp.post("/contracts/<int:contract_id>/client")
def contract_client_update(contract_id: int):
    """Save the client's details; on to the terms, or to the step its ``next`` names. 422 keeps the input."""
    contract = _contract(contract_id)
    try:
        svc.update_client(contract, current_user, client_name=request.form.get("client_name", ""),
                          client_email=request.form.get("client_email", ""),
                          client_company=request.form.get("client_company", ""))
    except ValidationFailed as exc:
        return respond(render_template("freelancer/client_details.html", contract=contract,
                                       form=request.form, errors=exc.errors), 422)
    return redirect(_step_url(contract, request.form.get("next") or "terms"), 303)


def _step_url(contract, step: str) -> str:
    """Where a builder step's submit button leads: another step (its ``next`` value), else the terms."""
    if step not in BUILDER_STEPS:
        step = "terms"
    return url_for(f"freelancer.contract_{step}", contract_id=contract.id)


# ---- step 2: terms and the milestone editor -------------------------------

@bp.get("/contracts/<int:contract_id>/terms")
def contract_terms(contract_id: int):
    """Step 2: title, scope, currency, and a single amount or milestones.

    On an active contract: the milestone editor alone (add, or change unfunded milestones).
    """
    contract = _contract(contract_id)
    if milestone_edit_refusal(contract.state):
        return redirect(url_for("freelancer.contract_show", contract_id=contract.id))
    return _terms_page(contract, editing=request.args.get("edit", type=int))


@bp.post("/contracts/<int:contract_id>/terms")
def contract_terms_update(contract_id: int):
    """Save the terms; ``next`` (the step buttons, "Review") says where to go after, "save" stays.

    Invalid input is never dropped: the page comes back (422) with what was typed and the errors.
    """
    contract = _contract(contract_id)
    form = request.form
    try:
        svc.update_terms(contract, title=form.get("title", ""), scope=form.get("scope", ""),
                         currency=form.get("currency", ""), kind=form.get("kind", ""),
                         amount_text=form.get("amount", ""), due_text=form.get("due_date", ""))
    except ValidationFailed as exc:
        return _terms_page(contract, 422, terms_form=form, terms_errors=exc.errors)
    if form.get("next") in BUILDER_STEPS:
        return redirect(_step_url(contract, form["next"]), 303)
    flash("Terms saved.", "success")
    return _back_to_terms(contract, "terms")


@bp.post("/contracts/<int:contract_id>/terms/preview")
def contract_amount_preview(contract_id: int):
    """Live total and fee for the single amount being typed (htmx, nothing saved)."""
    contract = _contract(contract_id)
    summary = svc.preview_summary(contract, request.form.get("amount", ""))
    return respond(render_template("freelancer/partials/_summary.html",
                                   summary=summary or svc.summary_of(contract)))


def _row(contract, milestone, *, editing=False, form=None, errors=None, status=200, summary=False):
    body = render_template("freelancer/partials/_milestone_row.html", contract=contract,
                           milestone_actions=actions.milestone_actions(contract, "freelancer"),
                           m=milestone, editing=editing, form=form or {}, errors=errors or {},
                           oob_summary=summary, summary=svc.summary_of(contract))
    return respond(body, status)


@bp.post("/contracts/<int:contract_id>/milestones")
def milestone_create(contract_id: int):
    """Add a milestone: the new row, a fresh add form and the summary (htmx), or a redirect."""
    contract = _contract(contract_id)
    try:
        milestone = svc.add_milestone(contract, request.form)
    except ValidationFailed as exc:
        if wants_fragment():
            return respond(render_template("freelancer/partials/_milestone_add.html", contract=contract,
                                           add_form=request.form, add_errors=exc.errors), 422)
        return _terms_page(contract, 422, add_form=request.form, add_errors=exc.errors)
    if not wants_fragment():
        return _back_to_terms(contract)
    return respond(render_template("freelancer/partials/_milestone_added.html", contract=contract,
                                   m=milestone, summary=svc.summary_of(contract),
                                   milestone_actions=actions.milestone_actions(contract, "freelancer")))


@bp.get("/contracts/<int:contract_id>/milestones/<int:milestone_id>")
def milestone_row(contract_id: int, milestone_id: int):
    """One milestone row (htmx "Cancel" of an edit)."""
    contract = _contract(contract_id)
    if not wants_fragment():
        return _back_to_terms(contract)
    return _row(contract, svc.milestone_of(contract, milestone_id))


@bp.get("/contracts/<int:contract_id>/milestones/<int:milestone_id>/edit")
def milestone_edit_form(contract_id: int, milestone_id: int):
    """The row in edit mode (fragment), or the terms page with that row open."""
    contract = _contract(contract_id)
    milestone = svc.milestone_of(contract, milestone_id)
    if not wants_fragment():
        return _terms_page(contract, editing=milestone.id)
    return _row(contract, milestone, editing=True)


@bp.post("/contracts/<int:contract_id>/milestones/<int:milestone_id>")
def milestone_update(contract_id: int, milestone_id: int):
    """Save an edited row; 422 with the errors beside the fields."""
    contract = _contract(contract_id)
    milestone = svc.milestone_of(contract, milestone_id)
    try:
        svc.update_milestone(contract, milestone_id, request.form)
    except ValidationFailed as exc:
        if wants_fragment():
            return _row(contract, milestone, editing=True, form=request.form, errors=exc.errors, status=422)
        return _terms_page(contract, 422, editing=milestone.id, row_form=request.form, row_errors=exc.errors)
    if not wants_fragment():
        return _back_to_terms(contract)
    return _row(contract, milestone, summary=True)


@bp.post("/contracts/<int:contract_id>/milestones/<int:milestone_id>/delete")
def milestone_delete(contract_id: int, milestone_id: int):
    """Remove a milestone; htmx deletes the row and refreshes the summary."""
    contract = _contract(contract_id)
    svc.remove_milestone(contract, milestone_id)
    if not wants_fragment():
        return _back_to_terms(contract)
    return respond(render_template("freelancer/partials/_summary.html",
                                   summary=svc.summary_of(contract), oob=True))


@bp.post("/contracts/<int:contract_id>/milestones/<int:milestone_id>/move")
def milestone_move(contract_id: int, milestone_id: int):
    """Move a milestone up or down; htmx re-renders the list."""
    contract = _contract(contract_id)
    svc.move_milestone(contract, milestone_id, request.form.get("direction", ""))
    if not wants_fragment():
        return _back_to_terms(contract)
    return respond(render_template("freelancer/partials/_milestone_list.html", contract=contract,
                                   editing=None, form={}, errors={}, milestone_actions=actions.milestone_actions(contract, "freelancer")))


# ---- step 3: review, send; afterwards -------------------------------------

@bp.get("/contracts/<int:contract_id>/review")
def contract_review(contract_id: int):
    """Step 3: exactly what the client will see, plus the fee the freelancer pays."""
    contract = _contract(contract_id)
    return render_template("freelancer/review.html", contract=contract, summary=svc.summary_of(contract),
                           problems=svc.readiness(contract), actions=actions.contract_actions(contract, "freelancer"))


@bp.post("/contracts/<int:contract_id>/send")
def contract_send(contract_id: int):
    """Send the contract (or its revision) to the client by email."""
    contract = _contract(contract_id)
    svc.send(contract, current_user)
    flash(f"Sent to {contract.client_email}.", "success")
    return redirect(url_for("freelancer.contract_show", contract_id=contract.id), 303)


@bp.get("/contracts/<int:contract_id>")
def contract_show(contract_id: int):
    """The contract as it stands: status, milestones, money, timeline, and what can be done."""
    contract = _contract(contract_id)
    return render_template("freelancer/show.html", contract=contract, summary=svc.summary_of(contract),
                           timeline=activity.timeline(contract), money=ledger.contract_money([contract])[contract.id],
                           per_milestone=ledger.milestone_money([contract.id]),
                           undeliverable=mailer.undeliverable(contract),
                           signed=bool(svc.signed_ids([contract])), paying=funding.in_flight(contract),
                           actions=actions.contract_actions(contract, "freelancer"),
                           milestone_actions=actions.milestone_actions(contract, "freelancer"),
                           refunding=refunds.in_flight(contract),
                           preview=lambda m: lifecycle.release_preview(contract, m))


@bp.post("/contracts/<int:contract_id>/revise")
def contract_revise(contract_id: int):
    """Reopen a sent contract for editing (the client is emailed when it is re-sent)."""
    contract = _contract(contract_id)
    svc.revise(contract, current_user)
    flash("Edit the terms, then review and send the revision. Until then the client's "
          "link says the proposal is being revised.", "info")
    return redirect(url_for("freelancer.contract_terms", contract_id=contract.id), 303)


@bp.get("/contracts/<int:contract_id>/withdraw")
def contract_withdraw_confirm(contract_id: int):
    """Ask before withdrawing: the client's link stops offering the contract."""
    contract = _contract(contract_id)
    return render_template("freelancer/withdraw.html", contract=contract)


@bp.post("/contracts/<int:contract_id>/withdraw")
def contract_withdraw(contract_id: int):
    """Withdraw the contract; the client is told by email if it was sent."""
    contract = _contract(contract_id)
    svc.withdraw(contract, current_user)
    flash("Contract withdrawn.", "success")
    return redirect(url_for("freelancer.contract_show", contract_id=contract.id), 303)


# ---- notifications (the bell) ----------------------------------------------

@bp.get("/notifications")
def notification_list():
    """The member's notifications, newest first."""
    return render_template("freelancer/notifications.html",
                           notes=activity.recent_notifications(current_user.id))


@bp.post("/notifications/read")
def notification_read_all():
    """Mark every notification read."""
    activity.mark_all_read(current_user.id)
    return redirect(url_for("freelancer.notification_list"), 303)


# ---- the funded contract's life ---------------------------------------------

def _milestone_page(contract, milestone_id: int, action: str, status: int = 200, form=None, errors=None):
    milestone = svc.milestone_of(contract, milestone_id)
    return respond(render_template("freelancer/milestone_action.html", contract=contract, m=milestone,
                                   action=action, form=form or {}, errors=errors or {},
                                   auto_release_days=settings_svc.current().auto_release_days), status)


@bp.get("/contracts/<int:contract_id>/milestones/<int:milestone_id>/request-payment")
def payment_request_form(contract_id: int, milestone_id: int):
    """Ask the client to approve and release a funded milestone."""
    return _milestone_page(_contract(contract_id), milestone_id, "request_payment")


@bp.post("/contracts/<int:contract_id>/milestones/<int:milestone_id>/request-payment")
def payment_request(contract_id: int, milestone_id: int):
    """Request payment (funded → submitted); the client is emailed; the auto-release clock starts."""
    contract = _contract(contract_id)
    try:
        lifecycle.request_payment(contract, milestone_id, note=request.form.get("note", ""),
                                  url=request.form.get("url", ""))
    except ValidationFailed as exc:
        return _milestone_page(contract, milestone_id, "request_payment", 422, request.form, exc.errors)
    flash("Payment requested. The client has been emailed.", "success")
    return redirect(url_for("freelancer.contract_show", contract_id=contract.id), 303)


@bp.get("/contracts/<int:contract_id>/milestones/<int:milestone_id>/refund")
def refund_form(contract_id: int, milestone_id: int):
    """Confirm a refund: it states the amount and needs a reason."""
    return _milestone_page(_contract(contract_id), milestone_id, "refund")


@bp.post("/contracts/<int:contract_id>/milestones/<int:milestone_id>/refund")
def refund(contract_id: int, milestone_id: int):
    """Refund a funded, unreleased milestone to the client's payment method."""
    contract = _contract(contract_id)
    try:
        lifecycle.refund(contract, milestone_id, reason=request.form.get("reason", ""))
    except ValidationFailed as exc:
        return _milestone_page(contract, milestone_id, "refund", 422, request.form, exc.errors)
    except lifecycle.RefundFailed as exc:  # refused: nothing is broken, nothing changed
        return _milestone_page(contract, milestone_id, "refund", 409, request.form, {"gateway": str(exc)})
    except lifecycle.RefundUncertain as exc:  # no answer: the owner checks it
        return _milestone_page(contract, milestone_id, "refund", 503, request.form, {"gateway": str(exc)})
    flash("Refunded. The client has been emailed.", "success")
    return redirect(url_for("freelancer.contract_show", contract_id=contract.id), 303)


@bp.get("/contracts/<int:contract_id>/end")
def contract_end_confirm(contract_id: int):
    """Ask before ending a contract early."""
    return render_template("freelancer/end.html", contract=_contract(contract_id))


@bp.post("/contracts/<int:contract_id>/end")
def contract_end(contract_id: int):
    """End an active contract: unfunded milestones are cancelled; refused while money is held."""
    contract = _contract(contract_id)
    lifecycle.end(contract)
    flash("Contract ended.", "success")
    return redirect(url_for("freelancer.contract_show", contract_id=contract.id), 303)


@bp.get("/notifications/count")
def notification_count():
    """The bell's badge (polled lightly by htmx)."""
    return respond(render_template("partials/_bell_count.html", unread_count=activity.unread_count(current_user.id)))
