"""A local stand-in for Braintree's XML gateway API, for the real SDK to talk to.

It serves, on 127.0.0.1 and an ephemeral port, what ``BraintreeAdapter``
calls: client tokens, sales, find, search by order id, type and creation time
(``advanced_search_ids`` then ``advanced_search``), void, refund, and a
dispute's find, text evidence and finalize. Requests must carry HTTP basic
auth ``public_key:private_key`` and the stand-in's merchant id in the path
(401 otherwise). Sales follow the sandbox's nonce and amount rules through
``directcontracts.payments.sandbox_rules.sandbox_outcome`` so the rules exist
once. Responses are XML shaped like Braintree's (dashed tags, ``type`` and
``nil`` attributes) that the SDK's parser reads.

Fault injection (set ``standin.fault``; it applies to sales only):

``"read_timeout"``
    the sale is held (not processed) until ``release_held()``, then processed
    and stored while the client has long given up: "did it go through?" is
    answered by a later search.
``"drop_response"``
    the sale is processed and stored, then the connection is closed without
    a response: the response was lost after the charge went through.
``"server_error"``
    the sale is processed and stored, then 500 Internal Server Error is
    answered (a 5xx that hides a charge).
``"unavailable"``
    503 Service Unavailable, nothing stored.

``standin.keep_refund_order_ids = False`` stores refunds without the order id
sent (as made before refund order ids): only the sale's ``refund-ids`` lead to them.

Voids and refunds have their own switch, ``standin.refund_fault``:

``"read_timeout"``
    the void/refund is held until ``release_held()``, then made: the client
    has given up by then (the gateway answered slowly).
``"drop_response"``
    the void/refund is made, then the connection is closed without a response.
``"server_error"``
    the void/refund is made, then 500 Internal Server Error is answered.
``"unavailable"``
    503 Service Unavailable, nothing made (the gateway is down).

Searches have ``standin.search_fault = "server_error"`` (500); dispute
evidence / finalize / find have ``standin.dispute_fault = "server_error"`` (500)
or ``"unavailable"`` (503).

Disputes: ``open_dispute(transaction_id, ...)`` opens one as the client's bank
would, ``set_dispute_status`` moves it (won, lost, accepted …); the SDK's
``dispute.add_text_evidence``, ``dispute.finalize`` and ``dispute.find`` are
served, evidence kept per dispute (``standin.disputes[id]["evidence"]``).
As Braintree does, evidence and finalizing are refused (422, error 95701 /
95705) unless the dispute is open and not yet finalized; finalizing moves it
to ``disputed``.

Webhooks: ``webhook(kind, transaction_id=..., dispute_id=...)`` returns the
``(bt_signature, bt_payload)`` pair Braintree would POST for the stored
transaction or dispute, signed with the stand-in's keys the way the SDK
verifies (nothing is sent: the test posts it).

The TestGateway's own nonces work here too: ``fake-timeout-nonce`` behaves
like ``"drop_response"`` and ``fake-unreachable-nonce`` drops the connection
without storing anything.
"""
from __future__ import annotations

import base64
import json
import re
import threading
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from xml.sax.saxutils import escape

from braintree.util.crypto import Crypto
from braintree.util.xml_util import XmlUtil

from directcontracts.domain.money import precision
from directcontracts.payments.outcomes import SUCCEEDED_STATUSES, refund_plan
from directcontracts.payments.sandbox_rules import (
    TIMEOUT_NONCE,
    UNREACHABLE_NONCE,
    new_transaction_id,
    sandbox_outcome,
)

#: How long a held request waits for release_held() before giving up.
HOLD_LIMIT_SECONDS = 10

_DROP = object()  # handler result: close the connection without a response


