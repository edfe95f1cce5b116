"""An offline payment gateway that behaves like Braintree's sandbox.

Used when no Braintree credentials are configured: development, the demo and
the service tests. What each test nonce and amount does is the sandbox's
rules (``sandbox_rules``, shared with the tests' Braintree stand-in); this
module keeps the transactions those rules make, and the switches that lose a
void's or refund's answer.

Sales live in a pluggable store (``MemoryStore`` by default, ``JsonFileStore``
to share them between processes), never only in this object.
"""
from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import os
import tempfile
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Protocol

from ..domain.money import Money
from ..domain.payments import (
    ChargeResult,
    DisputeRefused,
    GatewayDispute,
    GatewayTransaction,
    GatewayUnavailable,
    InvalidWebhook,
    RefundResult,
    SaleRefund,
    WebhookEvent,
)
from . import outcomes
from .sandbox_rules import LATE_NONCE, TIMEOUT_NONCE, UNREACHABLE_NONCE, new_transaction_id, sandbox_outcome

#: Values of ``TestGateway.refund_fault``: the void/refund is made, then its
#: answer is lost (as after a read timeout or a dropped connection) ...
REFUND_ANSWER_LOST = "answer_lost"
#: ... or the gateway cannot be reached and nothing is made ...
REFUND_UNREACHABLE = "unreachable"
#: ... or the void/refund *lands late*: no answer, and nothing shows at the gateway
#: until ``release_late_refunds()`` makes it (a slow gateway, minutes after the timeout).
REFUND_LATE = "late"
#: ... or the refund is made the way the release before refund order ids made it (no order id of its
#: own: the credit carries the sale's), then its answer is lost. A void is made and lost as above.
REFUND_ANSWER_LOST_NO_ORDER_ID = "answer_lost_no_order_id"


# --------------------------------------------------------------------------- stores


class SaleStore(Protocol):
    """Where the test gateway keeps its transactions.

    ``locked()`` gives exclusive access to one JSON-compatible dict; changes
    made inside the ``with`` block are kept.
    """

    def locked(self) -> AbstractContextManager[dict]: ...


class MemoryStore:
    """Transactions in a dict of this process: enough for one-process tests."""

    def __init__(self) -> None:
        self._data: dict = {}
        self._lock = threading.RLock()

    @contextmanager
    def locked(self) -> Iterator[dict]:
        with self._lock:
            yield self._data


