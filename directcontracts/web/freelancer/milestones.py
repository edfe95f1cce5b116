"""The terms step's milestone editor: rows added, shown, edited, removed and moved in place (htmx)."""
from __future__ import annotations

from ...htmx import wants_fragment
from ...services import contract_queries, milestone_editor
from ..forms.freelancer import MilestoneForm, MoveForm
from . import _contract, _pages as pages, bp


@bp.post("/contracts/<int:contract_id>/milestones")
def milestone_create(contract_id: int):
    """Add a milestone: the new row, a fresh add form and the summary (htmx), or a redirect."""
    contract, form = _contract(contract_id), MilestoneForm()
    milestone = form.submit(milestone_editor.add_milestone, contract, form.values())
    if milestone is None and wants_fragment():
        return pages.fragment("_milestone_add.html", contract, 422, add_form=form)
    if milestone is None:
        return pages.terms_page(contract, 422, add=form)
    if not wants_fragment():
        return pages.back_to_terms(contract)
    return pages.fragment("_milestone_added.html", contract, m=milestone, add_form=MilestoneForm(formdata=None))


@bp.get("/contracts/<int:contract_id>/milestones/<int:milestone_id>")
def milestone_row(contract_id: int, milestone_id: int):
    """One milestone row (htmx "Cancel" of an edit)."""
    contract = _contract(contract_id)
    if not wants_fragment():
        return pages.back_to_terms(contract)
    return pages.row(contract, contract_queries.milestone_of(contract, milestone_id))


@bp.get("/contracts/<int:contract_id>/milestones/<int:milestone_id>/edit")
def milestone_edit_form(contract_id: int, milestone_id: int):
    """The row in edit mode (fragment), or the terms page with that row open."""
    contract = _contract(contract_id)
    milestone = contract_queries.milestone_of(contract, milestone_id)
    if not wants_fragment():
        return pages.terms_page(contract, editing=milestone.id)
    return pages.row(contract, milestone, editing=True)


@bp.post("/contracts/<int:contract_id>/milestones/<int:milestone_id>")
def milestone_update(contract_id: int, milestone_id: int):
    """Save an edited row; 422 with the errors beside the fields."""
    contract = _contract(contract_id)
    milestone, form = contract_queries.milestone_of(contract, milestone_id), MilestoneForm()
    saved = form.submit(milestone_editor.update_milestone, contract, milestone_id, form.values())
    if not saved and wants_fragment():
        return pages.row(contract, milestone, editing=True, form=form, status=422)
    if not saved:
        return pages.terms_page(contract, 422, editing=milestone.id, row=form)
    if not wants_fragment():
        return pages.back_to_terms(contract)
    return pages.row(contract, milestone, summary=True)


@bp.post("/contracts/<int:contract_id>/milestones/<int:milestone_id>/delete")
def milestone_delete(contract_id: int, milestone_id: int):
    """Remove a milestone; htmx deletes the row and refreshes the summary."""
    contract = _contract(contract_id)
    milestone_editor.remove_milestone(contract, milestone_id)
    if not wants_fragment():
        return pages.back_to_terms(contract)
    return pages.summary(contract, oob=True)


@bp.post("/contracts/<int:contract_id>/milestones/<int:milestone_id>/move")
def milestone_move(contract_id: int, milestone_id: int):
    """Move a milestone up or down; htmx re-renders the list."""
    contract = _contract(contract_id)
    milestone_editor.move_milestone(contract, milestone_id, MoveForm().direction.data)
    if not wants_fragment():
        return pages.back_to_terms(contract)
    return pages.fragment("_milestone_list.html", contract, editing=None, row_form=None)
