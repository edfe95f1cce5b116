"""htmx helpers: one place decides whether a request wants a fragment."""
from __future__ import annotations

from flask import Response, make_response, request


def wants_fragment() -> bool:
    """True for an htmx request that swaps part of the page.

    Boosted requests and history restores want the full page.
    """
    return (
        request.headers.get("HX-Request") == "true"
        and request.headers.get("HX-Boosted") != "true"
        and request.headers.get("HX-History-Restore-Request") != "true"
    )


def respond(body: str, status: int = 200) -> Response:
    """A response that varies on HX-Request (page vs fragment)."""
    response = make_response(body, status)
    response.vary.add("HX-Request")
    return response
