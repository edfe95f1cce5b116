"""The owner's chargeback POSTs: text evidence for the bank, and the explicit go-ahead to submit it.

The evidence's limit is the service's (``services.chargebacks.EVIDENCE_MAX``), so the textarea's
``maxlength``, this form and ``chargebacks.add_evidence`` agree.
"""
from __future__ import annotations

from wtforms import BooleanField
from wtforms.validators import InputRequired

from ...domain.rules import TextRule
from ...services.chargebacks import EVIDENCE_MAX
from . import Form, text

EVIDENCE = TextRule(EVIDENCE_MAX, "Write what the bank should read.")


class EvidenceForm(Form):
    """``POST /admin/chargebacks/<id>/evidence``: one text for the bank (what was agreed, delivered, said)."""

    body = text("Evidence for the bank", EVIDENCE, area=True, render_kw={"rows": 8})


class FinalizeForm(Form):
    """``POST /admin/chargebacks/<id>/finalize``: submit the evidence; irreversible, so it must be ticked."""

    confirmed = BooleanField("I have sent everything I want the bank to read: submit it now. "
                             "Nothing can be added afterwards.",
                             validators=[InputRequired("Tick the box to confirm: the bank takes nothing after this.")])
