"""What every dispute page shows, whoever reads it (client, freelancer or the mediator).

One function gathers the facts from ``services.disputes`` and ``services.thread``
so the three portals' pages (and ``templates/partials/_dispute.html``) read
the same values; each portal adds its own forms.
"""
from __future__ import annotations

from ..domain.rules import DISPUTE_REASONS
from ..services import disputes, lifecycle, thread
from ..services.errors import InvalidTransition


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
                             "Nothing was moved and the dispute stays open. You can try again, or settle another "
                             "way (an offer, or a message to the mediator)."),
    lifecycle.RefundUncertain: ("The refund is being confirmed.", 503,
                                "Do not try again: the payment processor is asked again within minutes, and "
                                "everyone is emailed the outcome. This page shows it meanwhile."),
    InvalidTransition: ("Not possible.", 409, "Read the page as it is now, then decide."),
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
