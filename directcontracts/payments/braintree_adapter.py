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
"""
from __future__ import annotations

import binascii
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timezone
from urllib.parse import urlsplit
from xml.parsers.expat import ExpatError

import braintree
import requests
from braintree.exceptions.authentication_error import AuthenticationError
from braintree.exceptions.authorization_error import AuthorizationError
from braintree.exceptions.braintree_error import BraintreeError
from braintree.exceptions.configuration_error import ConfigurationError
from braintree.exceptions.invalid_signature_error import InvalidSignatureError
from braintree.exceptions.not_found_error import NotFoundError
from braintree.exceptions.upgrade_required_error import UpgradeRequiredError

from ..domain.money import Money
from ..domain.payments import ChargeResult, GatewayUnavailable, InvalidWebhook, RefundResult, SaleRefund, WebhookEvent
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

    def parse_webhook(self, signature: str, payload: str) -> WebhookEvent:
        """Verify Braintree's ``bt_signature`` / ``bt_payload`` pair and read it."""
        try:
            notification = self.gateway.webhook_notification.parse(signature, payload)
        except InvalidSignatureError as exc:
            raise InvalidWebhook(str(exc)) from exc
        except (ExpatError, binascii.Error, KeyError) as exc:  # signed, yet unreadable
            raise InvalidWebhook(f"unreadable payload: {exc}") from exc
        transaction = getattr(notification, "transaction", None)
        if transaction is None and getattr(notification, "dispute", None) is not None:
            transaction = getattr(notification.dispute, "transaction_details", None)
        timestamp = getattr(notification, "timestamp", None)
        raw = {
            "kind": notification.kind,
            "timestamp": timestamp.isoformat() if isinstance(timestamp, datetime) else timestamp,
            "transaction_status": getattr(transaction, "status", None),
            "amount": str(transaction.amount) if getattr(transaction, "amount", None) is not None else None,
        }
        return WebhookEvent(
            kind=notification.kind,
            transaction_id=getattr(transaction, "id", None),
            order_id=getattr(transaction, "order_id", None),
            raw=raw,
        )

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
            log.warning("Braintree %s did not complete: %s: %s", operation, type(exc).__name__, exc)
            raise GatewayUnavailable(f"Braintree {operation} did not complete ({type(exc).__name__})") from exc

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


def _naive_utc(moment: datetime | None) -> datetime | None:
    """The SDK parses Braintree's UTC times to naive datetimes; be safe if one carries a zone."""
    if moment is None or moment.tzinfo is None:
        return moment
    return moment.astimezone(timezone.utc).replace(tzinfo=None)