class BraintreeStandin:
    """The stand-in server. Use as a context manager, or start()/stop()."""

    def __init__(
        self,
        *,
        merchant_id: str = "standin_merchant",
        public_key: str = "standin_public",
        private_key: str = "standin_private",
        merchant_accounts: dict[str, str] | None = None,
        default_merchant_account: str = "usd_account",
    ) -> None:
        self.merchant_id = merchant_id
        self.public_key = public_key
        self.private_key = private_key
        #: merchant account id -> the currency it settles in
        self.merchant_accounts = merchant_accounts or {"usd_account": "USD", "eur_account": "EUR", "jpy_account": "JPY"}
        self.default_merchant_account = default_merchant_account
        #: id -> transaction dict, in creation order
        self.transactions: dict[str, dict] = {}
        #: None, "read_timeout", "drop_response", "server_error" or "unavailable" (sales)
        self.fault: str | None = None
        #: None, "read_timeout", "drop_response", "server_error" or "unavailable" (voids and refunds)
        self.refund_fault: str | None = None
        #: False: a refund is stored without the order id it was sent, as the release before refund
        #: order ids made them (the credit carries the sale's order id; only the sale's refund-ids find it)
        self.keep_refund_order_ids = True
        #: id -> dispute dict (see open_dispute); each keeps its "evidence" list
        self.disputes: dict[str, dict] = {}
        #: None or "server_error" (advanced_search_ids / advanced_search answer 500)
        self.search_fault: str | None = None
        #: None, "server_error" or "unavailable" (dispute evidence, finalize and find)
        self.dispute_fault: str | None = None
        #: (method, path) of every request received, for assertions
        self.requests: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._held = 0
        self._held_changed = threading.Condition(self._lock)
        self._release = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self, port: int = 0) -> "BraintreeStandin":
        """Serve on ``port`` (a free one by default; the same one again restarts a stopped stand-in)."""
        self._release.clear()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), _Handler)
        self._server.standin = self
        # A short poll interval keeps shutdown() (and so each test's teardown) fast.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="braintree-standin", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Free held requests, stop serving, close the socket, join every thread."""
        self._release.set()
        self._server.shutdown()
        self._server.server_close()  # joins the request threads too
        self._thread.join()

    def __enter__(self) -> "BraintreeStandin":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- test controls

    def release_held(self, timeout: float = 5) -> None:
        """Let held sales, voids and refunds proceed and wait until they have been processed."""
        self._release.set()
        with self._held_changed:
            if not self._held_changed.wait_for(lambda: self._held == 0, timeout):
                raise TimeoutError("held requests did not finish")
        self._release.clear()

    def wait_until_held(self, count: int = 1, timeout: float = 5) -> None:
        """Wait until ``count`` requests are being held (a read_timeout fault)."""
        with self._held_changed:
            if not self._held_changed.wait_for(lambda: self._held >= count, timeout):
                raise TimeoutError("no request was held")

    def settle(self, transaction_id: str) -> None:
        """Settle a submitted transaction, as Braintree's batch would."""
        with self._lock:
            transaction = self.transactions[transaction_id]
            transaction["status"] = "settled"
            transaction["status_history"].append(_status_event(transaction))

    def decline_settlement(self, transaction_id: str) -> None:
        """The processor declined settling a submitted sale (Braintree's ``settlement_declined``)."""
        with self._lock:
            transaction = self.transactions[transaction_id]
            transaction["status"] = "settlement_declined"
            transaction["status_history"].append(_status_event(transaction))

    def open_dispute(self, transaction_id: str, amount=None, reason: str = "fraud", reply_by: date | None = None,
                     kind: str = "chargeback") -> str:
        """The client's bank disputes sale ``transaction_id`` (``amount`` in major units, default the sale's).

        Returns the dispute's id; nothing is sent (``webhook("dispute_opened", dispute_id=...)`` tells it).
        """
        now = datetime.now(timezone.utc)
        with self._lock:
            sale = self.transactions[transaction_id]
            disputed = _amount_text(Decimal(str(amount)), sale["currency_iso_code"]) if amount is not None \
                else sale["amount"]
            dispute = {
                "id": new_transaction_id(),
                "amount": disputed,
                "amount_disputed": disputed,
                "amount_won": None,
                "case_number": f"CB-{new_transaction_id().upper()}",
                "created_at": now,
                "currency_iso_code": sale["currency_iso_code"],
                "kind": kind,
                "merchant_account_id": sale["merchant_account_id"],
                "reason": reason,
                "reason_code": "83",
                "reason_description": None,
                "received_date": now.date(),
                "reference_number": None,
                "reply_by_date": reply_by or now.date() + timedelta(days=7),
                "status": "open",
                "updated_at": now,
                "original_dispute_id": None,
                "status_history": [{"status": "open", "timestamp": now, "effective_date": now.date()}],
                "evidence": [],
                "transaction": {
                    "id": sale["id"],
                    "amount": sale["amount"],
                    "created_at": sale["created_at"],
                    "order_id": sale["order_id"],
                    "purchase_order_number": None,
                    "payment_instrument_subtype": sale.get("credit_card", {}).get("card_type"),
                },
            }
            self.disputes[dispute["id"]] = dispute
        return dispute["id"]

    def set_dispute_status(self, dispute_id: str, status: str) -> None:
        """Move a dispute to ``status`` (Braintree's words: won, lost, accepted, expired …); nothing is sent."""
        now = datetime.now(timezone.utc)
        with self._lock:
            dispute = self.disputes[dispute_id]
            dispute["status"] = status
            dispute["updated_at"] = now
            if status == "won":
                dispute["amount_won"] = dispute["amount_disputed"]
            dispute["status_history"].append({"status": status, "timestamp": now, "effective_date": now.date()})

    def webhook(self, kind: str, transaction_id: str | None = None, dispute_id: str | None = None,
                timestamp: datetime | None = None) -> tuple[str, str]:
        """The signed ``(bt_signature, bt_payload)`` Braintree would POST for ``kind``.

        ``transaction_settled`` / ``transaction_settlement_declined`` carry the
        stored transaction, the ``dispute_*`` kinds the stored dispute (with its
        transaction details), ``check`` just ``<check>true</check>``. The
        timestamp (default now) is naive UTC or zone-aware.
        """
        moment = timestamp or datetime.now(timezone.utc)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        with self._lock:
            if kind.startswith("dispute_"):
                subject = {"dispute": _dispute_body(self.disputes[dispute_id])}
            elif kind == "check":
                subject = {"check": True}
            else:
                subject = {"transaction": self.transactions[transaction_id]}
            notification = _xml("notification", {"timestamp": moment, "kind": kind, "subject": subject})
        payload = base64.encodebytes(notification.encode())  # lines of 76, as Braintree sends it
        signature = f"{self.public_key}|{Crypto.sha1_hmac_hash(self.private_key, payload)}"
        return signature, payload.decode("ascii")

    def sales_for(self, order_id: str) -> list[dict]:
        with self._lock:
            return [t for t in self.transactions.values() if t["order_id"] == order_id and t["type"] == "sale"]

    # -- API operations: each returns (HTTP status, root tag, body dict) or _DROP

    def client_token(self, params: dict):
        request = params.get("client_token") or {}
        account = request.get("merchant_account_id")
        if account and account not in self.merchant_accounts:
            return 422, "api-error-response", _error_body("client_token", "merchant_account_id", "92807",
                                                            "Merchant account not found.")
        token = {
            "version": 2,
            "authorizationFingerprint": f"standin-fingerprint-{new_transaction_id()}",
            "configUrl": f"{self.url}/merchants/{self.merchant_id}/client_api/v1/configuration",
            "merchantAccountId": account or self.default_merchant_account,
        }
        return 201, "client-token", {"value": base64.b64encode(json.dumps(token).encode()).decode()}

    def sale(self, params: dict):
        held: list[bool] = []
        try:
            return self._sale(params, held)
        finally:
            if held:  # only now is a held sale stored: release_held() may return
                self._unhold()

    def _sale(self, params: dict, held: list[bool]):
        request = params.get("transaction") or {}
        nonce = request.get("payment_method_nonce") or ""
        fault = self.fault
        if nonce == UNREACHABLE_NONCE:
            return _DROP
        if fault == "unavailable":
            return 503, None, None
        if fault == "read_timeout":
            held.append(True)
            self._hold()
        account = request.get("merchant_account_id") or self.default_merchant_account
        if account not in self.merchant_accounts:
            return 422, "api-error-response", _error_body("transaction", "merchant_account_id", "91577",
                                                            "Merchant account ID is invalid.")
        try:
            amount = Decimal(str(request.get("amount")))
        except InvalidOperation:
            return 422, "api-error-response", _error_body("transaction", "amount", "81503",
                                                            "Amount is an invalid format.")
        submit = bool((request.get("options") or {}).get("submit_for_settlement"))
        outcome = sandbox_outcome(nonce, amount, submit_for_settlement=submit)
        if outcome.status is None:
            errors = [{"code": code, "attribute": attribute, "message": message}
                      for code, attribute, message in outcome.errors]
            return 422, "api-error-response", {
                "errors": {"errors": [], "transaction": {"errors": errors}},
                "message": " ".join(error["message"] for error in errors),
            }
        currency = self.merchant_accounts[account]
        transaction = {
            "id": new_transaction_id(),
            "type": "sale",
            "status": outcome.status,
            "amount": _amount_text(amount, currency),
            "currency_iso_code": currency,
            "merchant_account_id": account,
            "order_id": request.get("order_id"),
            "created_at": datetime.now(timezone.utc),
            "updated_at": datetime.now(timezone.utc),
            "processor_response_code": outcome.processor_code,
            "processor_response_text": outcome.processor_text,
            "processor_response_type": _response_type(outcome.processor_code),
            "gateway_rejection_reason": outcome.rejection_reason,
            "payment_instrument_type": outcome.method.instrument,
            "refund_ids": [],
            "refunded_transaction_id": None,
            "status_history": [],
            **_instrument_details(outcome.method),
        }
        transaction["status_history"].append(_status_event(transaction))
        with self._lock:
            self.transactions[transaction["id"]] = transaction
        if fault == "drop_response" or nonce == TIMEOUT_NONCE:
            return _DROP
        if fault == "server_error":
            return 500, None, None
        if outcome.status in SUCCEEDED_STATUSES:
            return 201, "transaction", transaction
        return 422, "api-error-response", {
            "errors": {"errors": []},
            "transaction": transaction,
            "message": _failure_text(transaction),
        }

    def find(self, transaction_id: str):
        with self._lock:
            transaction = self.transactions.get(transaction_id)
        if transaction is None:
            return 404, None, None
        return 200, "transaction", transaction

    def search_ids(self, params: dict):
        if self.search_fault == "server_error":
            return 500, None, None
        ids = [t["id"] for t in self._search(params.get("search") or {})]
        return 200, "search-results", {"page_size": 50, "ids": ids}

    def search(self, params: dict):
        if self.search_fault == "server_error":
            return 500, None, None
        criteria = params.get("search") or {}
        wanted = set(criteria.get("ids") or [])
        found = [t for t in self._search(criteria) if t["id"] in wanted]
        return 200, "credit-card-transactions", {
            "current_page_number": 1,
            "page_size": 50,
            "total_items": len(found),
            "transaction": found,  # repeated <transaction> elements, as Braintree sends them
        }

    def find_dispute(self, dispute_id: str):
        if fault := self._dispute_fault():
            return fault
        with self._lock:
            dispute = self.disputes.get(dispute_id)
            if dispute is None:
                return 404, None, None
            return 200, "dispute", _dispute_body(dispute)

    def add_evidence(self, dispute_id: str, params: dict):
        """Text evidence (``comments``); refused with 95701 unless the dispute is open and not finalized."""
        if fault := self._dispute_fault():
            return fault
        request = params.get("evidence") or {}
        with self._lock:
            dispute = self.disputes.get(dispute_id)
            if dispute is None:
                return 404, None, None
            if dispute["status"] != "open" or dispute.get("finalized"):
                return 422, "api-error-response", _error_body(
                    "dispute", "status", "95701",
                    "Evidence can only be attached to disputes that are in an Open state")
            evidence = {
                "id": new_transaction_id() + new_transaction_id(),
                "comments": request.get("comments") or None,
                "created_at": datetime.now(timezone.utc),
                "sent_to_processor_at": None,
                "url": None,
                "category": request.get("category") or None,
                "sequence_number": request.get("sequence_number") or None,
            }
            dispute["evidence"].append(evidence)
            return 200, "evidence", evidence

    def finalize_dispute(self, dispute_id: str):
        """Submit the evidence: refused with 95705 unless open and not yet finalized; moves it to ``disputed``."""
        if fault := self._dispute_fault():
            return fault
        now = datetime.now(timezone.utc)
        with self._lock:
            dispute = self.disputes.get(dispute_id)
            if dispute is None:
                return 404, None, None
            if dispute["status"] != "open" or dispute.get("finalized"):
                return 422, "api-error-response", _error_body(
                    "dispute", "status", "95705", "The dispute can only be finalized when it is in an Open state")
            dispute["finalized"] = True
            dispute["status"] = "disputed"
            dispute["updated_at"] = now
            for evidence in dispute["evidence"]:
                evidence["sent_to_processor_at"] = now
            dispute["status_history"].append({"status": "disputed", "timestamp": now, "effective_date": now.date()})
        return 200, None, None

    def _dispute_fault(self):
        return {"server_error": (500, None, None), "unavailable": (503, None, None)}.get(self.dispute_fault)

    def void(self, transaction_id: str):
        return self._with_refund_fault(self._void, transaction_id)

    def refund(self, transaction_id: str, params: dict):
        return self._with_refund_fault(self._refund, transaction_id, params)

    def _with_refund_fault(self, operation, *args):
        """Make a void or refund under ``refund_fault`` (see the module doc)."""
        fault = self.refund_fault
        if fault == "unavailable":
            return 503, None, None
        if fault == "read_timeout":
            self._hold()
            try:
                return operation(*args)  # answered to a client that gave up long ago
            finally:
                self._unhold()  # only now is it made: release_held() may return
        result = operation(*args)
        if fault == "drop_response":
            return _DROP
        if fault == "server_error":
            return 500, None, None
        return result

    def _void(self, transaction_id: str):
        with self._lock:
            transaction = self.transactions.get(transaction_id)
            if transaction is None:
                return 404, None, None
            if transaction["status"] not in ("authorized", "submitted_for_settlement", "settlement_pending"):
                return 422, "api-error-response", _error_body(
                    "transaction", "base", "91504",
                    "Transaction can only be voided if status is authorized, submitted_for_settlement, "
                    "or - for PayPal - settlement_pending.")
            transaction["status"] = "voided"
            transaction["status_history"].append(_status_event(transaction))
        return 200, "transaction", transaction

    def _refund(self, transaction_id: str, params: dict):
        request = params.get("transaction") or {}
        with self._lock:
            sale = self.transactions.get(transaction_id)
            if sale is None:
                return 404, None, None
            digits = precision(sale["currency_iso_code"])
            captured = _minor(sale["amount"], digits)
            refunded = sum(_minor(self.transactions[i]["amount"], digits) for i in sale["refund_ids"])
            amount = _minor(request["amount"], digits) if request.get("amount") else captured - refunded
            plan = refund_plan(kind=sale["type"], status=sale["status"], amount_minor=amount,
                               captured_minor=captured, refunded_minor=refunded)
            if plan == "void":  # Braintree refunds only settled sales; voiding is the client's call
                plan = "91506"
            if plan != "refund":
                code = "91506" if not plan.isdigit() else plan
                return 422, "api-error-response", _error_body("transaction", "base", code, _REFUND_TEXTS[code])
            credit = {
                **sale,
                "id": new_transaction_id(),
                "type": "credit",
                "status": "submitted_for_settlement",
                "amount": _amount_text(Decimal(amount).scaleb(-digits), sale["currency_iso_code"]),
                "created_at": datetime.now(timezone.utc),
                "updated_at": datetime.now(timezone.utc),
                "processor_response_code": "1002",
                "processor_response_text": "Processed",
                "refund_ids": [],
                "refunded_transaction_id": sale["id"],
                "order_id": (request.get("order_id") if self.keep_refund_order_ids else None) or sale["order_id"],
                "status_history": [],
            }
            credit["status_history"].append(_status_event(credit))
            self.transactions[credit["id"]] = credit
            sale["refund_ids"].append(credit["id"])
        return 201, "transaction", credit

    # -- internals

    def _search(self, criteria: dict) -> list[dict]:
        """Criteria the adapter sends: ``order_id`` is, ``type`` in list, ``created_at`` min/max."""
        order_id = (criteria.get("order_id") or {}).get("is")
        types = criteria.get("type")
        created = criteria.get("created_at") or {}
        # Braintree compares times to the second, as the SDK sends them (naive UTC).
        low, high = (_utc(created.get("min")), _utc(created.get("max")))

        def wanted(t: dict) -> bool:
            moment = t["created_at"].replace(microsecond=0)
            return ((order_id is None or t["order_id"] == order_id)
                    and (not types or t["type"] in types)
                    and (low is None or moment >= low) and (high is None or moment <= high))

        with self._lock:
            return [t for t in self.transactions.values() if wanted(t)]

    def _hold(self) -> None:
        """Count this sale as held and wait for release_held(); the caller calls _unhold()."""
        with self._held_changed:
            self._held += 1
            self._held_changed.notify_all()
        self._release.wait(HOLD_LIMIT_SECONDS)

    def _unhold(self) -> None:
        with self._held_changed:
            self._held -= 1
            self._held_changed.notify_all()

    def _authorized(self, header: str | None, merchant_id: str) -> bool:
        expected = base64.b64encode(f"{self.public_key}:{self.private_key}".encode()).decode()
        return header == f"Basic {expected}" and merchant_id == self.merchant_id