class JsonFileStore:
    """Transactions in a JSON file, shared by every process that opens it.

    A sibling ``.lock`` file is held with ``fcntl.flock`` for the whole
    read-modify-write; the data file is replaced atomically so a crash never
    leaves half a file. (flock works between threads too: each ``locked()``
    opens its own file description.)
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self._lock_path = self.path.with_name(self.path.name + ".lock")

    @contextmanager
    def locked(self) -> Iterator[dict]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self._lock_path, "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                data = self._read()
                before = json.dumps(data, sort_keys=True)
                yield data
                if json.dumps(data, sort_keys=True) != before:
                    self._write(data)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _read(self) -> dict:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        return json.loads(text) if text.strip() else {}

    def _write(self, data: dict) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=self.path.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(data, out, indent=1, sort_keys=True)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


# --------------------------------------------------------------------------- gateway


class TestGateway:
    """Offline PaymentGateway with the sandbox's behaviour (see module doc)."""

    __test__ = False  # not a pytest test class, despite the name

    name = "test"
    test_mode = True

    def __init__(self, store: SaleStore | None = None, webhook_secret: str = "test-webhook-secret",
                 settle_after: timedelta | None = None) -> None:
        self.store = store if store is not None else MemoryStore()
        #: As the sandbox's batch does, a sale submitted for settlement is settled this long after it was
        #: made, when it is next looked up (``transaction_status``, ``refund``). None: never by itself
        #: (tests settle sales with ``settle()``).
        self.settle_after = settle_after
        self._webhook_secret = webhook_secret.encode()
        #: A switch for tests and demos: REFUND_ANSWER_LOST, REFUND_UNREACHABLE, REFUND_LATE or
        #: REFUND_ANSWER_LOST_NO_ORDER_ID makes every void/refund of this object lose its answer; None answers.
        self.refund_fault: str | None = None

    # -- PaymentGateway

    def client_token(self, currency: str) -> str:
        """A placeholder: there is no Drop-in to authorize offline."""
        return "test-client-token"

    def charge(self, *, order_id: str, amount: Money, nonce: str) -> ChargeResult:
        """Sale with submit_for_settlement, following the sandbox's rules."""
        if nonce == UNREACHABLE_NONCE:
            raise GatewayUnavailable("test gateway: simulated unreachable gateway, nothing was recorded")
        outcome = sandbox_outcome(nonce, amount.as_decimal())
        if outcome.status is None:
            return ChargeResult(
                status="failed",
                order_id=order_id,
                amount=amount,
                message=outcomes.validation_message((code, message) for code, _attr, message in outcome.errors),
            )
        method = outcome.method
        record = {
            "id": new_transaction_id(),
            "type": "sale",
            "order_id": order_id,
            "minor": amount.minor,
            "currency": amount.currency,
            "status": outcome.status,
            "instrument": method.instrument,
            "card_type": method.card_type,
            "last4": method.last4,
            "paypal_email": method.paypal_email,
            "processor_code": outcome.processor_code,
            "processor_text": outcome.processor_text,
            "rejection_reason": outcome.rejection_reason,
            "refunded_minor": 0,
            "refund_ids": [],
            "created_at": datetime.now(timezone.utc).isoformat(),
        }
        if nonce == LATE_NONCE:
            with self.store.locked() as data:
                data.setdefault("late", []).append(record)  # invisible until release_late()
            raise GatewayUnavailable("test gateway: simulated slow gateway (the sale will land late)")
        with self.store.locked() as data:
            data.setdefault("transactions", {})[record["id"]] = record
        if nonce == TIMEOUT_NONCE:
            raise GatewayUnavailable("test gateway: simulated lost response (the sale went through)")
        return _to_result(record)

    def find_by_order_id(self, order_id: str) -> ChargeResult | None:
        """The sale recorded under ``order_id`` (a succeeded one if several)."""
        with self.store.locked() as data:
            sales = [
                (index, record)
                for index, record in enumerate(data.get("transactions", {}).values())
                if record["type"] == "sale" and record["order_id"] == order_id
            ]
            # Insertion order is creation order, in memory and in the JSON file.
            chosen = outcomes.preferred_sale(sales, status=lambda s: s[1]["status"], created=lambda s: s[0])
        return _to_result(chosen[1]) if chosen else None

    def search_sales(self, since: datetime, until: datetime) -> list[ChargeResult]:
        """Sales created between ``since`` and ``until`` (naive UTC, inclusive), oldest first."""
        with self.store.locked() as data:
            records = [record for record in data.get("transactions", {}).values() if record["type"] == "sale"]
        return [result for result in map(_to_result, records) if since <= result.created_at <= until]

    def search_transactions(self, since: datetime, until: datetime) -> list[GatewayTransaction]:
        """Sales and credits created between ``since`` and ``until`` (naive UTC, inclusive), oldest first."""
        with self.store.locked() as data:
            for record in data.get("transactions", {}).values():
                self._settle_if_due(record)
            records = list(data.get("transactions", {}).values())
        found = [GatewayTransaction(id=r["id"], type=r["type"], status=r["status"],
                                    amount=Money(r["minor"], r["currency"]), order_id=r["order_id"],
                                    created_at=_created_at(r), refunded_transaction_id=r.get("refunded_transaction_id"))
                 for r in records]
        return [t for t in found if since <= t.created_at <= until]

    def add_dispute_evidence(self, dispute_id: str, text: str) -> str:
        """Keep ``text`` on the dispute (refused once it is finalized or closed)."""
        with self.store.locked() as data:
            dispute = self._open_dispute_record(data, dispute_id)
            evidence_id = f"ev_{len(dispute['evidence']) + 1}_{dispute_id}"
            dispute["evidence"].append({"id": evidence_id, "text": text})
        return evidence_id

    def finalize_dispute(self, dispute_id: str) -> None:
        """Mark the dispute's evidence submitted (refused once finalized or closed)."""
        with self.store.locked() as data:
            self._open_dispute_record(data, dispute_id)["finalized"] = True

    @staticmethod
    def _open_dispute_record(data: dict, dispute_id: str) -> dict:
        dispute = data.get("disputes", {}).get(dispute_id)
        if dispute is None:
            raise DisputeRefused("The payment processor has no such chargeback.")
        if dispute["status"] != "open" or dispute.get("finalized"):
            raise DisputeRefused("This chargeback's evidence was already sent to the bank: nothing more can "
                                 "be added.")
        return dispute

    def refund(self, transaction_id: str, amount: Money, *, order_id: str | None = None) -> RefundResult:
        """Void an unsettled sale for its full amount, else refund (once settled) under ``order_id``.

        ``refund_fault`` simulates a refund whose answer never arrives.
        """
        if self.refund_fault == REFUND_UNREACHABLE:
            raise GatewayUnavailable("test gateway: simulated unreachable gateway, no refund was made")
        if self.refund_fault == REFUND_LATE:
            with self.store.locked() as data:
                data.setdefault("late_refunds", []).append(
                    {"transaction_id": transaction_id, "minor": amount.minor, "currency": amount.currency,
                     "order_id": order_id})
            raise GatewayUnavailable("test gateway: simulated slow gateway (the refund will land late)")
        if self.refund_fault == REFUND_ANSWER_LOST_NO_ORDER_ID:
            order_id = None
        result = self._refund(transaction_id, amount, order_id)
        if self.refund_fault in (REFUND_ANSWER_LOST, REFUND_ANSWER_LOST_NO_ORDER_ID):
            made = "made" if result.ok else "refused"
            raise GatewayUnavailable(f"test gateway: simulated lost answer (the refund was {made})")
        return result

    def find_refund(self, transaction_id: str, order_id: str) -> RefundResult | None:
        """The void of the sale (its status is ``voided``), or the refund recorded under ``order_id``."""
        with self.store.locked() as data:
            transactions = data.get("transactions", {})
            sale = transactions.get(transaction_id)
            if sale is None:
                return None
            if sale["status"] == "voided":
                return RefundResult(ok=True, kind="voided", transaction_id=sale["id"], message=outcomes.VOIDED_MESSAGE)
            credit = next((t for t in transactions.values() if t["type"] == "credit" and t["order_id"] == order_id
                           and t.get("refunded_transaction_id") == transaction_id), None)
        if credit is None:
            return None
        return RefundResult(ok=True, kind="refunded", transaction_id=credit["id"], message=outcomes.REFUNDED_MESSAGE)

    def sale_refunds(self, transaction_id: str) -> list[SaleRefund]:
        """The credits listed in the sale record's ``refund_ids`` (in the order they were made)."""
        with self.store.locked() as data:
            transactions = data.get("transactions", {})
            sale = transactions.get(transaction_id)
            credits = [transactions[i] for i in (sale or {}).get("refund_ids", [])]
        return [SaleRefund(transaction_id=c["id"], amount=Money(c["minor"], c["currency"]),
                           created_at=_created_at(c),
                           order_id=c["order_id"])
                for c in credits if c["status"] in outcomes.SUCCEEDED_STATUSES]

    def transaction_status(self, transaction_id: str) -> str | None:
        """The transaction's status (a sale due to settle by ``settle_after`` is settled first)."""
        with self.store.locked() as data:
            record = data.get("transactions", {}).get(transaction_id)
            if record is None:
                return None
            self._settle_if_due(record)
            return record["status"]

    def _settle_if_due(self, record: dict) -> None:
        if (self.settle_after is not None and record["type"] == "sale"
                and record["status"] in ("submitted_for_settlement", "settling")
                and datetime.now(timezone.utc) >= datetime.fromisoformat(record["created_at"]) + self.settle_after):
            record["status"] = "settled"

    def _refund(self, transaction_id: str, amount: Money, order_id: str | None) -> RefundResult:
        with self.store.locked() as data:
            transactions = data.setdefault("transactions", {})
            sale = transactions.get(transaction_id)
            if sale is None:
                return RefundResult(ok=False, message="No payment with this reference was found.")
            self._settle_if_due(sale)
            if amount.currency != sale["currency"]:
                return RefundResult(ok=False, message=f"The refund must be in the payment's currency ({sale['currency']}).")
            if amount.minor <= 0:
                return RefundResult(ok=False, message="The refund amount must be more than zero.")
            plan = outcomes.refund_plan(
                kind=sale["type"],
                status=sale["status"],
                amount_minor=amount.minor,
                captured_minor=sale["minor"],
                refunded_minor=sale.get("refunded_minor", 0),
            )
            if plan == "void":
                sale["status"] = "voided"
                return RefundResult(
                    ok=True, kind="voided", transaction_id=sale["id"],
                    message=outcomes.VOIDED_MESSAGE,
                )
            if plan != "refund":
                return RefundResult(ok=False, message=outcomes.refund_message([(plan, "")]))
            credit = {
                "id": new_transaction_id(),
                "type": "credit",
                "order_id": order_id or sale["order_id"],
                "minor": amount.minor,
                "currency": amount.currency,
                "status": "submitted_for_settlement",
                "refunded_transaction_id": sale["id"],
                "created_at": datetime.now(timezone.utc).isoformat(),
            }
            transactions[credit["id"]] = credit
            sale["refunded_minor"] += amount.minor
            sale["refund_ids"].append(credit["id"])
        return RefundResult(
            ok=True, kind="refunded", transaction_id=credit["id"],
            message=outcomes.REFUNDED_MESSAGE,
        )

    def parse_webhook(self, signature: str, payload: str) -> WebhookEvent:
        """Verify a JSON payload signed with HMAC-SHA256 (hex) and read it.

        The payload is an object with ``kind`` and optionally
        ``transaction_id`` / ``order_id``, ``timestamp`` (ISO, UTC) and, for
        the ``dispute_*`` kinds, ``dispute`` (``id``, ``amount`` in minor
        units, ``currency``, ``status``, ``kind``, ``reason``, ``reply_by``);
        the order id is looked up when only the transaction is given.
        """
        expected = self.sign_webhook(payload or "")
        if not signature or not hmac.compare_digest(expected, signature.strip().lower()):
            raise InvalidWebhook("signature does not match the payload")
        try:
            data = json.loads(payload)
        except ValueError as exc:
            raise InvalidWebhook("payload is not JSON") from exc
        if not isinstance(data, dict) or not isinstance(data.get("kind"), str):
            raise InvalidWebhook("payload has no kind")
        transaction_id = data.get("transaction_id")
        order_id = data.get("order_id")
        if transaction_id and not order_id:
            with self.store.locked() as stored:
                order_id = stored.get("transactions", {}).get(transaction_id, {}).get("order_id")
        try:
            timestamp = _naive(datetime.fromisoformat(data["timestamp"])) if data.get("timestamp") else None
            dispute = _dispute(data["dispute"], transaction_id) if data.get("dispute") else None
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidWebhook(f"unreadable payload: {exc!r}") from exc
        return WebhookEvent(kind=data["kind"], transaction_id=transaction_id, order_id=order_id, raw=data,
                            timestamp=timestamp, dispute=dispute)

    # -- test helpers

    def decline_settlement(self, transaction_id: str) -> None:
        """Mark a submitted sale ``settlement_declined``, as the processor may (rarely) do."""
        with self.store.locked() as data:
            record = data.get("transactions", {}).get(transaction_id)
            if record is None:
                raise KeyError(transaction_id)
            record["status"] = "settlement_declined"

    def settle(self, transaction_id: str) -> None:
        """Mark a submitted sale (or refund) settled, as the nightly batch would."""
        with self.store.locked() as data:
            record = data.get("transactions", {}).get(transaction_id)
            if record is None:
                raise KeyError(transaction_id)
            if record["status"] not in ("authorized", "submitted_for_settlement", "settling"):
                raise ValueError(f"cannot settle a transaction that is {record['status']}")
            record["status"] = "settled"

    def release_late(self) -> list[str]:
        """Record the sales made with ``fake-late-nonce`` now (they land late); returns their ids."""
        with self.store.locked() as data:
            late = data.pop("late", [])
            for record in late:
                record["created_at"] = datetime.now(timezone.utc).isoformat()  # created when it lands
                data.setdefault("transactions", {})[record["id"]] = record
        return [record["id"] for record in late]

    def release_late_refunds(self) -> list[RefundResult]:
        """Make the voids/refunds asked for under ``REFUND_LATE`` now (they land late); returns their results."""
        with self.store.locked() as data:
            late = data.pop("late_refunds", [])
        return [self._refund(r["transaction_id"], Money(r["minor"], r["currency"]), r["order_id"]) for r in late]

    def sign_webhook(self, payload: str) -> str:
        """The hex HMAC-SHA256 signature that ``parse_webhook`` expects."""
        return hmac.new(self._webhook_secret, payload.encode(), hashlib.sha256).hexdigest()

    def sample_webhook(self, kind: str, transaction_id: str | None = None, **extra) -> tuple[str, str]:
        """A signed ``(signature, payload)`` pair, e.g. for ``transaction_settled``, stamped now."""
        extra.setdefault("timestamp", datetime.now(timezone.utc).isoformat())
        payload = json.dumps({"kind": kind, "transaction_id": transaction_id, **extra}, sort_keys=True)
        return self.sign_webhook(payload), payload

    def dispute(self, transaction_id: str, status: str = "open", *, dispute_id: str | None = None,
                amount_minor: int | None = None, reason: str = "fraud", reply_by: date | None = None,
                kind: str = "chargeback") -> tuple[str, str]:
        """Open (or move to ``status``) a dispute of sale ``transaction_id``, as the client's bank would, and
        return the signed webhook that tells it: ``dispute_opened``, ``dispute_won``, ``dispute_lost`` …

        ``dispute_id`` defaults to one per sale; ``amount_minor`` to the sale's amount.
        """
        dispute_id = dispute_id or f"dp_{transaction_id}"
        with self.store.locked() as data:
            sale = data.get("transactions", {}).get(transaction_id)
            if sale is None:
                raise KeyError(transaction_id)
            disputes = data.setdefault("disputes", {})
            record = disputes.setdefault(dispute_id, {
                "id": dispute_id, "transaction_id": transaction_id, "evidence": [], "finalized": False,
                "amount": amount_minor or sale["minor"], "currency": sale["currency"], "kind": kind,
                "reason": reason,
                "reply_by": (reply_by or (datetime.now(timezone.utc) + timedelta(days=7)).date()).isoformat()})
            record["status"] = status
            body = {k: record[k] for k in ("id", "amount", "currency", "status", "kind", "reason", "reply_by")}
        return self.sample_webhook(f"dispute_{status}" if status != "open" else "dispute_opened", transaction_id,
                                   order_id=sale["order_id"], dispute=body)


