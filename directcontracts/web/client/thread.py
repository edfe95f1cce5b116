"""The contract's message thread on the client's page: read it (and the money's timeline), write to the freelancer."""
from __future__ import annotations

from flask import current_app, g, make_response, redirect, request, url_for

from ...htmx import wants_fragment
from ...services import thread as thread_service
from ..forms.thread import MessageForm
from ..text import linkify
from . import _render, bp, verified_device

bp.app_template_filter("linkify")(linkify)


def _thread_context(contract, token: str, form: MessageForm | None = None) -> dict:
    return {"thread": thread_service.messages(contract), "thread_role": "client",
            "thread_form": form or g.get("thread_form") or MessageForm(formdata=None),
            "thread_url": url_for("client.message_post", token=token),
            "thread_refusal": thread_service.may_post(contract, "client"), "thread_can_write": g.verified,
            "thread_verify_url": url_for("client.verify_form", token=token),
            "thread_labels": thread_service.KIND_LABELS}


def page_context(contract) -> dict:
    """What the contract page needs: the thread and its form, and what happened to the client's money."""
    return _thread_context(contract, request.view_args["token"]) | {
        # what was paid, by which card: for a verified device only, like every receipt
        "money_events": thread_service.money_events(contract) if g.verified else []}


def _invalid(token: str, form: MessageForm):
    """A message refused (empty, too long): htmx gets the thread with the error; a browser, the page (422)."""
    if wants_fragment():
        return _render("partials/_thread.html", 422, **_thread_context(g.contract, token, form))
    g.thread_form = form  # page_context shows what was typed, with the error
    response = make_response(current_app.view_functions["client.contract_view"](token=token))
    response.status_code = 422
    return response


@bp.post("/<token>/messages")
@verified_device()
def message_post(token: str):
    """The client writes to the freelancer (verified devices only): htmx gets the updated thread, a browser a 303.

    Raises InvalidTransition (the app's handler) before the proposal was sent.
    """
    form = MessageForm()
    if form.submit(thread_service.post, g.contract, "client", form.body.data) is None:
        return _invalid(token, form)
    if wants_fragment():
        return _render("partials/_thread.html", **_thread_context(g.contract, token, MessageForm(formdata=None)))
    return redirect(url_for("client.contract_view", token=token, _anchor="thread"), 303)
