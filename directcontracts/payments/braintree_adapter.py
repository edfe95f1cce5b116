"""The PaymentGateway backed by Braintree, through the official ``braintree`` SDK.

SDK facts this adapter relies on (checked against braintree 4.48):

* Timeouts. ``Configuration(timeout=...)`` is handed unchanged to
  ``requests.Session.send(timeout=...)`` by ``braintree.util.http.Http``, and
  requests accepts a ``(connect, read)`` tuple there. So we pass a tuple and
  get a short connect timeout and a longer read timeout without subclassing
  the SDK's Http strategy. (The SDK itself reads the value nowhere else.)
* Errors. With ``wrap_http_exceptions=True`` the SDK turns requests' errors
  into its own: ``ReadTimeoutError`` / ``ConnectTimeoutError`` (both
  ``TimeoutError``), ``ConnectionError``, ``InvalidResponseError``, else
  ``UnexpectedError``. HTTP statuses become ``AuthenticationError`` (401),
  ``AuthorizationError`` (403), ``NotFoundError`` (404),
  ``RequestTimeoutError`` (408), ``UpgradeRequiredError`` (426),
  ``TooManyRequestsError`` (429), ``ServerError`` (500),
  ``ServiceUnavailableError`` (503), ``GatewayTimeoutError`` (504). All derive
  from ``braintree.exceptions.braintree_error.BraintreeError``. A 422 is not an
  exception: it is an ``ErrorResult`` (validation errors, or a declined /
  rejected ``transaction``).
* Environments. "sandbox" and "production" are the SDK's own. For a URL we
  build an ``Environment(name, server, port, auth_url, is_ssl, ssl_certificate,
  graphql_server, graphql_port)``; the SDK derives the scheme from the port
  ("443" means https), so a small subclass states the scheme explicitly.
* Connections. ``Configuration`` creates one Http strategy holding one
  ``requests.Session`` per thread (kept alive, renewed after 60 s idle), so
  one ``BraintreeGateway`` per process is right; ``close()`` closes the
  calling thread's session.
* Disputes. ``dispute.add_text_evidence`` / ``dispute.finalize`` answer an
  ``ErrorResult`` (422) when Braintree refuses (95701: evidence only on an
  open dispute; 95705: finalize only an open one; finalizing moves it to
  ``disputed``), raise ``NotFoundError`` for an unknown dispute (ours to turn
  into DisputeRefused, not a misconfiguration) and ``ValueError`` for blank
  content before sending anything.
* Webhooks. ``bt_payload`` is base64 (with newlines) of the notification XML;
  ``bt_signature`` is ``public_key|hex HMAC-SHA1`` keyed by SHA1 of the private
  key. The SDK parses XML times to *naive UTC* datetimes and ``type="date"``
  to dates. A dispute's sale is ``dispute.transaction`` (TransactionDetails:
  id, amount, order_id …, no status or currency); ``amount_disputed`` is a
  Decimal in the dispute's ``currency_iso_code``.
"""
from __future__ import annotations

import binascii
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import date, datetime, timezone
from urllib.parse import urlsplit
from xml.parsers.expat import ExpatError

import braintree
import requests
import urllib3.exceptions
from braintree.exceptions.authentication_error import AuthenticationError
from braintree.exceptions.authorization_error import AuthorizationError
from braintree.exceptions.braintree_error import BraintreeError
from braintree.exceptions.configuration_error import ConfigurationError
from braintree.exceptions.invalid_signature_error import InvalidSignatureError
from braintree.exceptions.not_found_error import NotFoundError
from braintree.exceptions.upgrade_required_error import UpgradeRequiredError

from ..domain.money import Money
from ..domain.payments import (
    ChargeResult,
    DisputeRefused,
    GatewayDispute,
    GatewayTransaction,
    GatewayNotReached,
    GatewayUnavailable,
    InvalidWebhook,
    RefundResult,
    SaleRefund,
    WebhookEvent,
)
from .outcomes import (
    REFUNDED_MESSAGE,
    SUCCEEDED_STATUSES,
    VOIDED_MESSAGE,
    charge_result,
    preferred_sale,
    refund_message,
    refund_plan,
    validation_message,
)

log = logging.getLogger(__name__)


class GatewayMisconfigured(GatewayUnavailable):
    """Braintree refused our credentials or merchant setup (401/403/404, bad account).

    A subclass of GatewayUnavailable so callers leave the attempt ``unknown``
    (nothing was charged, but retrying will not help until an operator fixes
    the configuration); it is logged at error level.
    """