def _to_result(record: dict) -> ChargeResult:
    return outcomes.charge_result(
        status=record["status"],
        order_id=record["order_id"],
        transaction_id=record["id"],
        amount=Money(record["minor"], record["currency"]),
        instrument=record["instrument"],
        card_brand=record["card_type"],
        card_last4=record["last4"],
        paypal_email=record["paypal_email"],
        processor_code=record["processor_code"],
        processor_response_text=record["processor_text"],
        rejection_reason=record["rejection_reason"],
        created_at=_created_at(record),
    )


def _naive(moment: datetime) -> datetime:
    return moment.astimezone(timezone.utc).replace(tzinfo=None) if moment.tzinfo else moment


def _dispute(body: dict, transaction_id: str | None) -> GatewayDispute:
    return GatewayDispute(id=str(body["id"]), transaction_id=str(transaction_id),
                          amount=Money(int(body["amount"]), body["currency"]), status=body["status"],
                          kind=body.get("kind") or "chargeback", reason=body.get("reason") or "",
                          reply_by=date.fromisoformat(body["reply_by"]) if body.get("reply_by") else None)


def _created_at(record: dict) -> datetime:
    """A stored transaction's creation time as naive UTC, as the domain's results carry it."""
    return datetime.fromisoformat(record["created_at"]).astimezone(timezone.utc).replace(tzinfo=None)
