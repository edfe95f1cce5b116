"""The client's side: no account, ever.

The client reaches a contract through a link with a long random token (or by
typing the contract reference at ``/c`` and an emailed code). Before acting,
they verify their email on this device with a 6-digit code; a signed cookie
keeps the device verified for that contract for 30 days.

One blueprint; its routes live in one module per story: ``access`` (find by
reference, open by code, verify a device), ``proposal`` (the contract page,
asking for changes, declining), ``funding`` (sign and fund, payment status),
``milestones`` (approve, ask for changes) and ``agreement`` (the signed
agreement, printable). Every POST reads a form class of ``web.forms.client``.
"""
from __future__ import annotations

import functools

from flask import Blueprint, abort, g, redirect, render_template, request, url_for

from ...domain import rules
from ...domain.states import ContractState
from ...htmx import respond
from ...payments import current_gateway
from ...services import client_access, tokens

bp = Blueprint("client", __name__, url_prefix="/c")

#: Actions that need a verified device, and where to go once verified.
ACTIONS = {"fund": "client.fund_form", "changes": "client.changes_form", "decline": "client.decline_form",
           "dispute": "client.dispute_open_form", "payments": "client.contract_view",
           "receipt": "client.payment_status", "approve": "client.approve_form",
           "mchanges": "client.milestone_changes_form", "agreement": "client.agreement_view"}
#: Actions on one milestone of the contract: ``<action>-<milestone id>``.
MILESTONE_ACTIONS = ("dispute", "approve", "mchanges")


def return_url(token: str, next_action: str) -> str | None:
    """Where a client goes once verified: ``fund``, ``changes``, ``decline``, ``payments``, ``agreement``,
    ``dispute-``, ``approve-`` or ``mchanges-<milestone id>``, or ``receipt-<payment attempt id>``.

    Always a path of this contract's link (``token``): a ``next`` never leads anywhere else.
    """
    action, _, milestone_id = (next_action or "").partition("-")
    if action in MILESTONE_ACTIONS and rules.is_number(milestone_id) and int(milestone_id) <= rules.MAX_ID:
        return url_for(ACTIONS[action], token=token, milestone_id=int(milestone_id))
    if action == "receipt" and milestone_id and len(milestone_id) <= 36:  # a payment attempt's id
        return url_for(ACTIONS[action], token=token, attempt_id=milestone_id)
    if action == "payments" and not milestone_id:
        return url_for(ACTIONS[action], token=token, _anchor="payments-heading")
    if action in ACTIONS and action not in (*MILESTONE_ACTIONS, "receipt") and not milestone_id:
        return url_for(ACTIONS[action], token=token)
    return None


@bp.after_request
def no_referrer(response):
    """The token is in the URL: never leak it in a Referer, never cache the page."""
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.url_value_preprocessor
def load_contract(endpoint, values):
    """Every ``/c/<token>/…`` route works on the one contract its token opens."""
    token = (values or {}).get("token")
    if token is None:
        return
    link = tokens.open_link(token)
    if link.problem:  # unknown: 404; replaced or expired: 410, naming only the contract and its freelancer
        abort(respond(render_template("client/unavailable.html", reason=link.problem, contract=link.contract,
                                      days=tokens.days_after_end()), 404 if link.problem == "unknown" else 410))
    contract = link.contract
    if contract.state == ContractState.WITHDRAWN:
        abort(respond(render_template("client/unavailable.html", reason="withdrawn", contract=contract), 410))
    g.contract = contract
    g.verified = client_access.device_verified(
        contract, request.cookies.get(client_access.device_cookie_name(contract)))


def _render(template: str, status: int = 200, **context):
    context.setdefault("contract", g.contract)
    context.setdefault("token", request.view_args["token"])
    context.setdefault("verified", g.verified)
    context.setdefault("test_mode", current_gateway().test_mode)  # sandbox or offline: no real money
    context.setdefault("offline_gateway", current_gateway().name == "test")
    return respond(render_template(template, **context), status)


def verified_device(action: str = ""):
    """For a device verified for the contract only; any other goes to verification first.

    Once verified, the client comes back to ``action``'s form (a key of ``ACTIONS``;
    the reply views' own ``kind`` is theirs; ``dispute`` names its milestone), else to the contract page.
    """
    def decorate(view):
        @functools.wraps(view)
        def wrapper(**kwargs):
            if not g.verified:
                target = kwargs.get("kind", action)
                if target in MILESTONE_ACTIONS:  # back to the form of this milestone
                    target = f"{target}-{kwargs['milestone_id']}"
                if target == "receipt":  # back to this payment's receipt
                    target = f"receipt-{kwargs['attempt_id']}"
                return redirect(url_for("client.verify_form", token=kwargs["token"], next=target), 303)
            return view(**kwargs)
        return wrapper
    return decorate


def _view(token: str):
    """After an action: back to the contract page."""
    return redirect(url_for("client.contract_view", token=token), 303)


# The routes register themselves on ``bp``.
from . import thread, disputes  # noqa: E402,F401,I001  (before proposal, which uses their page_context)
from . import access, agreement, funding, milestones, proposal  # noqa: E402,F401
