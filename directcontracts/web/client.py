"""The client's side: no account, a link with a long random token.

This issue shows the proposal read-only; verifying, accepting and funding
build on it.
"""
from __future__ import annotations

from flask import Blueprint, render_template

from ..domain.states import ContractState
from ..htmx import respond
from ..services import contracts as svc
from ..services import tokens

bp = Blueprint("client", __name__, url_prefix="/c")


@bp.after_request
def no_referrer(response):
    """The token is in the URL: never leak it in a Referer, never cache the page."""
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/<token>")
def contract_view(token: str):
    """The proposal behind a code link; a clear page for unknown or withdrawn links."""
    contract = tokens.contract_for_token(token)
    if contract is None:
        return respond(render_template("client/unavailable.html", reason="unknown"), 404)
    if contract.state == ContractState.WITHDRAWN:
        return respond(render_template("client/unavailable.html", reason="withdrawn",
                                       contract=contract), 410)
    return render_template("client/contract.html", contract=contract,
                           summary=svc.summary_of(contract),
                           revising=contract.state == ContractState.DRAFT)
