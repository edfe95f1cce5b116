"""Disputes on the client's side: open one on a milestone, talk, offer a split, accept, or release.

Reading a dispute needs the contract's link only; acting needs a device
verified for the contract (``verified_device``). Every money move is posted
twice: first the exact amounts and a confirm button, then the move. Refusals
of the rules or the gateway are shown on the dispute's page in plain words.
"""
from __future__ import annotations

from flask import flash, g, redirect, request, url_for

from ...services import contract_queries, disputes
from ...services import settings as settings_svc
from ...services.errors import ValidationFailed
from .. import dispute_page
from ..forms.disputes import AcceptForm, DisputeOpenForm, OfferForm, SayForm, SettleForm
from . import _render, bp, verified_device

ROLE = "client"


def page_context(contract) -> dict:
    """What the contract page needs to show its disputes (``client/partials/_disputes.html``)."""
    found = disputes.for_contract(contract)
    return {"disputes": found, "dispute_of": {d.milestone_id: d for d in found if d.status == "open"}}


def _dispute(dispute_id: int):
    """The dispute of the contract this link opens; a 404 (by the error handler) for any other."""
    return disputes.get(g.contract, dispute_id)


def _page(d, status: int = 200, template: str = "client/dispute.html", **context):
    context.setdefault("say_form", SayForm(formdata=None))
    context.setdefault("offer_form", OfferForm(formdata=None))
    url_args = {"token": _token(), "dispute_id": d.id}
    return _render(template, status, **dispute_page.facts(d, ROLE), ep="client.", url_args=url_args,
                   back_url=url_for("client.dispute_show", **url_args), **context)


def _token() -> str:
    return request.view_args["token"]


def _to(d):
    return redirect(url_for("client.dispute_show", token=_token(), dispute_id=d.id), 303)


def _open_page(m, form: DisputeOpenForm, status: int = 200):
    return _render("client/dispute_open.html", status, m=m, form=form, mediator=disputes.owner(),
                   days=settings_svc.current().dispute_response_days,
                   post_url=url_for("client.dispute_open", token=_token(), milestone_id=m.id),
                   back_url=url_for("client.contract_view", token=_token()))


def _submit(form, service):
    """The service's result once the form and the service accept the input; else None, errors on the form."""
    if not form.validate():
        return None
    try:
        return service()
    except ValidationFailed as exc:
        form.add_errors(exc.errors)
        return None


@bp.get("/<token>/disputes/<int:dispute_id>")
def dispute_show(token: str, dispute_id: int):
    """The dispute: facts, deadline, mediator, offer, messages; acting needs a verified device."""
    return _page(_dispute(dispute_id))


@bp.get("/<token>/milestones/<int:milestone_id>/dispute")
@verified_device()
def dispute_open_form(token: str, milestone_id: int):
    """What opening a dispute does, and the form (reason, statement, amount in question)."""
    return _open_page(contract_queries.milestone_of(g.contract, milestone_id), DisputeOpenForm())


@bp.post("/<token>/milestones/<int:milestone_id>/dispute")
@verified_device()
def dispute_open(token: str, milestone_id: int):
    """Open the dispute: the money freezes; the freelancer and the mediator are told."""
    m, form = contract_queries.milestone_of(g.contract, milestone_id), DisputeOpenForm()
    d = _submit(form, lambda: disputes.open_dispute(g.contract, m.id, by=ROLE, **form.values()))
    if d is None:
        return _open_page(m, form, 422)
    flash(f"Dispute opened. The money for “{m.title}” stays in escrow until it is settled.", "success")
    return _to(d)


@bp.post("/<token>/disputes/<int:dispute_id>/messages")
@verified_device()
def dispute_say(token: str, dispute_id: int):
    """A message on the dispute, for the freelancer and the mediator."""
    d, form = _dispute(dispute_id), SayForm()
    if _submit(form, lambda: disputes.say(d, by=ROLE, body=form.body.data)) is None:
        return _page(d, 422, say_form=form)
    flash("Message sent.", "success")
    return _to(d)


@bp.post("/<token>/disputes/<int:dispute_id>/offer")
@verified_device()
def dispute_offer(token: str, dispute_id: int):
    """Offer a split (no money moves until the freelancer accepts it)."""
    d, form = _dispute(dispute_id), OfferForm()
    if _submit(form, lambda: disputes.propose_split(d, by=ROLE, release_text=form.release.data)) is None:
        return _page(d, 422, offer_form=form)
    flash("Offer sent. The freelancer can accept it from their dispute page.", "success")
    return _to(d)


@bp.post("/<token>/disputes/<int:dispute_id>/accept")
@verified_device()
def dispute_accept(token: str, dispute_id: int):
    """Accept the freelancer's offer — the one the page showed; first the amounts and a confirm button."""
    d, form = _dispute(dispute_id), AcceptForm()
    if not form.validate():
        return _to(d)
    shown = form.shown_release_minor.data
    if not form.confirmed.data:
        return _page(d, template="client/dispute_confirm.html", action="accept",
                     **dispute_page.confirmation(d, shown, shown_release_minor=shown))
    problem, status = dispute_page.attempt(disputes.accept_split, d, by=ROLE, shown_release_minor=shown)
    if problem:
        return _page(d, status, problem=problem)
    flash("Settled: the split you accepted is being carried out.", "success")
    return _to(d)


@bp.post("/<token>/disputes/<int:dispute_id>/release")
@verified_device()
def dispute_release(token: str, dispute_id: int):
    """Release the whole milestone to the freelancer, ending the dispute; first the amount and a confirm button."""
    d, form = _dispute(dispute_id), SettleForm()
    if not form.confirmed.data:
        return _page(d, template="client/dispute_confirm.html", action="release",
                     **dispute_page.confirmation(d, d.milestone.amount_minor))
    problem, status = dispute_page.attempt(disputes.release_all, d, by=ROLE)
    if problem:
        return _page(d, status, problem=problem)
    flash("Released: the dispute is closed.", "success")
    return _to(d)
