"""Disputes on the freelancer's side: open one on a milestone, talk, offer a split, accept, or refund.

Every money move is posted twice: first it shows the exact amounts and asks
(``confirmed`` unset), then it moves. The views' bodies are
``web.dispute_page``'s, shared with the client's portal; refusals of the rules
or the gateway are shown on the dispute's page in plain words
(``dispute_page.attempt``).
"""
from __future__ import annotations

from flask import render_template

from ...htmx import respond
from ...services import disputes
from .. import dispute_page
from . import _contract, bp

ROLE = "freelancer"


def _render(template: str, status: int = 200, **context):
    return respond(render_template(template, **context), status)


PORTAL = dispute_page.Portal(ROLE, other="client", render=_render, contract_endpoint="freelancer.contract_show",
                             contract_args=lambda contract: {"contract_id": contract.id})


def page_context(contract) -> dict:
    """What the contract page needs to show its disputes (``freelancer/partials/_disputes.html``)."""
    found = disputes.for_contract(contract)
    return {"disputes": found, "dispute_of": {d.milestone_id: d for d in found if d.status == "open"}}


def _dispute(contract_id: int, dispute_id: int):
    """The member's contract's dispute; a 404 (by the error handler) otherwise."""
    return disputes.get(_contract(contract_id), dispute_id)


@bp.get("/contracts/<int:contract_id>/disputes/<int:dispute_id>")
def dispute_show(contract_id: int, dispute_id: int):
    """The dispute: facts, deadline, mediator, offer, messages; what the freelancer can do while it is open."""
    return dispute_page.page(PORTAL, _dispute(contract_id, dispute_id))


@bp.get("/contracts/<int:contract_id>/milestones/<int:milestone_id>/dispute")
def dispute_open_form(contract_id: int, milestone_id: int):
    """What opening a dispute does, and the form (reason, statement, amount in question)."""
    return dispute_page.open_form(PORTAL, _contract(contract_id), milestone_id)


@bp.post("/contracts/<int:contract_id>/milestones/<int:milestone_id>/dispute")
def dispute_open(contract_id: int, milestone_id: int):
    """Open the dispute: the money freezes; the client and the mediator are told. Refusals: 409 (handler)."""
    return dispute_page.open_dispute(PORTAL, _contract(contract_id), milestone_id)


@bp.post("/contracts/<int:contract_id>/disputes/<int:dispute_id>/messages")
def dispute_say(contract_id: int, dispute_id: int):
    """A message on the dispute, for the client and the mediator."""
    return dispute_page.say(PORTAL, _dispute(contract_id, dispute_id))


@bp.post("/contracts/<int:contract_id>/disputes/<int:dispute_id>/offer")
def dispute_offer(contract_id: int, dispute_id: int):
    """Offer a split (no money moves until the client accepts it)."""
    return dispute_page.offer(PORTAL, _dispute(contract_id, dispute_id))


@bp.post("/contracts/<int:contract_id>/disputes/<int:dispute_id>/accept")
def dispute_accept(contract_id: int, dispute_id: int):
    """Accept the client's offer — the one the page showed; first the amounts and a confirm button."""
    return dispute_page.accept(PORTAL, _dispute(contract_id, dispute_id))


@bp.post("/contracts/<int:contract_id>/disputes/<int:dispute_id>/refund")
def dispute_refund(contract_id: int, dispute_id: int):
    """Refund the client in full, ending the dispute; first the amount and a confirm button."""
    return dispute_page.settle(PORTAL, _dispute(contract_id, dispute_id), "refund", 0, disputes.refund_all,
                               "Refunded: the dispute is closed.")
