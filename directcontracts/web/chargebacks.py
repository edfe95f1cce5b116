"""The owner's chargeback pages and the webhook log, on the admin blueprint (owner only: anyone else gets 404).

A chargeback is the client's bank taking a payment back (``services.chargebacks``); the owner answers it
with text evidence sent through the gateway, then submits it — once, after ticking a confirmation, since
the bank takes nothing more. A refused send keeps the text in the textarea.
"""
from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask_login import current_user

from ..htmx import respond
from ..services import chargebacks, contract_queries, webhooks
from ..services.errors import InvalidTransition
from .admin import bp
from .forms.chargebacks import EvidenceForm, FinalizeForm

#: How many notifications the webhook log shows.
WEBHOOKS_SHOWN = 100


def _contract_of(row):
    """The contract a chargeback is about; None for a sale that is not one of the app's payments."""
    return contract_queries.get_for_shop(row.contract_id, current_user) if row.contract_id else None


@bp.get("/chargebacks")
def chargeback_list():
    """Open chargebacks (soonest reply-by first), then the closed ones."""
    return render_template("owner/chargebacks.html", open_rows=chargebacks.queue("open"),
                           closed=chargebacks.queue("closed"), reason_words=chargebacks.reason_words,
                           contract_of=_contract_of)


def _page(row, status: int = 200, **context):
    context.setdefault("form", EvidenceForm(formdata=None))
    context.setdefault("finalize_form", FinalizeForm(formdata=None))
    return respond(render_template("owner/chargeback.html", row=row, contract=_contract_of(row),
                                   milestones=chargebacks.milestones_of(row),
                                   reason=chargebacks.reason_words(row.reason), **context), status)


@bp.get("/chargebacks/<int:chargeback_id>")
def chargeback_show(chargeback_id: int):
    """One chargeback: contract, payment, amount, reason, reply-by, milestones, evidence sent, and the forms."""
    return _page(chargebacks.get(chargeback_id))


@bp.post("/chargebacks/<int:chargeback_id>/evidence")
def chargeback_evidence(chargeback_id: int):
    """Send one text to the bank (422 on an empty or long text; 409, text kept, if the bank or gateway refuses)."""
    row, form = chargebacks.get(chargeback_id), EvidenceForm()
    try:
        sent = form.submit(chargebacks.add_evidence, row, form.body.data)
    except InvalidTransition as exc:
        return _page(chargebacks.get(chargeback_id), 409, form=form.add_errors({"body": str(exc)}))
    if sent is None:
        return _page(row, 422, form=form)
    flash("Sent to the bank. Add more, or submit the evidence when you have sent everything.", "success")
    return redirect(url_for("admin.chargeback_show", chargeback_id=chargeback_id), 303)


@bp.post("/chargebacks/<int:chargeback_id>/finalize")
def chargeback_finalize(chargeback_id: int):
    """Submit the evidence to the bank, once the box is ticked (422 without; 409 if nothing was sent yet)."""
    row, form = chargebacks.get(chargeback_id), FinalizeForm()
    if not form.validate():
        return _page(row, 422, finalize_form=form)
    try:
        chargebacks.finalize(row)
    except InvalidTransition as exc:
        return _page(chargebacks.get(chargeback_id), 409, finalize_form=form.add_errors({"confirmed": str(exc)}))
    flash("Submitted: the bank now reviews your evidence. You will be told its decision.", "success")
    return redirect(url_for("admin.chargeback_show", chargeback_id=chargeback_id), 303)


@bp.get("/webhooks")
def webhook_list():
    """The last notifications from the gateway, newest first, with what the app did with each."""
    return render_template("owner/webhooks.html", rows=webhooks.recent(WEBHOOKS_SHOWN))