class _Handler(BaseHTTPRequestHandler):
    """Routes requests to the BraintreeStandin attached to the server."""

    server_version = "BraintreeStandin/1"
    _routes = [
        ("POST", re.compile(r"/merchants/([^/]+)/client_token"), "client_token"),
        ("POST", re.compile(r"/merchants/([^/]+)/transactions/advanced_search_ids"), "search_ids"),
        ("POST", re.compile(r"/merchants/([^/]+)/transactions/advanced_search"), "search"),
        ("POST", re.compile(r"/merchants/([^/]+)/transactions"), "sale"),
        ("GET", re.compile(r"/merchants/([^/]+)/transactions/([^/]+)"), "find"),
        ("PUT", re.compile(r"/merchants/([^/]+)/transactions/([^/]+)/void"), "void"),
        ("POST", re.compile(r"/merchants/([^/]+)/transactions/([^/]+)/refund"), "refund"),
        ("GET", re.compile(r"/merchants/([^/]+)/disputes/([^/]+)"), "find_dispute"),
        ("POST", re.compile(r"/merchants/([^/]+)/disputes/([^/]+)/evidence"), "add_evidence"),
        ("PUT", re.compile(r"/merchants/([^/]+)/disputes/([^/]+)/finalize"), "finalize_dispute"),
    ]

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_PUT(self):
        self._dispatch("PUT")

    def _dispatch(self, method: str) -> None:
        standin: BraintreeStandin = self.server.standin
        standin.requests.append((method, self.path))
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        for route_method, pattern, operation in self._routes:
            match = pattern.fullmatch(self.path)
            if route_method == method and match:
                break
        else:
            self._send(404, None, None)
            return
        merchant_id, *ids = match.groups()
        if not standin._authorized(self.headers.get("Authorization"), merchant_id):
            self._send(401, None, None)
            return
        params = XmlUtil.dict_from_xml(body) if body.strip() else {}
        args = ids + ([params] if operation in ("client_token", "sale", "search_ids", "search", "refund",
                                                              "add_evidence") else [])
        result = getattr(standin, operation)(*args)
        if result is _DROP:
            self.close_connection = True  # no status line, no body: the client sees the connection die
            return
        self._send(*result)

    def _send(self, status: int, root: str | None, body: dict | None) -> None:
        payload = (f'<?xml version="1.0" encoding="UTF-8"?>\n{_xml(root, body)}'.encode()
                   if root is not None else b"")
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/xml; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (read timeout): exactly the case being simulated

    def log_message(self, format, *args):  # keep test output quiet
        pass


