"""The client portal's POSTs, one form class each (``web/client/``).

Lengths and required-ness come from ``domain.rules``. What a field alone cannot
tell stays the services': the code (``client_access``), the quote, the money
and the signature on a contract that needs one (``funding.fund``) — their
fields only carry the browser's hints (``Shown``), and the service's
``ValidationFailed`` lands beside them through ``Form.add_errors``.
"""
from __future__ import annotations

from flask import request
from wtforms import BooleanField, IntegerField, StringField
from wtforms.validators import Optional

from ...domain import rules
from ..edge import clean_text
from . import Form, Shown, text

#: What the emailed 6-digit code field accepts (a space in the middle is allowed).
CODE_LENGTH = 7


def _code():
    return text("6-digit code", validators=[Shown(required=True, maxlength=CODE_LENGTH)])


def _revision():
    """The revision the client read (its page carries it): a reply to an older one is refused."""
    return IntegerField(validators=[Optional()])


# ---- access ---------------------------------------------------------------

class FindForm(Form):
    """``POST /c``: email a code to the client of the contract with this reference."""

    ref = text("Contract reference", validators=[Shown(required=True)])


class OpenForm(Form):
    """``POST /c/open``: the reference and its emailed code open the contract on this device."""

    ref = text("Contract reference", validators=[Shown(required=True)])
    code = _code()


class VerifySendForm(Form):
    """``POST /c/<token>/verify/send``: email a fresh code; ``next`` is where to go once verified."""

    next = StringField()


class VerifyCheckForm(Form):
    """``POST /c/<token>/verify``: the emailed code verifies this device."""

    code = _code()
    next = StringField()


# ---- replying to the proposal -----------------------------------------------

class ChangesForm(Form):
    """``POST /c/<token>/changes``: ask the freelancer for changes (``client_actions.REPLIES["changes"]``)."""

    message = text("What should change?", rules.PROPOSAL_CHANGES, area=True)
    revision = _revision()


class DeclineForm(Form):
    """``POST /c/<token>/decline``: decline, with a reason (``client_actions.REPLIES["decline"]``)."""

    reason = text("Why are you declining?", rules.DECLINE_REASON, area=True)
    revision = _revision()


#: The form of each reply kind; its text field is ``client_actions.REPLIES[kind].field``.
REPLY_FORMS = {"changes": ChangesForm, "decline": DeclineForm}


# ---- accepting and funding ----------------------------------------------------

class FundForm(Form):
    """``POST /c/<token>/fund``: sign (the first time), choose what to fund, pay.

    The form names which milestones (``choice``: "first", "all" or "m<id>"),
    the payment nonce and the idempotency key; amounts never come from it.
    The signer's name and the tick are checked by the service, and only while
    the contract awaits a signature, so the form does not require them.
    Besides these fields the page posts one hidden ``quote_<choice>`` per
    choice (the quote it showed: revision, milestones, amounts); their names
    depend on the contract, so they are not fields: :meth:`shown_quote` reads
    the chosen one.
    """

    choice = StringField()
    signer_name = text("Your full name (your signature)",
                       validators=[Shown(required=True, maxlength=rules.SIGNER_NAME.max_length)])
    agree = BooleanField("I agree to these terms and to how escrow works (above).")
    payment_method_nonce = StringField()
    idempotency_key = StringField()

    def shown_quote(self) -> str:
        """The encoded quote the page showed for the chosen milestones (its ``quote_<choice>`` input)."""
        return request.form.get(f"quote_{self.choice.data or ''}", "")

    def signature(self) -> dict:
        """The signature fields ``funding.fund`` records when the contract awaits one."""
        return {"signer_name": self.signer_name.data or "", "agreed": bool(self.agree.data),
                "ip": request.remote_addr or "", "user_agent": clean_text(request.user_agent.string)}


# ---- approving work -----------------------------------------------------------

class ApproveForm(Form):
    """``POST …/milestones/<id>/approve``: no fields; a refusal shows under ``action``."""


class MilestoneChangesForm(Form):
    """``POST …/milestones/<id>/changes``: what still needs doing on a submitted milestone."""

    message = text("What still needs doing?", rules.MILESTONE_CHANGES, area=True)
