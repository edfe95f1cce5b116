"""The edge of every request: what comes in is cleaned once, what goes out carries the security headers.

In: text (form fields and query strings, htmx posts included) loses NUL and the other control
characters (tab, newline and carriage return stay: text areas keep them, single-line fields
turn them into spaces in ``web/forms``); ids in a path are ASCII digits that fit a database
INTEGER, anything else is a 404; a path segment with a control character matches no route (404);
a body above ``MAX_CONTENT_LENGTH`` is refused with 413 before it is read.

Out: a Content-Security-Policy with no inline script (``csp_nonce`` marks the app's own script
tags), framing refused, no MIME sniffing, a referrer policy (client links carry a token), HSTS
when the site is served over https, and ``Cache-Control: no-store`` on every page a signed-in
member sees (not on the public, versioned files: static files, the shop's logo and colours; the client's
pages set it themselves, with ``no-referrer``).
"""
from __future__ import annotations

import re
import secrets

from flask import Flask, Request, g, request
from flask_login import current_user
from werkzeug.datastructures import ImmutableMultiDict, MultiDict
from werkzeug.routing import BaseConverter, IntegerConverter

from ..domain.rules import MAX_ID

#: C0 controls but tab, newline and carriage return; DEL; C1 controls. PostgreSQL refuses NUL in text.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_ANY_CONTROL = r"\x00-\x1f\x7f-\x9f"


def clean_text(value: str) -> str:
    """``value`` without control characters (tab, newline and carriage return are kept)."""
    return _CONTROL.sub("", value)


def _clean(value):
    return clean_text(value) if isinstance(value, str) else value  # files (FileStorage) are left as they are


class CleanMultiDict(ImmutableMultiDict):
    """Request parameters (``request.args``, ``request.form``) with their text cleaned as they are parsed."""

    def __init__(self, mapping=None):
        if isinstance(mapping, MultiDict):
            items = mapping.items(multi=True)
        elif isinstance(mapping, dict):
            items = mapping.items()
        else:
            items = mapping or ()
        super().__init__([(_clean(key), _clean(value)) for key, value in items])


class EdgeRequest(Request):
    """Flask's request, whose query string and form are cleaned once, for every view, form and service."""

    parameter_storage_class = CleanMultiDict


class IdConverter(IntegerConverter):
    """``<int:id>``: ASCII digits only, at most the largest INTEGER id; anything else is a 404, never a 500."""

    regex = r"[0-9]+"

    def __init__(self, map, fixed_digits=0, min=None, max=MAX_ID, signed=False):
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=False)


class TextConverter(BaseConverter):
    """``<name>`` / ``<string:name>``: one path segment without control characters (a NUL is a 404)."""

    def __init__(self, map, minlength=1, maxlength=None, length=None):
        super().__init__(map)
        if length is not None:
            size = f"{{{int(length)}}}"
        else:
            size = f"{{{int(minlength)},{'' if maxlength is None else int(maxlength)}}}"
        self.regex = f"[^/{_ANY_CONTROL}]{size}"


def csp_nonce() -> str:
    """This response's script nonce (one per request)."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(18)
    return g.csp_nonce


#: Braintree's documented sources for Drop-in (card fields and PayPal checkout), per environment:
#: braintree-web's "Content Security Policy" table (script, style, img, frame and connect sources).
_BRAINTREE_HOSTS = {
    "script-src": ["https://js.braintreegateway.com", "https://assets.braintreegateway.com",
                   "https://www.paypalobjects.com", "https://*.paypal.com"],
    # PayPal's checkout injects <style> elements (documented as needing 'unsafe-inline' for styles).
    "style-src": ["https://assets.braintreegateway.com", "'unsafe-inline'"],
    "img-src": ["https://assets.braintreegateway.com", "https://checkout.paypal.com"],
    "frame-src": ["https://assets.braintreegateway.com", "https://c.paypal.com", "https://*.paypal.com"],
}
_BRAINTREE_CONNECT = {
    "production": ["https://api.braintreegateway.com", "https://client-analytics.braintreegateway.com"],
    "sandbox": ["https://api.sandbox.braintreegateway.com", "https://client-analytics.sandbox.braintreegateway.com"],
}


def content_security_policy(nonce: str, *, braintree_environment: str | None = None,
                            inline_styles: bool = False) -> str:
    """The policy of one response; ``braintree_environment`` (a page that loads Drop-in) adds Braintree's hosts,
    ``inline_styles`` (the local inbox, which shows emails styled inline as mail clients need) allows styles."""
    policy = {
        "default-src": ["'self'"],
        "script-src": ["'self'", f"'nonce-{nonce}'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "frame-src": ["'none'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
    if braintree_environment:
        for directive, sources in _BRAINTREE_HOSTS.items():
            policy[directive] = [s for s in policy[directive] if s != "'none'"] + sources
        if braintree_environment in _BRAINTREE_CONNECT:
            connect = _BRAINTREE_CONNECT[braintree_environment]
        else:  # a stand-in at http://host:port (tests)
            connect = [braintree_environment.rstrip("/")]
        policy["connect-src"] += [*connect, "https://*.braintree-api.com", "https://*.paypal.com"]
        policy["child-src"] = policy["frame-src"]
    if inline_styles and "'unsafe-inline'" not in policy["style-src"]:
        policy["style-src"].append("'unsafe-inline'")
    return "; ".join(f"{name} {' '.join(sources)}" for name, sources in policy.items())


#: Public files that set their own caching (versioned URLs): no ``no-store`` for them, whoever asks.
_OWN_CACHING = {"static", "brand.logo", "brand.theme"}


def security_headers(response):
    """Every response: CSP, framing, sniffing, referrer, HSTS on https; no-store for a member's pages."""
    from flask import current_app

    env = None
    if request.blueprint == "client":
        from ..payments import current_gateway

        if current_gateway().name == "braintree":
            env = current_app.config.get("BRAINTREE_ENVIRONMENT") or "sandbox"
    response.headers["Content-Security-Policy"] = content_security_policy(
        csp_nonce(), braintree_environment=env, inline_styles=request.blueprint == "dev")
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if current_app.config["BASE_URL"].startswith("https://"):
        response.headers["Strict-Transport-Security"] = "max-age=31536000"
    if request.endpoint not in _OWN_CACHING and current_user.is_authenticated:
        response.headers["Cache-Control"] = "no-store"
    return response


def register(app: Flask) -> None:
    """Install the request class, the converters and the headers (before any blueprint adds a route)."""
    app.request_class = EdgeRequest
    app.url_map.converters.update(int=IdConverter, default=TextConverter, string=TextConverter)
    app.add_template_global(csp_nonce, "csp_nonce")
    app.after_request(security_headers)
