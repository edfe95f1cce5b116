"""What every dispute page shows, whoever reads it (client, freelancer or the mediator).

One function gathers the facts from ``services.disputes`` and ``services.thread``
so the three portals' pages (and ``templates/partials/_dispute.html``) read
the same values; each portal adds its own forms.

The client's and the freelancer's dispute views are the same but for how a
portal renders and links (a ``Portal``): each view loads the dispute and calls
one of ``show``, ``open_form``, ``open_dispute``, ``say``, ``offer``, ``accept``
or ``settle`` here. Every money move is posted twice: first the exact amounts
and a confirm button (``confirmed`` unset), then the move.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from flask import flash, redirect, url_for

from ..domain.rules import DISPUTE_REASONS
from ..services import contract_queries, disputes, lifecycle, thread
from ..services import settings as settings_svc
from ..services.errors import InvalidTransition
from .forms.disputes import AcceptForm, DisputeOpenForm, OfferForm, SayForm, SettleForm


def facts(dispute, role: str) -> dict:
    """The dispute's page context for ``role`` ("client", "freelancer" or "owner")."""
    contract, m = dispute.contract, dispute.milestone
    messages = thread.messages(contract, dispute=dispute)
    offer = None
    if dispute.proposal_by is not None:
        part = contract.money(dispute.proposal_release_minor)
        offer = {"by": dispute.proposal_by, "release": part, "refund": m.amount - part,
                 "minor": dispute.proposal_release_minor}
    decided = None
    if dispute.release_minor is not None:
        decided = {"release": contract.money(dispute.release_minor),
                   "refund": contract.money(dispute.refund_minor or 0)}
    return {"dispute": dispute, "contract": contract, "m": m, "role": role, "messages": messages,
            "mediator": disputes.owner(), "refund_in_flight": disputes.refunding(dispute),
            "own_case": disputes.own_case(dispute), "reason_label": DISPUTE_REASONS.get(dispute.reason, dispute.reason),
            "in_question": contract.money(dispute.amount_minor), "offer": offer, "decided": decided,
            "acting": dispute.status == "open" and dispute.decided_at is None,
            "names": {"client": contract.client_name, "freelancer": contract.member.name}}


def confirmation(dispute, release_minor: int, **hidden) -> dict:
    """The confirm step of a money move: exactly what goes to whom, and the fields to post again."""
    contract, m = dispute.contract, dispute.milestone
    release = contract.money(release_minor)
    return {"confirm": {"release": release, "refund": m.amount - release, "hidden": hidden}}


#: What went wrong with a money move, in plain words, and what to do next; and its status code.
_PROBLEMS = {
    lifecycle.RefundFailed: ("The payment processor refused the refund.", 409,
                             "You can try again later (a card payment can be refunded in part only once it has "
                             "settled, usually within a day), or decide another way."),
    lifecycle.RefundUncertain: ("The refund is being confirmed.", 503,
                                "Do not try again: the payment processor is asked again within minutes, and "
                                "everyone is emailed the outcome. This page shows it meanwhile."),
    InvalidTransition: ("Not possible.", 409, ""),  # the refusal itself says what to do
}


def attempt(service, *args, **kwargs) -> tuple[dict | None, int]:
    """Run a money move; (None, 200) when done, else (the problem to show on the dispute page, status).

    A refusal of the gateway or of the rules never becomes a stack trace.
    """
    try:
        service(*args, **kwargs)
    except tuple(_PROBLEMS) as exc:
        kind = next(k for k in _PROBLEMS if isinstance(exc, k))
        title, status, then = _PROBLEMS[kind]
        return {"title": title, "message": str(exc), "next": then}, status
    return None, 200


@dataclass(frozen=True)
class Portal:
    """How one party's portal renders and links its dispute pages."""

    role: str  # "client" or "freelancer": the party acting, the endpoints' and templates' prefix
    other: str  # the other party, as the flash messages name it
    render: Callable  # render(template, status, **context) -> response
    contract_args: Callable  # contract_args(contract) -> the URL arguments of the contract's pages
    contract_endpoint: str  # the contract's page, where opening a dispute goes back to

    def url_args(self, d) -> dict:
        return {**self.contract_args(d.contract), "dispute_id": d.id}


