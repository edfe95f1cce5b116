"""A contract once made: the list, its page, revise / withdraw / end, and its milestones' payment pages."""
from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from ...domain.states import LIST_STATUSES
from ...services import (actions, activity, agreement, chargebacks, client_links, contract_queries, funding, ledger,
                         lifecycle, mailer, proposals, refunds, tokens)
from ...services.errors import InvalidTransition
from ..forms.freelancer import PaymentRequestForm, RefundForm
from ..helpers import arg_id
from . import _contract, _pages as pages, bp, disputes, thread


@bp.get("/contracts")
def contract_list():
    """All of the member's contracts, newest activity first; ?status= filters."""
    status = request.args.get("status") or None
    if status not in LIST_STATUSES:
        status = None
    page = contract_queries.list_for_member(current_user, status, arg_id("page", 1),
                                            current_app.config["CONTRACTS_PER_PAGE"])
    return render_template("freelancer/index.html", page=page, status=status, states=LIST_STATUSES,
                           totals=contract_queries.money_totals(current_user))


@bp.get("/contracts/<int:contract_id>")
def contract_show(contract_id: int):
    """The contract as it stands: status, milestones, money, timeline, and what can be done."""
    contract = _contract(contract_id)
    if contract.draft_of_id:  # a draft revision is shown by its builder; its contract is the sent one
        return redirect(url_for("freelancer.contract_show", contract_id=contract.draft_of_id))
    money, per_milestone = ledger.money_of(contract)
    return render_template(
        "freelancer/show.html", contract=contract, summary=contract_queries.summary_of(contract),
        timeline=activity.timeline(contract), money=money, per_milestone=per_milestone,
        undeliverable=mailer.undeliverable(contract),
        signed=contract_queries.signed(contract), paying=funding.in_flight(contract),
        actions=actions.contract_actions(contract, "freelancer"),
        milestone_actions=actions.milestone_actions(contract, "freelancer"),
        refunding=refunds.in_flight(contract), preview=lambda m: lifecycle.release_preview(contract, m, money),
        chargebacks=chargebacks.for_contract(contract), frozen=chargebacks.frozen_milestones(contract),
        frozen_words=chargebacks.FROZEN, reason_words=chargebacks.reason_words,
        link_sent_at=tokens.last_sent_at(contract), **pages.revision_context(contract),
        **thread.page_context(contract), **disputes.page_context(contract))


@bp.get("/contracts/<int:contract_id>/agreement")
def contract_agreement(contract_id: int):
    """The agreement the client signed, printable (the contract's member only); before they sign, says so."""
    contract = _contract(contract_id)
    return render_template("freelancer/agreement.html", contract=contract, agreement=agreement.signed(contract),
                           back=url_for("freelancer.contract_show", contract_id=contract.id))


@bp.post("/contracts/<int:contract_id>/revise")
def contract_revise(contract_id: int):
    """Start (or go back to) a draft revision of a sent proposal; the client keeps the sent one until it is sent."""
    draft = proposals.revise(_contract(contract_id), current_user)
    return redirect(url_for("freelancer.contract_terms", contract_id=draft.id), 303)


@bp.get("/contracts/<int:contract_id>/revision/discard")
def contract_revision_discard_confirm(contract_id: int):
    """Ask before discarding the draft revision (refused, back to the contract, when there is none)."""
    contract = _contract(contract_id)
    context = pages.revision_context(contract)
    if context["draft_revision"] is None:
        raise InvalidTransition("There is no draft revision to discard.")
    return render_template("freelancer/discard_revision.html", contract=contract, **context)


@bp.post("/contracts/<int:contract_id>/revision/discard")
def contract_revision_discard(contract_id: int):
    """Delete the draft revision; the client's revision stays exactly as sent."""
    contract = _contract(contract_id)
    revision = proposals.discard_revision(contract, current_user)
    flash(f"Draft revision discarded. {contract.client_name} keeps revision {revision} as it was sent.", "success")
    return pages.to_show(contract)


@bp.get("/contracts/<int:contract_id>/withdraw")
def contract_withdraw_confirm(contract_id: int):
    """Ask before withdrawing: the client's link stops offering the contract."""
    return render_template("freelancer/withdraw.html", contract=_contract(contract_id))


