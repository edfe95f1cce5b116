"""Static files: versioned URLs (``?v=<content hash>``) and far-future caching for the current version only."""
from __future__ import annotations

import hashlib
import os

from directcontracts.web.static_files import FAR_FUTURE


def _digest(app, name: str) -> str:
    with open(os.path.join(app.static_folder, name), "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()[:12]


def test_pages_link_static_files_with_their_content_hash(app, logged_in):
    page = logged_in.get("/contracts").get_data(as_text=True)
    assert f"/static/app.css?v={_digest(app, 'app.css')}" in page
    assert f"/static/vendor/htmx-4.0.1.min.js?v={_digest(app, 'vendor/htmx-4.0.1.min.js')}" in page


def test_the_current_version_is_cached_for_a_year(app, client):
    response = client.get(f"/static/app.css?v={_digest(app, 'app.css')}")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == FAR_FUTURE


def test_an_unversioned_or_stale_url_is_revalidated(app, client):
    for url in ("/static/app.css", "/static/app.css?v=000000000000"):
        response = client.get(url)
        assert response.status_code == 200
        assert "immutable" not in response.headers.get("Cache-Control", ""), url