# --------------------------------------------------------------------------- XML and shapes

_REFUND_TEXTS = {
    "91505": "Cannot refund credit",
    "91506": "Cannot refund transaction unless it is settled.",
    "91512": "Transaction has already been completely refunded.",
    "91521": "Refund amount is too large.",
}


def _xml(tag: str, value) -> str:
    """Braintree-style XML: dashed tags, typed scalars, nil for None, arrays of items."""
    tag = tag.replace("_", "-")
    if value is None:
        return f'<{tag} nil="true"/>'
    if isinstance(value, bool):
        return f'<{tag} type="boolean">{str(value).lower()}</{tag}>'
    if isinstance(value, int):
        return f'<{tag} type="integer">{value}</{tag}>'
    if isinstance(value, datetime):
        utc = value.astimezone(timezone.utc) if value.tzinfo else value  # naive: already UTC
        return f'<{tag} type="datetime">{utc.strftime("%Y-%m-%dT%H:%M:%SZ")}</{tag}>'
    if isinstance(value, date):
        return f'<{tag} type="date">{value.isoformat()}</{tag}>'
    if isinstance(value, dict):
        return f"<{tag}>" + "".join(_xml_children(key, child) for key, child in value.items()) + f"</{tag}>"
    return f"<{tag}>{escape(str(value))}</{tag}>"


