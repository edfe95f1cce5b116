"""Approving delivered work, or sending a milestone back with what still needs doing."""
from __future__ import annotations

from flask import flash, g

from ...services import contract_queries, lifecycle
from ...services.errors import InvalidTransition, ValidationFailed
from ..forms.client import ApproveForm, MilestoneChangesForm
from . import _render, _view, bp, verified_device


def _milestone(milestone_id: int):
    """The contract's milestone; a 404 (by the error handler) if it has no such one."""
    return contract_queries.milestone_of(g.contract, milestone_id)


def _milestone_page(m, action: str, form: ApproveForm | MilestoneChangesForm, status: int = 200):
    return _render("client/milestone_action.html", status, m=m, action=action, form=form)


@bp.get("/<token>/milestones/<int:milestone_id>/approve")
@verified_device("approve")
def approve_form(token: str, milestone_id: int):
    """Confirm the release: states exactly what is paid to the freelancer, now."""
    return _milestone_page(_milestone(milestone_id), "approve", ApproveForm())


@bp.post("/<token>/milestones/<int:milestone_id>/approve")
@verified_device("approve")
def approve(token: str, milestone_id: int):
    """Approve and release at once (no security period). Twice is the same as once."""
    m, form = _milestone(milestone_id), ApproveForm()
    try:
        lifecycle.approve(g.contract, m.id)
    except InvalidTransition as exc:
        return _milestone_page(m, "approve", form.add_errors({"action": str(exc)}), 409)
    flash(f"Released {m.amount.format()} to {g.contract.member.name} for “{m.title}”. A receipt is on its way.",
          "success")
    return _view(token)


@bp.get("/<token>/milestones/<int:milestone_id>/changes")
@verified_device("mchanges")
def milestone_changes_form(token: str, milestone_id: int):
    """Not satisfied yet: say what still needs doing."""
    return _milestone_page(_milestone(milestone_id), "changes", MilestoneChangesForm())


@bp.post("/<token>/milestones/<int:milestone_id>/changes")
@verified_device("mchanges")
def milestone_changes(token: str, milestone_id: int):
    """Send the milestone back to work; the auto-release clock stops."""
    m, form = _milestone(milestone_id), MilestoneChangesForm()
    if form.validate():
        try:
            lifecycle.client_request_changes(g.contract, m.id, message=form.message.data)
        except ValidationFailed as exc:
            form.add_errors(exc.errors)
        except InvalidTransition as exc:
            return _milestone_page(m, "changes", form.add_errors({"action": str(exc)}), 409)
        else:
            flash("Sent. The money stays in escrow until you approve.", "success")
            return _view(token)
    return _milestone_page(m, "changes", form, 422)
