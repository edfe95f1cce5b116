"""What the portal's views render: pages, fragments, and the redirects between them.

A form's submit is ``submit``: the form's own checks, then the service, whose
``ValidationFailed`` lands beside the fields. Milestone endpoints answer htmx
with fragments and plain browsers with redirects (or the full page on a
validation error), so the editor works without JavaScript too.
"""
from __future__ import annotations

from flask import redirect, render_template, url_for

from ...domain.money import SUPPORTED_CURRENCIES
from ...htmx import respond
from ...services import actions, contract_queries, lifecycle, proposals, refunds
from ...services import settings as settings_svc
from ...services.errors import InvalidTransition
from ..forms.freelancer import MilestoneForm, TermsForm
from ..helpers import STATE_LABELS

#: The contract builder's steps, in order; each is a ``contract_<step>`` view, and
#: each step's form takes ``next=<step>`` to save and then go there.
BUILDER_STEPS = ("client", "terms", "review")


def to_show(contract):
    """The 303 to the contract's page, after an action that changed it."""
    return redirect(url_for("freelancer.contract_show", contract_id=contract.id), 303)


def step_url(contract, step: str) -> str:
    """Where a builder step's submit button leads: another step (its ``next`` value), else the terms."""
    if step not in BUILDER_STEPS:
        step = "terms"
    return url_for(f"freelancer.contract_{step}", contract_id=contract.id)


def back_to_terms(contract, anchor: str = "milestones"):
    return redirect(url_for("freelancer.contract_terms", contract_id=contract.id, _anchor=anchor), 303)


def revision_context(contract) -> dict:
    """What a page says about a draft revision (``services.proposals``).

    On the sent contract's page: ``draft_revision`` (the copy, or None) and ``stale_revision`` (why it
    can no longer be sent, or None). On the copy's builder pages: ``revision_of`` (the sent contract,
    whose reference the client reads) and ``stale_revision``. Empty values for any other contract.
    """
    draft = (contract if contract.draft_of_id else
             proposals.draft_revision_of(contract) if contract.revision else None)
    return {"draft_revision": draft if draft is not contract else None,
            "revision_of": proposals.sent_contract_of(contract) if contract.draft_of_id else None,
            "stale_revision": proposals.stale_revision(draft) if draft is not None else None}


def terms_values(contract) -> dict:
    """The terms form's values as saved."""
    single = contract.live_milestones[0] if contract.kind == "single" and contract.live_milestones else None
    return {"title": contract.title, "scope": contract.scope, "currency": contract.currency,
            "kind": contract.kind, "amount": single.amount.to_plain() if single else "",
            "due_date": single.due_date.isoformat() if single and single.due_date else ""}


def milestone_values(milestone) -> dict:
    """A milestone row's form values as saved."""
    return {"title": milestone.title, "amount": milestone.amount.to_plain(),
            "due_date": milestone.due_date.isoformat() if milestone.due_date else "",
            "description": milestone.description}


def row_form(milestone, form=None):
    """The edit form of a row: what was posted, else the milestone as saved."""
    return form or MilestoneForm(formdata=None, data=milestone_values(milestone))


def _editor(contract) -> dict:
    return {"contract": contract, "summary": contract_queries.summary_of(contract),
            "milestone_actions": actions.milestone_actions(contract, "freelancer")}


def terms_page(contract, status: int = 200, *, editing: int | None = None, row=None, add=None, terms=None):
    """The terms step with the milestone editor; used for plain (no-JS) responses too."""
    editing_row = next((m for m in contract.live_milestones if m.id == editing), None)
    body = render_template(
        "freelancer/terms.html", **_editor(contract), currencies=SUPPORTED_CURRENCIES, editing=editing,
        row_form=row_form(editing_row, row) if editing_row else None,
        add_form=add or MilestoneForm(formdata=None),
        terms_form=terms or TermsForm(formdata=None, data=terms_values(contract)), **revision_context(contract),
    )
    return respond(body, status)


def row(contract, milestone, *, editing=False, form=None, status=200, summary=False):
    """One row of the editor (htmx), shown or open for editing; ``summary``: the total too (out of band)."""
    body = render_template("freelancer/partials/_milestone_row.html", **_editor(contract), m=milestone,
                           editing=editing, form=row_form(milestone, form) if editing else None,
                           oob_summary=summary)
    return respond(body, status)


def fragment(template: str, contract, status: int = 200, **context):
    """An editor fragment (``freelancer/partials/<template>``)."""
    return respond(render_template(f"freelancer/partials/{template}", **_editor(contract), **context), status)


def summary(contract, oob: bool = False, value=None, refusal: str | None = None, preview: bool = False):
    """The live total (``value``: a preview's instead of the saved one; ``refusal``: why the amount
    typed gives none). A ``preview`` also relabels the amount field with the currency chosen."""
    return respond(render_template("freelancer/partials/_summary.html", oob=oob, refusal=refusal, currency_oob=preview,
                                   summary=value or contract_queries.summary_of(contract)))


def milestone_page(contract, milestone_id: int, action: str, form, status: int = 200):
    """A funded milestone's action page (``request_payment``, ``refund``) with its form.

    Asked for an action the milestone does not offer now (disputed, refund being confirmed...), the
    page is refused (the portal's handler: a notice on the contract page) instead of showing a form
    whose submit would be refused.
    """
    milestone = contract_queries.milestone_of(contract, milestone_id)
    offered = actions.milestone_actions(contract, "freelancer")(milestone)
    if status == 200 and {"request_payment": "submit"}.get(action, action) not in offered:
        why = (lifecycle.in_flight_message(refunds.in_flight(contract)[milestone.id])
               if milestone.id in refunds.in_flight(contract)
               else f"it is {STATE_LABELS.get(milestone.state, milestone.state).lower()}.")
        raise InvalidTransition(f"“{milestone.title}” cannot be "
                                f"{'refunded' if action == 'refund' else 'submitted for payment'} now: {why}")
    return respond(render_template("freelancer/milestone_action.html", contract=contract, m=milestone,
                                   action=action, form=form,
                                   auto_release_days=settings_svc.current().auto_release_days), status)