class _UrlEnvironment(braintree.Environment):
    """An Environment for an explicit URL (a local stand-in, a proxy)."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"BRAINTREE_ENVIRONMENT must be sandbox, production or an http(s) URL, not {url!r}")
        ssl = parts.scheme == "https"
        port = str(parts.port or (443 if ssl else 80))
        # ssl_certificate is passed to requests as ``verify``: True means the
        # system's CA bundle (None would not verify at all).
        super().__init__("custom", parts.hostname, port, "", ssl, True if ssl else None, parts.hostname, port)
        self._protocol = parts.scheme + "://"

    @property
    def protocol(self) -> str:
        return self._protocol


def build_environment(spec: str) -> braintree.Environment:
    """"sandbox", "production" or a URL such as ``http://127.0.0.1:8901``."""
    named = {"sandbox": braintree.Environment.Sandbox, "production": braintree.Environment.Production}
    if spec.strip().lower() in named:
        return named[spec.strip().lower()]
    return _UrlEnvironment(spec.strip())


class BraintreeAdapter:
    """PaymentGateway over one ``braintree.BraintreeGateway`` (one per process).

    ``merchant_accounts`` maps a currency to the merchant account that
    settles in it. When the mapping is given, a currency missing from it is
    refused before any call; when it is empty, Braintree's default account is
    used and a sale that comes back in another currency is voided at once.
    Every method may raise GatewayUnavailable (or GatewayMisconfigured).
    """

    name = "braintree"

    def __init__(
        self,
        *,
        merchant_id: str,
        public_key: str,
        private_key: str,
        environment: str = "sandbox",
        merchant_accounts: Mapping[str, str] | None = None,
        connect_timeout: float = 5,
        read_timeout: float = 30,
    ) -> None:
        env = build_environment(environment)
        self.test_mode = env is not braintree.Environment.Production
        self.merchant_accounts = {currency.upper(): account for currency, account in (merchant_accounts or {}).items()}
        self.gateway = braintree.BraintreeGateway(
            braintree.Configuration(
                environment=env,
                merchant_id=merchant_id,
                public_key=public_key,
                private_key=private_key,
                timeout=(connect_timeout, read_timeout),
                wrap_http_exceptions=True,
            )
        )

    def close(self) -> None:
        """Close the calling thread's kept-alive HTTP session."""
        self.gateway.config.close()

    # -- PaymentGateway

    def client_token(self, currency: str) -> str:
        """Client token for Drop-in, bound to the currency's merchant account if configured."""
        params = {}
        account = self.merchant_accounts.get(currency.upper())
        if account:
            params["merchant_account_id"] = account
        with self._call("client_token"):
            try:
                return self.gateway.client_token.generate(params)
            except ValueError as exc:  # the SDK's way of reporting an api-error-response here
                raise GatewayMisconfigured(f"Braintree refused a client token: {exc}") from exc

    def check_credentials(self) -> None:
        """Ask for a client token on the default merchant account: raises GatewayMisconfigured if the keys
        are refused, GatewayUnavailable if Braintree cannot be reached (``flask doctor``)."""
        with self._call("client_token"):
            try:
                self.gateway.client_token.generate({})
            except ValueError as exc:
                raise GatewayMisconfigured(f"Braintree refused a client token: {exc}") from exc

    def charge(self, *, order_id: str, amount: Money, nonce: str) -> ChargeResult:
        """Sale with submit_for_settlement. Raises GatewayUnavailable when the outcome is unknown."""
        params = {
            "amount": amount.to_plain(),
            "payment_method_nonce": nonce,
            "order_id": order_id,
            "options": {"submit_for_settlement": True},
        }
        account = self.merchant_accounts.get(amount.currency)
        if account:
            params["merchant_account_id"] = account
        elif self.merchant_accounts:
            log.error("no Braintree merchant account configured for %s (order %s)", amount.currency, order_id)
            return ChargeResult(status="failed", order_id=order_id, amount=amount,
                                message=_currency_not_set_up(amount.currency))
        with self._call("sale"):
            result = self.gateway.transaction.sale(params)
        if result.transaction is None:
            errors = [(error.code, error.message) for error in result.errors.deep_errors]
            log.info("Braintree refused sale for order %s: %s", order_id, errors)
            return ChargeResult(status="failed", order_id=order_id, amount=amount, message=validation_message(errors))
        charge = _to_result(result.transaction, order_id, amount.currency)
        if charge.amount is not None and charge.amount.currency != amount.currency:
            return self._undo_wrong_currency(charge, amount)
        return charge

    def find_by_order_id(self, order_id: str) -> ChargeResult | None:
        """Search sales by order id; prefer one that captured money, else the latest."""
        with self._call("search"):
            found = self.gateway.transaction.search(braintree.TransactionSearch.order_id == order_id)
            # The collection fetches lazily: consume it inside the error mapping.
            sales = [
                (index, transaction)
                for index, transaction in enumerate(found.items)
                if transaction.type == "sale" and transaction.order_id == order_id
            ]
        chosen = preferred_sale(
            sales,
            status=lambda item: item[1].status,
            created=lambda item: (getattr(item[1], "created_at", None) or datetime.min, item[0]),
        )
        return _to_result(chosen[1], order_id, None) if chosen else None

    def search_sales(self, since: datetime, until: datetime) -> list[ChargeResult]:
        """Sales created between ``since`` and ``until`` (naive UTC; Braintree compares to the second)."""
        with self._call("search"):
            found = self.gateway.transaction.search(
                braintree.TransactionSearch.created_at.between(since, until),
                braintree.TransactionSearch.type == braintree.Transaction.Type.Sale,
            )
            # Lazily fetched, page by page: consume inside the error mapping.
            sales = [transaction for transaction in found.items if transaction.type == "sale"]
        return [_to_result(transaction, transaction.order_id, None) for transaction in sales]

    def refund(self, transaction_id: str, amount: Money, *, order_id: str | None = None) -> RefundResult:
        """Void when unsettled and for the full amount, else refund ``amount`` under ``order_id``."""
        with self._call("find"):
            try:
                sale = self.gateway.transaction.find(transaction_id)
            except NotFoundError:
                return RefundResult(ok=False, message="No payment with this reference was found.")
        if sale.currency_iso_code != amount.currency:
            return RefundResult(ok=False, message=f"The refund must be in the payment's currency ({sale.currency_iso_code}).")
        if amount.minor <= 0:
            return RefundResult(ok=False, message="The refund amount must be more than zero.")
        plan = refund_plan(
            kind=sale.type,
            status=sale.status,
            amount_minor=amount.minor,
            captured_minor=Money.from_major(sale.amount, amount.currency).minor,
        )
        if plan == "void":
            with self._call("void"):
                result = self.gateway.transaction.void(transaction_id)
            if result.is_success:
                return RefundResult(ok=True, kind="voided", transaction_id=result.transaction.id,
                                    message=VOIDED_MESSAGE)
        elif plan == "refund":
            # Braintree checks the amount against earlier refunds (error 91521).
            options = {"amount": amount.to_plain()}
            if order_id:
                options["order_id"] = order_id  # what find_refund searches for when this answer is lost
            with self._call("refund"):
                result = self.gateway.transaction.refund(transaction_id, options)
            if result.is_success:
                return RefundResult(ok=True, kind="refunded", transaction_id=result.transaction.id,
                                    message=REFUNDED_MESSAGE)
        else:
            return RefundResult(ok=False, message=refund_message([(plan, "")]))
        errors = [(error.code, error.message) for error in result.errors.deep_errors]
        log.warning("Braintree refused to %s %s: %s", plan, transaction_id, errors or result.message)
        return RefundResult(ok=False, message=refund_message(errors or [("", result.message)]))

    def find_refund(self, transaction_id: str, order_id: str) -> RefundResult | None:
        """The void of the sale (found by its ``voided`` status), or its refund searched by ``order_id``."""
        with self._call("find"):
            try:
                sale = self.gateway.transaction.find(transaction_id)
            except NotFoundError:
                return None
        if sale.status == "voided":
            return RefundResult(ok=True, kind="voided", transaction_id=sale.id, message=VOIDED_MESSAGE)
        with self._call("search"):
            found = self.gateway.transaction.search(braintree.TransactionSearch.order_id == order_id)
            # Lazily fetched: consume inside the error mapping. Only a refund of this sale counts.
            credits = [transaction for transaction in found.items
                       if transaction.type == "credit" and transaction.order_id == order_id
                       and getattr(transaction, "refunded_transaction_id", None) == transaction_id]
        if not credits:
            return None
        return RefundResult(ok=True, kind="refunded", transaction_id=credits[0].id, message=REFUNDED_MESSAGE)

    def sale_refunds(self, transaction_id: str) -> list[SaleRefund]:
        """The sale's ``refund_ids``, each found by id (a find is consistent; a search may lag)."""
        with self._call("find"):
            try:
                sale = self.gateway.transaction.find(transaction_id)
            except NotFoundError:
                return []
            refunds = []
            for credit_id in getattr(sale, "refund_ids", None) or []:
                try:
                    credit = self.gateway.transaction.find(credit_id)
                except NotFoundError:  # listed by the sale, yet not found: nothing can be concluded
                    raise GatewayUnavailable(f"Braintree lists refund {credit_id} of {transaction_id} "
                                             f"but cannot find it") from None
                if (credit.type == "credit" and credit.status in SUCCEEDED_STATUSES
                        and getattr(credit, "refunded_transaction_id", None) == transaction_id):
                    refunds.append(SaleRefund(
                        transaction_id=credit.id,
                        amount=Money.from_major(credit.amount, credit.currency_iso_code or sale.currency_iso_code),
                        created_at=_naive_utc(getattr(credit, "created_at", None)),
                        order_id=getattr(credit, "order_id", None)))
        return sorted(refunds, key=lambda r: r.created_at or datetime.min)

    def transaction_status(self, transaction_id: str) -> str | None:
        """The transaction's status, read with ``transaction.find`` (consistent, unlike a search)."""
        with self._call("find"):
            try:
                return self.gateway.transaction.find(transaction_id).status
            except NotFoundError:
                return None

    def search_transactions(self, since: datetime, until: datetime) -> list[GatewayTransaction]:
        """Sales and credits created between ``since`` and ``until`` (naive UTC, compared to the second).

        One search with no ``type`` criterion: Braintree then returns both sales and credits.
        """
        with self._call("search"):
            found = self.gateway.transaction.search(braintree.TransactionSearch.created_at.between(since, until))
            # Lazily fetched, page by page: consume inside the error mapping.
            transactions = [transaction for transaction in found.items if transaction.type in ("sale", "credit")]
        return [_to_gateway_transaction(transaction) for transaction in transactions]

    def add_dispute_evidence(self, dispute_id: str, text: str) -> str:
        """``dispute.add_text_evidence``; an error result or an unknown dispute is DisputeRefused."""
        with self._dispute_call("evidence", dispute_id):
            try:
                result = self.gateway.dispute.add_text_evidence(dispute_id, text)
            except ValueError as exc:  # the SDK refuses blank content before sending anything
                raise DisputeRefused("Evidence cannot be empty.") from exc
        if result is not None and result.is_success:
            return result.evidence.id
        raise DisputeRefused(_dispute_refusal("evidence", dispute_id, result))

    def finalize_dispute(self, dispute_id: str) -> None:
        """``dispute.finalize``: the evidence goes to the bank; an error result or unknown dispute is refused."""
        with self._dispute_call("finalize", dispute_id):
            result = self.gateway.dispute.finalize(dispute_id)
        if result is None or not result.is_success:
            raise DisputeRefused(_dispute_refusal("finalize", dispute_id, result))

    def parse_webhook(self, signature: str, payload: str) -> WebhookEvent:
        """Verify Braintree's ``bt_signature`` / ``bt_payload`` pair and read it.

        Transaction kinds read ``notification.transaction``; the ``dispute_*``
        kinds read ``notification.dispute`` (the event's transaction and order
        ids are then the disputed sale's, from the dispute's transaction details).
        """
        try:
            notification = self.gateway.webhook_notification.parse(signature, payload)
        except InvalidSignatureError as exc:
            raise InvalidWebhook(str(exc)) from exc
        except (ExpatError, binascii.Error, KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InvalidWebhook(f"unreadable payload: {exc!r}") from exc  # signed, yet unreadable
        try:
            return _to_event(notification)
        except (TypeError, ValueError, AttributeError, ArithmeticError) as exc:
            raise InvalidWebhook(f"unreadable notification: {exc!r}") from exc

    # -- internals

    @contextmanager
    def _call(self, operation: str) -> Iterator[None]:
        """Turn the SDK's exceptions into the domain's (see module doc)."""
        try:
            yield
        except (AuthenticationError, AuthorizationError, UpgradeRequiredError, ConfigurationError, NotFoundError) as exc:
            log.error("Braintree %s refused: %s (check merchant id, keys, environment)", operation, type(exc).__name__)
            raise GatewayMisconfigured(f"Braintree refused the {operation} ({type(exc).__name__})") from exc
        except (BraintreeError, ExpatError, requests.RequestException) as exc:
            if _never_sent(exc):
                log.warning("Braintree %s not sent, the gateway could not be reached: %s", operation, exc)
                raise GatewayNotReached(f"Braintree {operation} not sent: the gateway could not be reached "
                                        f"({type(exc).__name__})") from exc
            log.warning("Braintree %s did not complete: %s: %s", operation, type(exc).__name__, exc)
            raise GatewayUnavailable(f"Braintree {operation} did not complete ({type(exc).__name__})") from exc

    @contextmanager
    def _dispute_call(self, operation: str, dispute_id: str) -> Iterator[None]:
        """``_call``, except that an unknown dispute (NotFoundError) is DisputeRefused, not a misconfiguration."""
        with self._call(f"dispute {operation}"):  # DisputeRefused is no SDK error: _call lets it through
            try:
                yield
            except NotFoundError as exc:
                log.warning("Braintree has no dispute %s (%s)", dispute_id, operation)
                raise DisputeRefused("The payment processor has no such chargeback.") from exc

    def _undo_wrong_currency(self, charge: ChargeResult, wanted: Money) -> ChargeResult:
        """A sale landed on a merchant account of another currency: void it.

        Happens when no merchant account is configured for the currency and
        Braintree's default account settles in another one. If the void does
        not go through, GatewayUnavailable leaves the attempt unknown.
        """
        log.error("Braintree sale %s for order %s came back in %s, not %s: voiding it",
                  charge.transaction_id, charge.order_id, charge.amount.currency, wanted.currency)
        if charge.status == "succeeded":
            with self._call("void"):
                result = self.gateway.transaction.void(charge.transaction_id)
            if not result.is_success:
                raise GatewayUnavailable(f"could not void wrong-currency sale {charge.transaction_id}")
        return ChargeResult(status="failed", order_id=charge.order_id, amount=wanted,
                            transaction_id=charge.transaction_id, gateway_status="voided",
                            message=_currency_not_set_up(wanted.currency))


def _currency_not_set_up(currency: str) -> str:
    return f"Payments in {currency} are not set up on this site yet. Nothing was charged. Please contact us."


def _never_sent(exc: BaseException) -> bool:
    """Whether the SDK's error is a failure to connect, so the request never left this machine.

    The SDK wraps requests' error, which wraps urllib3's: a refused connection, an unknown host or a
    connect timeout is urllib3's ``ConnectTimeoutError`` (``NewConnectionError`` derives from it), found
    by following causes, contexts, arguments and ``reason``. A read timeout, a dropped connection or a
    reset after the request was written is not: that request may have charged.
    """
    seen, todo = set(), [exc]
    while todo:
        current = todo.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, (urllib3.exceptions.ConnectTimeoutError, requests.exceptions.ConnectTimeout)):
            return True
        todo += [current.__cause__, current.__context__, getattr(current, "reason", None), *current.args]
    return False