def page(p: Portal, d, status: int = 200, template: str | None = None, **context):
    """The dispute's page (or its confirm step) in ``p``, with the forms the page did not get."""
    context.setdefault("say_form", SayForm(formdata=None))
    context.setdefault("offer_form", OfferForm(formdata=None))
    url_args = p.url_args(d)
    return p.render(template or f"{p.role}/dispute.html", status, **facts(d, p.role), ep=f"{p.role}.",
                    url_args=url_args, back_url=url_for(f"{p.role}.dispute_show", **url_args), **context)


def to(p: Portal, d):
    """Back to the dispute's page (after a post)."""
    return redirect(url_for(f"{p.role}.dispute_show", **p.url_args(d)), 303)


def open_page(p: Portal, contract, m, form, status: int = 200):
    """What opening a dispute on milestone ``m`` does, and the form."""
    args = p.contract_args(contract)
    return p.render(f"{p.role}/dispute_open.html", status, contract=contract, m=m, form=form, opener=p.role,
                    mediator=disputes.owner(), days=settings_svc.current().dispute_response_days,
                    post_url=url_for(f"{p.role}.dispute_open", **args, milestone_id=m.id),
                    back_url=url_for(p.contract_endpoint, **args))


def open_form(p: Portal, contract, milestone_id: int):
    return open_page(p, contract, contract_queries.milestone_of(contract, milestone_id), DisputeOpenForm())


def open_dispute(p: Portal, contract, milestone_id: int):
    """Open the dispute: the money freezes; the other party and the mediator are told."""
    m, form = contract_queries.milestone_of(contract, milestone_id), DisputeOpenForm()
    d = form.submit(lambda: disputes.open_dispute(contract, m.id, by=p.role, **form.values()))
    if d is None:
        return open_page(p, contract, m, form, 422)
    flash(f"Dispute opened. The money for “{m.title}” stays in escrow until it is settled.", "success")
    return to(p, d)


def _post(p: Portal, d, form, field: str, service, done: str):
    if form.submit(service) is None:
        return page(p, d, 422, **{field: form})
    flash(done, "success")
    return to(p, d)


def say(p: Portal, d):
    """A message on the dispute, for the other party and the mediator."""
    form = SayForm()
    return _post(p, d, form, "say_form", lambda: disputes.say(d, by=p.role, body=form.body.data), "Message sent.")


def offer(p: Portal, d):
    """Offer a split (no money moves until the other party accepts it)."""
    form = OfferForm()
    return _post(p, d, form, "offer_form", lambda: disputes.propose_split(d, by=p.role, release_text=form.release.data),
                 f"Offer sent. The {p.other} can accept it from their dispute page.")


def _move(p: Portal, d, confirmed, action: str, release_minor: int, service, done: str, **hidden):
    """A money move: the amounts and a confirm button until ``confirmed``; then the move, or the problem."""
    if not confirmed:
        return page(p, d, template=f"{p.role}/dispute_confirm.html", action=action,
                    **confirmation(d, release_minor, **hidden))
    problem, status = attempt(service, d, by=p.role, **hidden)
    if problem:
        return page(p, d, status, problem=problem)
    flash(done_unless_queued(d, done), "success")
    return to(p, d)


def done_unless_queued(d, done: str) -> str:
    """What a decision's flash says: ``done``, or that the client's part waits for their payment to settle."""
    waiting = disputes.refunding(d)
    if waiting is None or waiting.status != "queued":
        return done
    return (f"Decided. {lifecycle.REFUND_QUEUED} The dispute is settled then, and everyone is emailed "
            f"the outcome.")


def accept(p: Portal, d):
    """Accept the other party's offer — the one the page showed."""
    form = AcceptForm()
    if not form.validate():
        return to(p, d)
    shown = form.shown_release_minor.data
    return _move(p, d, form.confirmed.data, "accept", shown, disputes.accept_split,
                 "Settled: the split you accepted is being carried out.", shown_release_minor=shown)


def settle(p: Portal, d, action: str, release_minor: int, service, done: str):
    """End the dispute at once (``action`` "release" or "refund"), moving ``release_minor`` to the freelancer."""
    return _move(p, d, SettleForm().confirmed.data, action, release_minor, service, done)