@bp.post("/contracts/<int:contract_id>/withdraw")
def contract_withdraw(contract_id: int):
    """Withdraw the contract; the client is told by email if it was sent."""
    contract = _contract(contract_id)
    proposals.withdraw(contract, current_user)
    flash("Contract withdrawn.", "success")
    return pages.to_show(contract)


@bp.get("/contracts/<int:contract_id>/new-link")
def client_link_confirm(contract_id: int):
    """Ask before sending the client a new link: every older link stops working."""
    contract = _contract(contract_id)
    return render_template("freelancer/new_link.html", contract=contract, link_sent_at=tokens.last_sent_at(contract))


@bp.post("/contracts/<int:contract_id>/new-link")
def client_link_send(contract_id: int):
    """Revoke the client's links and email a new one (refused for drafts never sent and withdrawn contracts)."""
    contract = _contract(contract_id)
    client_links.send_new_link(contract, current_user)
    flash(f"A new link was emailed to {contract.client_email}. Links in earlier emails no longer work.", "success")
    return pages.to_show(contract)


@bp.get("/contracts/<int:contract_id>/end")
def contract_end_confirm(contract_id: int):
    """Ask before ending a contract early."""
    return render_template("freelancer/end.html", contract=_contract(contract_id))


@bp.post("/contracts/<int:contract_id>/end")
def contract_end(contract_id: int):
    """End an active contract: unfunded milestones are cancelled; refused while money is held."""
    contract = _contract(contract_id)
    contract = lifecycle.end(contract)
    flash("Contract ended." if contract.state == "ended" else "Unfunded milestones cancelled. The contract is "
          "completed when the pending refund is issued, once the payment settles.", "success")
    return pages.to_show(contract)


# ---- a funded milestone: request payment, refund ----------------------------

@bp.get("/contracts/<int:contract_id>/milestones/<int:milestone_id>/request-payment")
def payment_request_form(contract_id: int, milestone_id: int):
    """Ask the client to approve and release a funded milestone."""
    return pages.milestone_page(_contract(contract_id), milestone_id, "request_payment",
                                PaymentRequestForm(formdata=None))


@bp.post("/contracts/<int:contract_id>/milestones/<int:milestone_id>/request-payment")
def payment_request(contract_id: int, milestone_id: int):
    """Request payment (funded → submitted); the client is emailed; the auto-release clock starts."""
    contract, form = _contract(contract_id), PaymentRequestForm()
    if not form.submit(lifecycle.request_payment, contract, milestone_id, **form.values("note", "url")):
        return pages.milestone_page(contract, milestone_id, "request_payment", form, 422)
    flash("Payment requested. The client has been emailed.", "success")
    return pages.to_show(contract)


@bp.get("/contracts/<int:contract_id>/milestones/<int:milestone_id>/refund")
def refund_form(contract_id: int, milestone_id: int):
    """Confirm a refund: it states the amount and needs a reason."""
    return pages.milestone_page(_contract(contract_id), milestone_id, "refund", RefundForm(formdata=None))


@bp.post("/contracts/<int:contract_id>/milestones/<int:milestone_id>/refund")
def refund(contract_id: int, milestone_id: int):
    """Refund a funded, unreleased milestone to the client's payment method."""
    contract, form = _contract(contract_id), RefundForm()
    try:
        refunded = form.submit(lifecycle.refund, contract, milestone_id, reason=form.reason.data)
    except (lifecycle.RefundFailed, lifecycle.RefundUncertain) as exc:
        # Refused: nothing changed (409). No answer: the refund is checked later (503).
        status = 409 if isinstance(exc, lifecycle.RefundFailed) else 503
        form.add_errors({"gateway": str(exc)})
        return pages.milestone_page(contract, milestone_id, "refund", form, status)
    if not refunded:
        return pages.milestone_page(contract, milestone_id, "refund", form, 422)
    flash(lifecycle.REFUND_QUEUED if lifecycle.refund_queued(milestone_id) else "Refunded. The client has been emailed.",
          "success")
    return pages.to_show(contract)
