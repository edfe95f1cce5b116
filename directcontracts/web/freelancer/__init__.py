"""The freelancer's portal: the Direct Contracts list, the contract builder and the contract's life.

One blueprint, one route module per screen or story: ``builder`` (the steps of
a new contract), ``milestones`` (the htmx milestone editor), ``contract`` (the
list, the contract page and what is launched from it) and ``notifications``
(the bell). Views parse the request with a form (``web.forms.freelancer``),
call one service, and choose a template and status (``_pages``).
"""
from __future__ import annotations

from flask import Blueprint, request, url_for
from flask_login import current_user, login_required

from ...services import contract_queries
from ...services.errors import InvalidTransition
from .. import errors

bp = Blueprint("freelancer", __name__)

#: A refused action goes back to the contract's page, except from these endpoints (→ where).
REFUSED_BACK = {"freelancer.contract_send": "freelancer.contract_review"}

#: The endpoints that open a draft revision (services.proposals) by its own id: the builder's steps, its
#: milestone editor and send (the contract page sends on to the sent contract's). Anywhere else it is no
#: contract (404): it cannot be withdrawn, linked, messaged or ended; its sent contract can.
DRAFT_REVISION_ENDPOINTS = frozenset(f"freelancer.{name}" for name in (
    "contract_show", "contract_client", "contract_client_update", "contract_terms", "contract_terms_update",
    "contract_amount_preview", "contract_review", "contract_send", "milestone_create", "milestone_row",
    "milestone_edit_form", "milestone_update", "milestone_delete", "milestone_move"))


@bp.before_request
@login_required
def require_login():
    """Every page of the portal is for logged-in members."""


@bp.errorhandler(InvalidTransition)
def refused(exc: InvalidTransition):
    """Any refused action of the portal: a notice in the flash area (htmx), or flash + 303 back."""
    contract_id = (request.view_args or {}).get("contract_id")
    if contract_id is None:
        return errors.refused(exc, url_for("freelancer.contract_list"))
    back = REFUSED_BACK.get(request.endpoint, "freelancer.contract_show")
    return errors.refused(exc, url_for(back, contract_id=contract_id))


def _contract(contract_id: int):
    """The member's contract; a 404 (by the error handler) if there is none or it is not theirs."""
    return contract_queries.get_for_member(contract_id, current_user,
                                           draft_revision=request.endpoint in DRAFT_REVISION_ENDPOINTS)


from . import thread, disputes  # noqa: E402,F401,I001  (before contract, which uses their page_context)
from . import builder, contract, milestones, notifications  # noqa: E402,F401  (routes join bp)
