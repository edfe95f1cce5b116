"""Accepting and funding: sign (the first time), choose what to fund, pay; then the payment's status."""
from __future__ import annotations

from flask import current_app, g, redirect, url_for

from ...htmx import respond, wants_fragment
from ...payments import current_gateway
from ...services import client_actions, funding
from ...services.errors import InvalidTransition, PageOutdated, ValidationFailed
from ..forms.client import FundForm
from . import _render, _view, bp, verified_device


def _fund_page(form: FundForm, status: int = 200, *, attempt=None, changes=None):
    """The fund page (or, for htmx, its ``#fund`` widget) with a fresh idempotency key."""
    contract, gw = g.contract, current_gateway()
    return _render("client/partials/_fund.html" if wants_fragment() else "client/fund.html", status,
                   form=form, attempt=attempt, key=funding.new_key(),
                   changes=changes or [], quotes=funding.quotes(contract),
                   fundable=funding.fundable(contract) if funding.takes_payment(contract) else [],
                   in_flight=funding.in_flight(contract),
                   acceptance=client_actions.acceptance_of_current(contract),
                   client_token=None if gw.name == "test" else _client_token(gw, contract))


def _client_token(gw, contract):
    try:
        return gw.client_token(contract.currency)
    except Exception:  # the page still explains; the form says payments are unavailable
        current_app.logger.exception("could not get a Braintree client token")
        return ""


@bp.get("/<token>/fund")
@verified_device("fund")
def fund_form(token: str):
    """Sign (first time) and fund: the first milestone, all, or a chosen one."""
    if not funding.takes_payment(g.contract):
        return _view(token)
    return _fund_page(FundForm())


@bp.post("/<token>/fund")
@verified_device("fund")
def fund_submit(token: str):
    """Record the signature, then charge; success goes to the receipt.

    Amounts and currency come from the server, never the form (``FundForm``). A quote that
    no longer matches charges nothing: 409 and the page again, saying what changed.
    """
    form = FundForm()
    try:
        attempt = funding.fund(g.contract, key=form.idempotency_key.data or "", choice=form.choice.data or "",
                               shown=form.shown_quote(), nonce=form.payment_method_nonce.data or "",
                               signature=form.signature())
    except PageOutdated as exc:
        form.agree.data = False  # they confirm again: keep what they typed, not the tick for other terms
        return _fund_page(form, 409, changes=exc.changes)
    except ValidationFailed as exc:
        return _fund_page(form.add_errors(exc.errors), 422)
    except InvalidTransition as exc:
        return _fund_page(form.add_errors({"payment": str(exc)}), 409)
    return _after_attempt(token, attempt, form)


def _after_attempt(token, attempt, form: FundForm):
    target = url_for("client.payment_status", token=token, attempt_id=attempt.id)
    # "returned": charged but given back; its page says so (the fund form would not)
    if attempt.status in ("succeeded", "pending", "unknown", "returned"):
        if wants_fragment():
            response = respond("", 200)
            response.headers["HX-Redirect"] = target
            return response
        return redirect(target, 303)
    # declined / rejected / failed: the same form, the reason, a fresh key to retry
    return _fund_page(form, 422, attempt=attempt)


@bp.get("/<token>/payments/<attempt_id>")
@verified_device("receipt")
def payment_status(token: str, attempt_id: str):
    """The receipt, or — while the outcome is unknown — a status that refreshes itself (verified devices only)."""
    attempt = funding.attempt_for(g.contract, attempt_id)
    template = "client/partials/_payment_status.html" if wants_fragment() else "client/payment.html"
    return _render(template, attempt=attempt, method=funding.method_label(attempt))


@bp.get("/<token>/payments/by-key/<key>")
@verified_device("payments")
def payment_by_key(token: str, key: str):
    """Where the page sends a client whose request timed out in the browser."""
    attempt = funding.attempt_by_key(g.contract, key)
    if attempt is None:
        return _render("client/payment.html", attempt=None, method="")
    return redirect(url_for("client.payment_status", token=token, attempt_id=attempt.id), 303)

