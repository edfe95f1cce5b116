"""Disputes on the client's side: open one on a milestone, talk, offer a split, accept, or release.

Reading a dispute needs the contract's link only; acting needs a device
verified for the contract (``verified_device``). Every money move is posted
twice: first the exact amounts and a confirm button, then the move. Refusals
of the rules or the gateway are shown on the dispute's page in plain words.
The views' bodies are ``web.dispute_page``'s, shared with the freelancer's portal.
"""
from __future__ import annotations

from flask import g, request

from ...services import disputes
from .. import dispute_page
from . import _render, bp, verified_device

ROLE = "client"
PORTAL = dispute_page.Portal(ROLE, other="freelancer", render=_render, contract_endpoint="client.contract_view",
                             contract_args=lambda contract: {"token": request.view_args["token"]})


def page_context(contract) -> dict:
    """What the contract page needs to show its disputes (``client/partials/_disputes.html``)."""
    found = disputes.for_contract(contract)
    return {"disputes": found, "dispute_of": {d.milestone_id: d for d in found if d.status == "open"}}


def _dispute(dispute_id: int):
    """The dispute of the contract this link opens; a 404 (by the error handler) for any other."""
    return disputes.get(g.contract, dispute_id)


@bp.get("/<token>/disputes/<int:dispute_id>")
def dispute_show(token: str, dispute_id: int):
    """The dispute: facts, deadline, mediator, offer, messages; acting needs a verified device."""
    return dispute_page.page(PORTAL, _dispute(dispute_id))


@bp.get("/<token>/milestones/<int:milestone_id>/dispute")
@verified_device("dispute")
def dispute_open_form(token: str, milestone_id: int):
    """What opening a dispute does, and the form (reason, statement, amount in question)."""
    return dispute_page.open_form(PORTAL, g.contract, milestone_id)


@bp.post("/<token>/milestones/<int:milestone_id>/dispute")
@verified_device()
def dispute_open(token: str, milestone_id: int):
    """Open the dispute: the money freezes; the freelancer and the mediator are told."""
    return dispute_page.open_dispute(PORTAL, g.contract, milestone_id)


@bp.post("/<token>/disputes/<int:dispute_id>/messages")
@verified_device()
def dispute_say(token: str, dispute_id: int):
    """A message on the dispute, for the freelancer and the mediator."""
    return dispute_page.say(PORTAL, _dispute(dispute_id))


@bp.post("/<token>/disputes/<int:dispute_id>/offer")
@verified_device()
def dispute_offer(token: str, dispute_id: int):
    """Offer a split (no money moves until the freelancer accepts it)."""
    return dispute_page.offer(PORTAL, _dispute(dispute_id))


@bp.post("/<token>/disputes/<int:dispute_id>/accept")
@verified_device()
def dispute_accept(token: str, dispute_id: int):
    """Accept the freelancer's offer — the one the page showed; first the amounts and a confirm button."""
    return dispute_page.accept(PORTAL, _dispute(dispute_id))


@bp.post("/<token>/disputes/<int:dispute_id>/release")
@verified_device()
def dispute_release(token: str, dispute_id: int):
    """Release the whole milestone to the freelancer, ending the dispute; first the amount and a confirm button."""
    d = _dispute(dispute_id)
    return dispute_page.settle(PORTAL, d, "release", d.milestone.amount_minor, disputes.release_all,
                               "Released: the dispute is closed.")
