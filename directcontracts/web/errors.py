"""Error pages: never a stack trace, never a 500 page inside an htmx target."""
from __future__ import annotations

import logging

from flask import Flask, render_template
from flask_wtf.csrf import CSRFError

from ..extensions import db
from ..htmx import respond, wants_fragment

log = logging.getLogger(__name__)


def _page(status: int, title: str, message: str):
    if wants_fragment():
        # A fragment would land inside the widget's target: send a small,
        # self-describing notice and tell htmx to put it in the flash area.
        body = render_template("partials/_notice.html", title=title, message=message)
        response = respond(body, status)
        response.headers["HX-Retarget"] = "#notices"
        response.headers["HX-Reswap"] = "innerHTML"
        return response
    return respond(render_template("error.html", title=title, message=message), status)


def register(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(exc):
        return _page(400, "Please try again",
                     "This form was open too long or came from elsewhere. Reload the page and try again.")

    @app.errorhandler(404)
    def not_found(exc):
        return _page(404, "Not found", "There is nothing here, or it is not yours to see.")

    @app.errorhandler(405)
    def not_allowed(exc):
        return _page(405, "Not allowed", "That action is not available here.")

    @app.errorhandler(500)
    def server_error(exc):
        db.session.rollback()
        return _page(500, "Something went wrong",
                     "We could not finish that, and the error has been logged for the shop. "
                     "Reload the page to see where things stand before you try again: "
                     "a payment or refund is never made twice for one request.")
