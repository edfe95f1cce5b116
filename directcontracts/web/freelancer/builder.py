"""The contract builder: client details, terms (with the live amount preview), review, send."""
from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask_login import current_user

from ...domain.states import milestone_edit_refusal
from ...htmx import respond
from ...services import actions, contract_queries, drafts, proposals
from ..forms.freelancer import AmountForm, ClientForm, TermsForm
from ..helpers import arg_id
from . import _contract, _pages as pages, bp


def _client_page(contract, form, status: int = 200):
    context = pages.revision_context(contract) if contract else {}
    return respond(render_template("freelancer/client_details.html", contract=contract, form=form, **context), status)


# ---- step 1: client --------------------------------------------------------

@bp.get("/contracts/new")
def contract_new():
    """Step 1 of a new contract: the client's details."""
    return _client_page(None, ClientForm(formdata=None))


@bp.post("/contracts")
def contract_create():
    """Create the draft from the client's details, then go to the terms."""
    form = ClientForm()
    contract = form.submit(drafts.create_draft, current_user,
                            **form.values("client_name", "client_email", "client_company"))
    if contract is None:
        return _client_page(None, form, 422)
    return redirect(url_for("freelancer.contract_terms", contract_id=contract.id), 303)


@bp.get("/contracts/<int:contract_id>/client")
def contract_client(contract_id: int):
    """Edit the client's details of a draft."""
    contract = _contract(contract_id)
    values = {"client_name": contract.client_name, "client_email": contract.client_email,
              "client_company": contract.client_company}
    return _client_page(contract, ClientForm(formdata=None, data=values))


@bp.post("/contracts/<int:contract_id>/client")
def contract_client_update(contract_id: int):
    """Save the client's details; on to the terms, or to the step its ``next`` names. 422 keeps the input."""
    contract, form = _contract(contract_id), ClientForm()
    if not form.submit(drafts.update_client, contract, current_user,
                        **form.values("client_name", "client_email", "client_company")):
        return _client_page(contract, form, 422)
    return redirect(pages.step_url(contract, form.next.data or "terms"), 303)


# ---- step 2: terms ---------------------------------------------------------

@bp.get("/contracts/<int:contract_id>/terms")
def contract_terms(contract_id: int):
    """Step 2: title, scope, currency, and a single amount or milestones.

    On an active contract: the milestone editor alone (add, or change unfunded milestones).
    """
    contract = _contract(contract_id)
    if milestone_edit_refusal(contract.state):
        return redirect(url_for("freelancer.contract_show", contract_id=contract.id))
    return pages.terms_page(contract, editing=arg_id("edit"))


@bp.post("/contracts/<int:contract_id>/terms")
def contract_terms_update(contract_id: int):
    """Save the terms; ``next`` (the step buttons, "Review") says where to go after, "save" stays.

    Invalid input is never dropped: the page comes back (422) with what was typed and the errors.
    """
    contract, form = _contract(contract_id), TermsForm()
    if not form.submit(drafts.update_terms, contract, **form.terms()):
        return pages.terms_page(contract, 422, terms=form)
    if form.next.data in pages.BUILDER_STEPS:
        return redirect(pages.step_url(contract, form.next.data), 303)
    flash("Terms saved.", "success")
    return pages.back_to_terms(contract, "terms")


@bp.post("/contracts/<int:contract_id>/terms/preview")
def contract_amount_preview(contract_id: int):
    """Live total and fee for the single amount being typed, in the currency chosen (htmx, nothing saved).

    An amount that cannot be taken shows why in place; the amount's label follows the currency (out of band).
    """
    contract, form = _contract(contract_id), AmountForm()
    summary, refusal = drafts.preview_summary(contract, form.amount.data, form.currency.data)
    return pages.summary(contract, value=summary, refusal=refusal, preview=True)


# ---- step 3: review and send -----------------------------------------------

@bp.get("/contracts/<int:contract_id>/review")
def contract_review(contract_id: int):
    """Step 3: exactly what the client will see, plus the fee the freelancer pays."""
    contract = _contract(contract_id)
    return render_template("freelancer/review.html", contract=contract,
                           summary=contract_queries.summary_of(contract), problems=proposals.readiness(contract),
                           actions=actions.contract_actions(contract, "freelancer"), **pages.revision_context(contract))


@bp.post("/contracts/<int:contract_id>/send")
def contract_send(contract_id: int):
    """Send the contract, or a draft revision (applied onto its sent contract), to the client by email."""
    contract = proposals.send(_contract(contract_id), current_user)
    flash(f"Revision {contract.revision} sent to {contract.client_email}." if contract.revision > 1
          else f"Sent to {contract.client_email}.", "success")
    return pages.to_show(contract)
