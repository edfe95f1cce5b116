"""Disputes on the freelancer's side: open one on a milestone, talk, offer a split, accept, or refund.

Every money move is posted twice: first it shows the exact amounts and asks
(``confirmed`` unset), then it moves. The pages' facts come from
``web.dispute_page``; refusals of the rules or the gateway are shown on the
dispute's page in plain words (``dispute_page.attempt``).
"""
from __future__ import annotations

from flask import flash, redirect, render_template, url_for

from ...htmx import respond
from ...services import contract_queries, disputes
from ...services import settings as settings_svc
from .. import dispute_page
from ..forms.disputes import AcceptForm, DisputeOpenForm, OfferForm, SayForm, SettleForm
from . import _contract, bp
from ._pages import submit

ROLE = "freelancer"


def page_context(contract) -> dict:
    """What the contract page needs to show its disputes (``freelancer/partials/_disputes.html``)."""
    found = disputes.for_contract(contract)
    return {"disputes": found, "dispute_of": {d.milestone_id: d for d in found if d.status == "open"}}


def _dispute(contract_id: int, dispute_id: int):
    """The member's contract's dispute; a 404 (by the error handler) otherwise."""
    return disputes.get(_contract(contract_id), dispute_id)


def _page(d, status: int = 200, template: str = "freelancer/dispute.html", **context):
    context.setdefault("say_form", SayForm(formdata=None))
    context.setdefault("offer_form", OfferForm(formdata=None))
    url_args = {"contract_id": d.contract_id, "dispute_id": d.id}
    return respond(render_template(template, **dispute_page.facts(d, ROLE), ep="freelancer.", url_args=url_args,
                                   back_url=url_for("freelancer.dispute_show", **url_args), **context), status)


def _to(d):
    return redirect(url_for("freelancer.dispute_show", contract_id=d.contract_id, dispute_id=d.id), 303)


def _open_page(contract, m, form: DisputeOpenForm, status: int = 200):
    return respond(render_template("freelancer/dispute_open.html", contract=contract, m=m, form=form,
                                   mediator=disputes.owner(), days=settings_svc.current().dispute_response_days,
                                   post_url=url_for("freelancer.dispute_open", contract_id=contract.id,
                                                    milestone_id=m.id),
                                   back_url=url_for("freelancer.contract_show", contract_id=contract.id)), status)


@bp.get("/contracts/<int:contract_id>/disputes/<int:dispute_id>")
def dispute_show(contract_id: int, dispute_id: int):
    """The dispute: facts, deadline, mediator, offer, messages; what the freelancer can do while it is open."""
    return _page(_dispute(contract_id, dispute_id))


@bp.get("/contracts/<int:contract_id>/milestones/<int:milestone_id>/dispute")
def dispute_open_form(contract_id: int, milestone_id: int):
    """What opening a dispute does, and the form (reason, statement, amount in question)."""
    contract = _contract(contract_id)
    return _open_page(contract, contract_queries.milestone_of(contract, milestone_id), DisputeOpenForm())


@bp.post("/contracts/<int:contract_id>/milestones/<int:milestone_id>/dispute")
def dispute_open(contract_id: int, milestone_id: int):
    """Open the dispute: the money freezes; the client and the mediator are told. Refusals: 409 (handler)."""
    contract = _contract(contract_id)
    m, form = contract_queries.milestone_of(contract, milestone_id), DisputeOpenForm()
    d = submit(form, lambda: disputes.open_dispute(contract, m.id, by=ROLE, **form.values()))
    if d is None:
        return _open_page(contract, m, form, 422)
    flash(f"Dispute opened. The money for “{m.title}” stays in escrow until it is settled.", "success")
    return _to(d)


@bp.post("/contracts/<int:contract_id>/disputes/<int:dispute_id>/messages")
def dispute_say(contract_id: int, dispute_id: int):
    """A message on the dispute, for the client and the mediator."""
    d, form = _dispute(contract_id, dispute_id), SayForm()
    if submit(form, lambda: disputes.say(d, by=ROLE, body=form.body.data)) is None:
        return _page(d, 422, say_form=form)
    flash("Message sent.", "success")
    return _to(d)


@bp.post("/contracts/<int:contract_id>/disputes/<int:dispute_id>/offer")
def dispute_offer(contract_id: int, dispute_id: int):
    """Offer a split (no money moves until the client accepts it)."""
    d, form = _dispute(contract_id, dispute_id), OfferForm()
    if submit(form, lambda: disputes.propose_split(d, by=ROLE, release_text=form.release.data)) is None:
        return _page(d, 422, offer_form=form)
    flash("Offer sent. The client can accept it from their dispute page.", "success")
    return _to(d)


@bp.post("/contracts/<int:contract_id>/disputes/<int:dispute_id>/accept")
def dispute_accept(contract_id: int, dispute_id: int):
    """Accept the client's offer — the one the page showed; first the amounts and a confirm button."""
    d, form = _dispute(contract_id, dispute_id), AcceptForm()
    if not form.validate():
        return _to(d)
    shown = form.shown_release_minor.data
    if not form.confirmed.data:
        return _page(d, template="freelancer/dispute_confirm.html", action="accept",
                     **dispute_page.confirmation(d, shown, shown_release_minor=shown))
    problem, status = dispute_page.attempt(disputes.accept_split, d, by=ROLE, shown_release_minor=shown)
    if problem:
        return _page(d, status, problem=problem)
    flash("Settled: the split you accepted is being carried out.", "success")
    return _to(d)


@bp.post("/contracts/<int:contract_id>/disputes/<int:dispute_id>/refund")
def dispute_refund(contract_id: int, dispute_id: int):
    """Refund the client in full, ending the dispute; first the amount and a confirm button."""
    d, form = _dispute(contract_id, dispute_id), SettleForm()
    if not form.confirmed.data:
        return _page(d, template="freelancer/dispute_confirm.html", action="refund",
                     **dispute_page.confirmation(d, 0))
    problem, status = dispute_page.attempt(disputes.refund_all, d, by=ROLE)
    if problem:
        return _page(d, status, problem=problem)
    flash("Refunded: the dispute is closed.", "success")
    return _to(d)