def _to_result(transaction, order_id: str, currency: str | None) -> ChargeResult:
    """Map an SDK Transaction onto a ChargeResult (attributes may be absent)."""
    card = getattr(transaction, "credit_card_details", None)
    paypal = getattr(transaction, "paypal_details", None)
    currency = getattr(transaction, "currency_iso_code", None) or currency
    amount = Money.from_major(transaction.amount, currency) if currency else None
    return charge_result(
        status=transaction.status,
        order_id=getattr(transaction, "order_id", None) or order_id,
        transaction_id=transaction.id,
        amount=amount,
        instrument=getattr(transaction, "payment_instrument_type", None),
        card_brand=getattr(card, "card_type", None),
        card_last4=getattr(card, "last_4", None),
        paypal_email=getattr(paypal, "payer_email", None),
        processor_code=getattr(transaction, "processor_response_code", None),
        processor_response_text=getattr(transaction, "processor_response_text", None),
        rejection_reason=getattr(transaction, "gateway_rejection_reason", None),
        created_at=_naive_utc(getattr(transaction, "created_at", None)),
    )


#: Braintree's dispute error codes (braintree.error_codes.ErrorCodes.Dispute) in the shop owner's words.
_DISPUTE_REFUSALS = {
    "95701": "This chargeback is no longer open, or its evidence was already sent to the bank: "
             "nothing more can be added.",
    "95705": "This chargeback's evidence was already sent to the bank, or the chargeback is closed: "
             "it cannot be sent again.",
    "95707": "The evidence has a date the payment processor cannot read.",
    "95708": "The evidence is too long for the payment processor. Please shorten it.",
    "95726": "Add evidence to this chargeback before sending it to the bank.",
}