def _xml_children(key: str, value) -> str:
    if isinstance(value, list):
        if key == "transaction":  # a search page: one element per transaction, no wrapper
            return "".join(_xml(key, item) for item in value)
        item_tag = {"errors": "error", "status_history": "status-event", "evidence": "evidence"}.get(key, "item")
        return f'<{key.replace("_", "-")} type="array">' + "".join(_xml(item_tag, item) for item in value) + \
            f'</{key.replace("_", "-")}>'
    return _xml(key, value)


def _dispute_body(dispute: dict) -> dict:
    """A dispute as Braintree's XML carries it (the stand-in's own ``finalized`` flag left out)."""
    return {key: value for key, value in dispute.items() if key != "finalized"}


def _error_body(obj: str, attribute: str, code: str, message: str) -> dict:
    return {
        "errors": {"errors": [], obj: {"errors": [{"code": code, "attribute": attribute, "message": message}]}},
        "message": message,
    }


def _instrument_details(method) -> dict:
    if method.instrument == "paypal_account":
        return {"paypal": {
            "payer_email": method.paypal_email,
            "payer_first_name": "Jane",
            "payer_last_name": "Doe",
            "payer_id": "PAYER123",
            "payment_id": f"PAYID-{new_transaction_id().upper()}",
            "authorization_id": new_transaction_id().upper(),
            "capture_id": None,
            "token": None,
            "image_url": "https://assets.braintreegateway.com/payment_method_logo/paypal.png",
        }}
    return {"credit_card": {
        "token": None,
        "bin": method.bin,
        "last_4": method.last4,
        "card_type": method.card_type,
        "expiration_month": "12",
        "expiration_year": "2030",
        "cardholder_name": None,
        "customer_location": "US",
        "prepaid": "Unknown",
        "debit": "Unknown",
        "image_url": "https://assets.braintreegateway.com/payment_method_logo/unknown.png",
    }}


def _status_event(transaction: dict) -> dict:
    return {
        "status": transaction["status"],
        "amount": transaction["amount"],
        "timestamp": datetime.now(timezone.utc),
        "transaction_source": "api",
        "user": "standin",
    }


def _response_type(code: str | None) -> str | None:
    if code is None:
        return None
    return "approved" if code.startswith("1") else "soft_declined"


def _failure_text(transaction: dict) -> str:
    if transaction["status"] == "gateway_rejected":
        return f"Gateway Rejected: {transaction['gateway_rejection_reason']}"
    return transaction["processor_response_text"] or "Failed"


def _utc(moment: datetime | None) -> datetime | None:
    """A search bound as parsed from the request (naive, UTC) made comparable to stored times."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=timezone.utc)


def _amount_text(amount: Decimal, currency: str) -> str:
    return f"{amount:.{precision(currency)}f}"


def _minor(text: str, digits: int) -> int:
    return int(Decimal(text).scaleb(digits))
