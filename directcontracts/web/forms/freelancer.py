"""The freelancer portal's forms: one class per POST that carries fields.

Text lengths and required-ness are the domain's (``domain.rules``); an email,
an amount, a date, a currency or a kind are checked by the services, whose
``ValidationFailed`` the views add beside the same fields (``Form.add_errors``).
"""
from __future__ import annotations

from ...domain import rules
from . import Form, Shown, text


def _plain(label: str, *flags_validators):
    """A stripped text field the domain checks (``Shown`` flags only); empty, not None, when absent."""
    return text(label, validators=list(flags_validators), default="")


class ClientForm(Form):
    """Step 1: the client's details (``next``: the builder step to go to after saving)."""

    client_name = text("Client's name", rules.CLIENT_NAME, default="")
    client_email = _plain("Client's email", Shown(required=True, maxlength=rules.EMAIL_LENGTH))
    client_company = text("Company", rules.CLIENT_COMPANY, default="")
    next = _plain("Next step")


class TermsForm(Form):
    """Step 2: title, scope, currency, kind, and the single amount with its due date."""

    title = text("Contract title", rules.TITLE, default="")
    scope = text("Scope of work", rules.SCOPE, area=True, render_kw={"rows": 6}, default="")
    currency = _plain("Currency")
    kind = _plain("How will you be paid?")
    amount = _plain("Amount")
    due_date = _plain("Due date")
    next = _plain("Next step")

    def terms(self) -> dict[str, str]:
        """Keyword arguments for ``services.drafts.update_terms``."""
        values = self.values("title", "scope", "currency", "kind")
        return values | {"amount_text": self.amount.data, "due_text": self.due_date.data}


class AmountForm(Form):
    """The single amount being typed, and the currency chosen, for the live total (nothing is saved)."""

    amount = _plain("Amount")
    currency = _plain("Currency")


class MilestoneForm(Form):
    """A milestone row of the editor, added or edited."""

    title = text("Title", rules.TITLE, default="")
    amount = _plain("Amount", Shown(required=True))
    due_date = _plain("Due date")
    description = text("Description", rules.DESCRIPTION, area=True, default="")


class MoveForm(Form):
    """Move a milestone ``up`` or ``down``."""

    direction = _plain("Direction")


class PaymentRequestForm(Form):
    """Ask the client to release a funded milestone: what was delivered, and where."""

    note = text("What did you deliver?", rules.DELIVERY_NOTE, area=True, default="")
    url = text("Link to the deliverable", rules.DELIVERABLE_URL, default="")


class RefundForm(Form):
    """Refund a funded milestone: the reason the client sees."""

    reason = text("Reason (the client sees it)", rules.REFUND_REASON, area=True, default="")
