"""The signed agreement, printable: the terms as signed, the signature, the fee and the money so far."""
from __future__ import annotations

from flask import g

from ...services import agreement
from . import _render, bp, verified_device


@bp.get("/<token>/agreement")
@verified_device("agreement")
def agreement_view(token: str):
    """The agreement the client signed (verified devices only: it shows the payments and where it was signed
    from); before they sign, a page saying it is not signed yet."""
    return _render("client/agreement.html", agreement=agreement.signed(g.contract))
