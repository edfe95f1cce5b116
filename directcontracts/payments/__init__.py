"""Payment gateway adapters: Braintree for real, TestGateway offline.

``make_gateway(config)`` picks one from a plain dict (Flask's ``app.config``
works; the adapters never import Flask); the app makes one at start-up and
``current_gateway()`` returns it to the services. Keys:

``BRAINTREE_MERCHANT_ID``, ``BRAINTREE_PUBLIC_KEY``, ``BRAINTREE_PRIVATE_KEY``
    all three non-empty: use Braintree; otherwise the offline TestGateway.
``BRAINTREE_ENVIRONMENT``
    "sandbox" (default), "production", or a URL such as
    ``http://127.0.0.1:8901`` (a local stand-in).
``BRAINTREE_MERCHANT_ACCOUNTS``
    optional dict currency -> merchant account id.
``BRAINTREE_CONNECT_TIMEOUT`` / ``BRAINTREE_READ_TIMEOUT``
    seconds, default 5 and 30.
``TEST_GATEWAY_STORE``
    optional path of a JSON file (e.g. under ``instance/``) where the
    TestGateway keeps its sales, so several processes share them.
``TEST_GATEWAY_SETTLE_AFTER``
    seconds after which the TestGateway settles a sale, as the sandbox does
    (unset or empty: never by itself).
``TEST_GATEWAY_WEBHOOK_SECRET``
    HMAC key of the TestGateway's webhooks (default "test-webhook-secret").
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import timedelta

from flask import current_app

from ..config import gateway_timeouts
from ..domain.payments import PaymentGateway

log = logging.getLogger(__name__)

_CREDENTIALS = ("BRAINTREE_MERCHANT_ID", "BRAINTREE_PUBLIC_KEY", "BRAINTREE_PRIVATE_KEY")


def current_gateway() -> PaymentGateway:
    """The app's gateway, made once by ``create_app`` (tests swap ``app.extensions["gateway"]``)."""
    return current_app.extensions["gateway"]


def make_gateway(config: Mapping) -> PaymentGateway:
    """The gateway the configuration asks for (create one per process)."""
    if all(config.get(key) for key in _CREDENTIALS):
        # Imported here so that the offline gateway never loads the SDK.
        from .braintree_adapter import BraintreeAdapter

        return BraintreeAdapter(
            merchant_id=config["BRAINTREE_MERCHANT_ID"],
            public_key=config["BRAINTREE_PUBLIC_KEY"],
            private_key=config["BRAINTREE_PRIVATE_KEY"],
            environment=config.get("BRAINTREE_ENVIRONMENT") or "sandbox",
            merchant_accounts=config.get("BRAINTREE_MERCHANT_ACCOUNTS") or {},
            connect_timeout=gateway_timeouts(config)[0],
            read_timeout=gateway_timeouts(config)[1],
        )
    missing = [key for key in _CREDENTIALS if not config.get(key)]
    if len(missing) < len(_CREDENTIALS):
        # Half-configured credentials are a mistake, and the test gateway accepts
        # fake nonces: say so loudly rather than pretend all is well.
        log.warning("Braintree credentials incomplete (%s empty): using the offline TEST gateway", ", ".join(missing))
    from .testgateway import JsonFileStore, TestGateway

    store_path = config.get("TEST_GATEWAY_STORE")
    settle_after = config.get("TEST_GATEWAY_SETTLE_AFTER")
    return TestGateway(
        store=JsonFileStore(store_path) if store_path else None,
        webhook_secret=config.get("TEST_GATEWAY_WEBHOOK_SECRET") or "test-webhook-secret",
        settle_after=None if settle_after in (None, "") else timedelta(seconds=float(settle_after)),
    )
