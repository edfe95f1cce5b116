"""The shop's brand, served to anyone: the logo and the accent's stylesheet (clients, with no account, load both,
and so do their mail programs for the logo in emails). Nothing here is secret, and nothing is changed here:
the owner changes the brand in the settings (web/admin.py).

Both URLs carry ``?v=<version>`` (the logo's hash, the colours' hash): with the current version a response
may be cached for a year (``immutable``); without it, or with an old one (a page or an email from before a
change), it is the current file, to be revalidated each time.
"""
from __future__ import annotations

from flask import Blueprint, Flask, abort, make_response, request

from ..services import brand as brand_svc
from .static_files import FAR_FUTURE

bp = Blueprint("brand", __name__, url_prefix="/brand")

#: The brand's responses set their own caching: web/edge.py leaves them alone even for a signed-in member.
CACHEABLE = {"brand.logo", "brand.theme"}

#: The file name the logo is offered under (``Content-Disposition``), by Content-Type.
_NAMES = {"image/png": "logo.png", "image/jpeg": "logo.jpg", "image/webp": "logo.webp"}


def _cached(response, version: str):
    response.headers["Cache-Control"] = FAR_FUTURE if request.args.get("v") == version else "no-cache"
    response.set_etag(version)
    return response.make_conditional(request)


@bp.get("/logo")
def logo():
    """The shop's logo (PNG, JPEG or WebP, as checked and re-encoded on upload); 404 when the shop has none."""
    found = brand_svc.logo()
    if found is None:
        abort(404)
    data, content_type, version = found
    response = make_response(data)
    response.headers["Content-Type"] = content_type
    response.headers["Content-Disposition"] = f'inline; filename="{_NAMES.get(content_type, "logo")}"'
    return _cached(response, version)


@bp.get("/theme.css")
def theme():
    """The accent colour and the text colour on it, as CSS custom properties (the app's own when unset)."""
    current = brand_svc.current()
    response = make_response(brand_svc.theme_css(current))
    response.headers["Content-Type"] = "text/css; charset=utf-8"
    return _cached(response, current.theme_version)


def register(app: Flask) -> None:
    """``shop_brand()`` in every template (pages and emails)."""
    app.add_template_global(brand_svc.current, "shop_brand")
