"""The contract page, and the client's replies to a proposal: ask for changes, or decline."""
from __future__ import annotations

from flask import g

from ...domain.states import ContractState
from ...services import actions, client_actions, client_money, funding, refunds
from ...services.errors import InvalidTransition, ValidationFailed
from ..forms.client import REPLY_FORMS, ChangesForm, DeclineForm
from ..helpers import arg_id
from . import _render, _view, bp, disputes, thread, verified_device


@bp.get("/<token>")
def contract_view(token: str):
    """The proposal (or the running contract) with what the client can do now."""
    contract = g.contract
    client_actions.record_view(contract)
    return _render("client/contract.html", actions=actions.contract_actions(contract, "client"),
                   milestone_actions=actions.milestone_actions(contract, "client"),
                   refunding=refunds.in_flight(contract),
                   revising=contract.state == ContractState.DRAFT,
                   # payments, receipts and amounts paid: a verified device only
                   money=client_money.of(contract) if g.verified else None, in_flight=funding.in_flight(contract),
                   acceptance=client_actions.acceptance_of_current(contract),
                   **thread.page_context(contract), **disputes.page_context(contract))


def _reply_page(kind: str, form: ChangesForm | DeclineForm, status: int = 200):
    return _render("client/message.html", status, action=kind, form=form)


@bp.get("/<token>/changes", defaults={"kind": "changes"}, endpoint="changes_form")
@bp.get("/<token>/decline", defaults={"kind": "decline"}, endpoint="decline_form")
@verified_device()
def reply_form(token: str, kind: str):
    """Ask the freelancer for changes, or decline with a reason (verified devices only)."""
    # The revision the client read on the contract page (its links carry it), else the current one.
    revision = arg_id("revision") or g.contract.revision
    return _reply_page(kind, REPLY_FORMS[kind](revision=revision))


@bp.post("/<token>/changes", defaults={"kind": "changes"}, endpoint="changes_submit")
@bp.post("/<token>/decline", defaults={"kind": "decline"}, endpoint="decline_submit")
@verified_device()
def reply_submit(token: str, kind: str):
    """Send the reply; the contract shows "changes requested" or "declined"; the freelancer is told."""
    form, field = REPLY_FORMS[kind](), client_actions.REPLIES[kind].field
    if form.validate():
        try:
            client_actions.reply(g.contract, kind, form[field].data, revision=form.revision.data)
        except ValidationFailed as exc:
            form.add_errors(exc.errors)
            if "revision" in exc.errors:  # told of a newer revision, the client may now reply to it
                form.revision.data = g.contract.revision
        except InvalidTransition as exc:
            return _reply_page(kind, form.add_errors({field: str(exc)}), 409)
        else:
            return _view(token)
    return _reply_page(kind, form, 422)