def _dispute_refusal(operation: str, dispute_id: str, result) -> str:
    """Plain words for an ErrorResult of ``dispute.add_text_evidence`` / ``dispute.finalize``."""
    errors = [(error.code, error.message) for error in result.errors.deep_errors] if result is not None else []
    log.warning("Braintree refused dispute %s for %s: %s", operation, dispute_id,
                errors or getattr(result, "message", None))
    for code, _message in errors:
        if code in _DISPUTE_REFUSALS:
            return _DISPUTE_REFUSALS[code]
    detail = getattr(result, "message", None) or "; ".join(message for _code, message in errors if message)
    return f"The payment processor refused this chargeback's {operation}" + (f": {detail}" if detail else ".")


def _to_event(notification) -> WebhookEvent:
    """Map a verified SDK WebhookNotification onto a WebhookEvent (a ``check`` has no subject)."""
    kind = notification.kind
    timestamp = _naive_utc(getattr(notification, "timestamp", None))
    raw = {"kind": kind, "timestamp": timestamp.isoformat() if timestamp else None}
    sdk_dispute = getattr(notification, "dispute", None)
    if sdk_dispute is not None:
        dispute = _to_dispute(sdk_dispute)
        details = getattr(sdk_dispute, "transaction_details", None)
        raw.update(dispute_id=dispute.id, dispute_status=dispute.status, dispute_kind=dispute.kind,
                   reason=dispute.reason, amount=dispute.amount.to_plain(), currency=dispute.amount.currency,
                   reply_by=dispute.reply_by.isoformat() if dispute.reply_by else None,
                   transaction_id=dispute.transaction_id or None)
        return WebhookEvent(kind=kind, transaction_id=dispute.transaction_id or None,
                            order_id=getattr(details, "order_id", None) or None, raw=raw,
                            timestamp=timestamp, dispute=dispute)
    transaction = getattr(notification, "transaction", None)
    if transaction is not None:
        amount = getattr(transaction, "amount", None)
        raw.update(transaction_id=transaction.id, transaction_status=getattr(transaction, "status", None),
                   amount=str(amount) if amount is not None else None,
                   currency=getattr(transaction, "currency_iso_code", None))
    return WebhookEvent(kind=kind, transaction_id=getattr(transaction, "id", None),
                        order_id=getattr(transaction, "order_id", None) or None, raw=raw, timestamp=timestamp)


