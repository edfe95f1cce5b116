"""The dispute pages' POSTs, one form class each (client, freelancer and owner).

Lengths and required-ness come from ``domain.rules``; amounts and what each
party may decide stay the service's (``services.disputes``), whose
``ValidationFailed`` lands beside these fields through ``Form.add_errors``.
A money move is posted twice: first without ``confirmed`` (the page shows the
exact amounts and asks), then with it.
"""
from __future__ import annotations

from wtforms import BooleanField, IntegerField, RadioField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Optional

from ...domain import rules
from ...domain.disputes import REFUND, RELEASE, SPLIT
from . import Form, Shown, text


class DisputeOpenForm(Form):
    """``POST …/milestones/<id>/dispute``: why, what happened, and (optionally) how much is in question."""

    reason = RadioField("What is the dispute about?", choices=[SelectChoice(k, v) for k, v in rules.DISPUTE_REASONS.items()],
                        validators=[InputRequired("Choose what the dispute is about.")])
    statement = text("What went wrong?", rules.DISPUTE_STATEMENT, area=True)
    amount = text("Amount in question", validators=[Shown(inputmode="decimal", autocomplete="off")])

    def values(self, *names: str) -> dict[str, str]:
        """``disputes.open_dispute``'s keyword arguments."""
        return {"reason": self.reason.data or "", "statement": self.statement.data or "",
                "amount_text": self.amount.data or ""}


class SayForm(Form):
    """``POST …/disputes/<id>/messages``: a message on the dispute (the other side and the mediator read it)."""

    body = text("Your message", rules.DISPUTE_MESSAGE, area=True)


class OfferForm(Form):
    """``POST …/disputes/<id>/offer``: offer a split — this much to the freelancer, the rest back to the client."""

    release = text("Amount to the freelancer", validators=[Shown(required=True, inputmode="decimal",
                                                                 autocomplete="off")])


class AcceptForm(Form):
    """``POST …/disputes/<id>/accept``: accept the other side's offer, the one the page showed."""

    shown_release_minor = IntegerField(validators=[InputRequired()])
    confirmed = BooleanField()


class SettleForm(Form):
    """``POST …/disputes/<id>/release`` (client) or ``…/refund`` (freelancer): give in, after confirming."""

    confirmed = BooleanField()


class ResolveForm(Form):
    """``POST /admin/disputes/<id>/resolve``: the mediator's decision and its written reason."""

    kind = RadioField("Decision", choices=[SelectChoice(RELEASE, "Release all to the freelancer"),
                                           SelectChoice(REFUND, "Refund all to the client"),
                                           SelectChoice(SPLIT, "Split")],
                      validators=[InputRequired("Choose release, refund or split.")])
    release = text("Amount to the freelancer (for a split)",
                   validators=[Optional(), Shown(inputmode="decimal", autocomplete="off")])
    reason = text("Reason (both sides read it)", rules.DISPUTE_DECISION, area=True)
    confirmed = BooleanField()

    def values(self, *names: str) -> dict[str, str]:
        """``disputes.resolve``'s keyword arguments."""
        return {"kind": self.kind.data or "", "reason": self.reason.data or "",
                "release_text": self.release.data or ""}
