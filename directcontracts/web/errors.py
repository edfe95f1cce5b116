"""Error pages and the one place where service errors become responses.

Never a stack trace, never a 500 page inside an htmx target: an htmx request
that is refused or fails gets a small notice retargeted to the page's
``#notices`` area, so the widget it came from stays as it was.

Services raise typed errors (services/errors.py); the handlers below map them:
``NotFound`` → 404, ``LinkGone`` → 410, ``InvalidTransition`` → 409 notice (htmx) or flash and a
303 back (page), ``ValidationFailed`` → 422, a rate limit (web/limits.py) → 429
with ``Retry-After``. A view catches one of them itself
only to re-render its own form with the errors beside the fields.
"""
from __future__ import annotations

import logging
import time
from urllib.parse import urlsplit

from flask import Flask, current_app, flash, redirect, render_template, request, url_for
from flask_limiter.errors import RateLimitExceeded
from flask_login import login_url
from flask_wtf.csrf import CSRFError

from ..extensions import db, limiter, login_manager
from ..htmx import respond, wants_fragment
from ..services.errors import InvalidTransition, LinkGone, NotFound, ValidationFailed

log = logging.getLogger(__name__)

#: Where the notice of a failed htmx request goes (the flash area of templates/base.html).
NOTICES = "#notices"


def _page(status: int, title: str, message: str):
    if wants_fragment():
        # A fragment would land inside the widget's target: send a small,
        # self-describing notice and tell htmx to put it in the flash area.
        body = render_template("partials/_notice.html", title=title, message=message)
        response = respond(body, status)
        response.headers["HX-Retarget"] = NOTICES
        response.headers["HX-Reswap"] = "innerHTML"
        return response
    return respond(render_template("error.html", title=title, message=message), status)


def refused(exc: Exception, back: str):
    """An action the state machine refused: say why, where the user is.

    htmx: a 409 notice in the flash area (the row, form or list it came from is
    kept). A page: the reason flashed, and a 303 to ``back``.
    """
    if wants_fragment():
        return _page(409, "Not possible", str(exc))
    flash(str(exc), "error")
    return redirect(back, 303)


def _retry_after() -> int:
    """Seconds until the limit that refused this request lets it through again."""
    current = limiter.current_limit
    return max(1, int(current.reset_at - time.time())) if current else 60


def _in_words(seconds: int) -> str:
    minutes = -(-seconds // 60)  # rounded up
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def _same_site_referrer() -> str | None:
    ref = request.referrer
    if ref and urlsplit(ref).netloc == request.host:
        return ref
    return None


def logged_out():
    """A member-only page or action without a valid session (never logged in, logged out, or expired).

    A page: the login page, which comes back here afterwards. htmx: a 401
    notice in the flash area and ``HX-Redirect`` to the login page, which then
    comes back to the page the request came from.
    """
    if wants_fragment():
        response = _page(401, "Logged out", "Your session has ended. Log in again to continue.")
        response.headers["HX-Redirect"] = login_url("auth.login", _same_site_referrer())
        return response
    flash(login_manager.login_message, login_manager.login_message_category)
    return redirect(login_url("auth.login", request.url))


def register(app: Flask) -> None:
    login_manager.unauthorized_handler(logged_out)

    @app.errorhandler(CSRFError)
    def csrf_error(exc):
        return _page(400, "Please try again",
                     "This form was open too long or came from elsewhere. Reload the page and try again.")

    @app.errorhandler(404)
    @app.errorhandler(NotFound)
    def not_found(exc):
        return _page(404, "Not found", "There is nothing here, or it is not yours to see.")

    @app.errorhandler(LinkGone)
    def link_gone(exc):
        return _page(410, "This link no longer works", str(exc))

    @app.errorhandler(InvalidTransition)
    def invalid_transition(exc):
        # A blueprint that knows a better "back" registers its own handler calling refused().
        return refused(exc, _same_site_referrer() or url_for("auth.home"))

    @app.errorhandler(ValidationFailed)
    def validation_failed(exc):
        # Views with a form re-render it themselves; this is for the rest.
        message = " ".join(exc.errors.values()) or str(exc)
        return _page(422, "Please check what you entered", message)

    @app.errorhandler(413)
    def too_large(exc):
        limit = current_app.config.get("MAX_CONTENT_LENGTH") or 0
        return _page(413, "Too large", f"What you sent is larger than this site accepts ({limit // 1024:,} KB). "
                     "Send less, or a smaller file.")

    @app.errorhandler(RateLimitExceeded)
    def too_many(exc):
        # The limits' own words (web/limits.py), when to come back, and the same in Retry-After.
        seconds = _retry_after()
        response = _page(429, "Too many attempts", f"{exc.description} Try again in {_in_words(seconds)}.")
        response.headers["Retry-After"] = str(seconds)
        return response

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