def _to_dispute(dispute) -> GatewayDispute:
    """An SDK Dispute as the domain's GatewayDispute: the amount disputed, else the dispute's amount."""
    details = getattr(dispute, "transaction_details", None)
    currency = getattr(dispute, "currency_iso_code", None) or getattr(details, "currency_iso_code", None)
    amount = getattr(dispute, "amount_disputed", None)
    if amount is None:
        amount = getattr(dispute, "amount", None)
    if amount is None or not currency:
        raise ValueError(f"dispute {getattr(dispute, 'id', None)} carries no amount or currency")
    reply_by = getattr(dispute, "reply_by_date", None)
    if isinstance(reply_by, datetime):
        reply_by = reply_by.date()
    elif isinstance(reply_by, str) and reply_by:
        reply_by = date.fromisoformat(reply_by[:10])
    return GatewayDispute(
        id=str(dispute.id),
        transaction_id=str(getattr(details, "id", None) or ""),
        amount=Money.from_major(amount, currency),
        status=getattr(dispute, "status", None) or "",
        kind=getattr(dispute, "kind", None) or "chargeback",
        reason=getattr(dispute, "reason", None) or "",
        reply_by=reply_by or None,
    )


def _to_gateway_transaction(transaction) -> GatewayTransaction:
    """An SDK Transaction (sale or credit) as the domain's GatewayTransaction."""
    return GatewayTransaction(
        id=transaction.id,
        type=transaction.type,
        status=transaction.status,
        amount=Money.from_major(transaction.amount, transaction.currency_iso_code),
        order_id=getattr(transaction, "order_id", None) or None,
        created_at=_naive_utc(getattr(transaction, "created_at", None)),
        refunded_transaction_id=getattr(transaction, "refunded_transaction_id", None) or None,
    )


def _naive_utc(moment: datetime | None) -> datetime | None:
    """The SDK parses Braintree's UTC times to naive datetimes; be safe if one carries a zone."""
    if moment is None or moment.tzinfo is None:
        return moment
    return moment.astimezone(timezone.utc).replace(tzinfo=None)
