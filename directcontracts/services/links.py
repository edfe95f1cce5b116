"""Links in emails: absolute URLs built from endpoint names at the public address (``BASE_URL``).

Flask's ``url_for(..., _external=True)`` builds against the current request's
host, or ``SERVER_NAME`` outside a request; emails are also sent by cron jobs
(no request) and must always carry the public address, which may change at
run time (the browser tests point it at their live server). So the app's URL
map is bound to ``BASE_URL`` each time, as ``url_for`` binds it to a request.

A client link carries a token (a secret): it is put in an email and never logged.
"""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app

from ..models import Contract
from . import tokens


def external_url(endpoint: str, **values) -> str:
    """``url_for(endpoint, **values, _external=True)`` at ``BASE_URL``; needs an app context only."""
    base = urlsplit(current_app.config["BASE_URL"])
    adapter = current_app.url_map.bind(base.netloc, script_name=base.path.rstrip("/") or "/",
                                       url_scheme=base.scheme)
    current_app.inject_url_defaults(endpoint, values)
    return adapter.build(endpoint, values, force_external=True)


def client_link(raw_token: str) -> str:
    """The client's page of the contract this token opens."""
    return external_url("client.contract_view", token=raw_token)


def fresh_client_link(contract: Contract) -> str:
    """A new link for an email to the client (earlier links keep working)."""
    return client_link(tokens.issue_token(contract))


def freelancer_link(contract: Contract) -> str:
    """The freelancer's page of the contract (behind their login)."""
    return external_url("freelancer.contract_show", contract_id=contract.id)
