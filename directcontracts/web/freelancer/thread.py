"""The contract's message thread on the freelancer's portal: read it on the contract page, write to the client."""
from __future__ import annotations

from flask import current_app, g, make_response, redirect, render_template, url_for

from ...htmx import respond, wants_fragment
from ...services import thread as thread_service
from ..forms.thread import MessageForm
from ..text import linkify
from . import _contract, bp

bp.app_template_filter("linkify")(linkify)


def _thread_context(contract, form: MessageForm | None = None) -> dict:
    return {"thread": thread_service.messages(contract), "thread_role": "freelancer",
            "thread_form": form or g.get("thread_form") or MessageForm(formdata=None),
            "thread_url": url_for("freelancer.message_post", contract_id=contract.id),
            "thread_refusal": thread_service.may_post(contract, "freelancer"), "thread_can_write": True,
            "thread_labels": thread_service.KIND_LABELS}


def page_context(contract) -> dict:
    """What the contract page needs: the thread and its form, and the client's open change request."""
    return _thread_context(contract) | {"open_request": thread_service.open_request(contract)}


def _fragment(contract, form: MessageForm | None = None, status: int = 200):
    """The thread (``#thread``), as the page shows it: htmx swaps it in place; the open change
    request (which a reply answers) comes along out of band."""
    body = render_template("partials/_thread.html", contract=contract, **_thread_context(contract, form))
    body += render_template("freelancer/partials/_open_request.html", contract=contract, oob=True,
                            open_request=thread_service.open_request(contract))
    return respond(body, status)


def _invalid(contract, form: MessageForm):
    """A message refused (empty, too long): htmx gets the thread with the error; a browser, the page (422)."""
    if wants_fragment():
        return _fragment(contract, form, 422)
    g.thread_form = form  # page_context shows what was typed, with the error
    response = make_response(current_app.view_functions["freelancer.contract_show"](contract_id=contract.id))
    response.status_code = 422
    return response


@bp.post("/contracts/<int:contract_id>/messages")
def message_post(contract_id: int):
    """The freelancer writes to the client: htmx gets the updated thread (the form empty), a browser a 303 to it.

    A withdrawn or unsent contract is refused (InvalidTransition, the portal's handler).
    """
    contract, form = _contract(contract_id), MessageForm()
    if form.submit(thread_service.post, contract, "freelancer", form.body.data) is None:
        return _invalid(contract, form)
    if wants_fragment():
        return _fragment(contract, MessageForm(formdata=None))
    return redirect(url_for("freelancer.contract_show", contract_id=contract.id, _anchor="thread"), 303)
