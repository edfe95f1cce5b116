"""SQLAlchemy models (the database adapter), one module per aggregate."""
from .base import utcnow
from .member import Member, PasswordReset, ShopSettings
from .contract import ClientToken, Contract, ContractRevision, Milestone, Refund, Reminder
from .activity import Notification, TimelineEvent
from .outbox import OutboxEmail
from .client import Acceptance, VerificationCode
from .payment import Journal, LedgerDay, LedgerEntry, PaymentAttempt, PaymentItem
from .sale_return import SaleReturn
from .dispute import Dispute, Message
from .chargeback import Chargeback, ChargebackEvidence, WebhookNotification
from .reconciliation import ReconciliationRun
from .ops import OpsRecord

__all__ = [
    "utcnow", "ClientToken", "Member", "PasswordReset", "ShopSettings", "Contract", "ContractRevision", "Milestone",
    "Notification", "TimelineEvent", "OutboxEmail", "Acceptance", "VerificationCode",
    "Journal", "LedgerDay", "LedgerEntry", "PaymentAttempt", "PaymentItem", "Refund", "Reminder",
    "SaleReturn", "Dispute", "Message", "Chargeback", "ChargebackEvidence", "WebhookNotification",
    "ReconciliationRun", "OpsRecord",
]
