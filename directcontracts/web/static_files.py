"""Versioned static files: every ``url_for('static', ...)`` carries ``?v=<content hash>``, and a request
with the current hash is answered with far-future caching (``public, max-age=31536000, immutable``).

The hashes are computed once, at start-up (the files ship with the code: a deploy restarts the app, and
a changed file gets a new URL). A static URL without the hash, or with an old one, keeps Flask's
default (revalidate with the ETag), so a page cached from before a deploy never pins a stale file.
"""
from __future__ import annotations

import hashlib
import os

from flask import Flask, current_app, request

FAR_FUTURE = "public, max-age=31536000, immutable"


def content_hashes(folder: str | None) -> dict[str, str]:
    """Each file under ``folder`` (by its URL path, ``vendor/x.js``): the first 12 hex of its SHA-256."""
    hashes: dict[str, str] = {}
    if not folder or not os.path.isdir(folder):
        return hashes
    for root, _dirs, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                digest = hashlib.sha256(f.read()).hexdigest()[:12]
            hashes[os.path.relpath(path, folder).replace(os.sep, "/")] = digest
    return hashes


def _version(endpoint: str, values: dict) -> None:
    if endpoint == "static" and "v" not in values:
        digest = current_app.extensions["static_hashes"].get(values.get("filename"))
        if digest:
            values["v"] = digest


def _far_future(response):
    if request.endpoint == "static" and response.status_code in (200, 304):
        filename = (request.view_args or {}).get("filename")
        digest = current_app.extensions["static_hashes"].get(filename)
        if digest and request.args.get("v") == digest:
            response.headers["Cache-Control"] = FAR_FUTURE
    return response


def register(app: Flask) -> None:
    """Hash the static folder and install the URL default and the caching header."""
    app.extensions["static_hashes"] = content_hashes(app.static_folder)
    app.url_defaults(_version)
    app.after_request(_far_future)
