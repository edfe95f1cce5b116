"""``POST /webhooks/braintree``: the gateway's notifications (the only route exempt from CSRF: it carries
Braintree's signature instead, verified before anything is stored)."""
from __future__ import annotations

import logging

from flask import Blueprint, request

from ..domain.payments import InvalidWebhook
from ..extensions import csrf
from ..services import webhooks

log = logging.getLogger(__name__)

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")

#: Braintree's notifications are a few kilobytes; anything much larger is not one.
MAX_PAYLOAD = 256 * 1024


@bp.post("/braintree")
@csrf.exempt
def braintree():
    """Verify, store once and apply a notification; 200 once stored (applying is retried by the jobs)."""
    if (request.content_length or 0) > MAX_PAYLOAD:  # refused before the body is read
        return "too large for a notification\n", 413, {"Content-Type": "text/plain"}
    signature, payload = request.form.get("bt_signature", ""), request.form.get("bt_payload", "")
    if not signature or not payload:
        return "bt_signature and bt_payload are required\n", 400, {"Content-Type": "text/plain"}
    try:
        row = webhooks.receive(signature, payload)
    except InvalidWebhook as exc:
        log.warning("webhook refused from %s: %s", request.remote_addr, exc)
        return "signature does not verify\n", 403, {"Content-Type": "text/plain"}
    return f"{row.status}\n", 200, {"Content-Type": "text/plain"}
