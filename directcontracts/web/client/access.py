"""Reaching a contract: find it by reference and an emailed code, and verify this device before acting."""
from __future__ import annotations

from flask import current_app, g, redirect, render_template, request, url_for

from ...htmx import respond
from ...services import client_access, tokens
from ...services.client_access import VerificationError
from .. import limits
from ..forms.client import FindForm, OpenForm, VerifyCheckForm, VerifySendForm
from . import _render, bp, return_url


# ---- finding a contract without the link ---------------------------------

def _find_page(form: FindForm | OpenForm, status: int = 200):
    """Ask for the reference (``FindForm``), or for the code once one may have been sent (``OpenForm``)."""
    return respond(render_template("client/find.html", form=form, sent=isinstance(form, OpenForm)), status)


@bp.get("")
def find_form():
    """For a client whose link broke: type the contract reference."""
    return _find_page(FindForm())


@bp.post("")
@limits.find_by_reference
def find_send_code():
    """Email a code to the contract's client; the same answer whether the reference exists or not."""
    ref = FindForm().ref.data or ""
    form = OpenForm(formdata=None, ref=tokens.normalise_ref(ref) or ref)
    if (contract := client_access.contract_by_ref(ref)) is not None:
        try:
            client_access.send_code(contract, channel=client_access.REF)
        except VerificationError as exc:
            form.add_errors({"verification": str(exc)})
    return _find_page(form)


@bp.post("/open")
@limits.open_by_reference
def find_open():
    """Check the code for a reference; a fresh link opens the contract on this device."""
    form = OpenForm()
    contract = client_access.contract_by_ref(form.ref.data or "")
    try:
        if contract is None:
            raise VerificationError("That code is not right.")
        raw = client_access.open_by_code(contract, form.code.data or "")
    except VerificationError as exc:
        return _find_page(form.add_errors({"verification": str(exc)}), 422)
    response = redirect(url_for("client.contract_view", token=raw), 303)
    _remember_device(response, contract)
    return response


def _remember_device(response, contract):
    response.set_cookie(
        client_access.device_cookie_name(contract), client_access.device_cookie_value(contract),
        max_age=client_access.DEVICE_DAYS * 86400, path="/c", httponly=True, samesite="Lax",
        secure=current_app.config["BASE_URL"].startswith("https://"),
    )


# ---- verifying this device -------------------------------------------------

def _verify_page(form: VerifyCheckForm, status: int = 200, *, sent: bool = False):
    """The code form; the "send a code" form beside it posts the same ``next``.

    ``sent``: a code was emailed just now. Until a code can be typed (``pending``), asking for
    one is the page's main button.
    """
    return _render("client/verify.html", status, form=form, sent=sent,
                   pending=client_access.code_pending(g.contract),
                   email=client_access.masked_email(g.contract.client_email))


@bp.get("/<token>/verify")
def verify_form(token: str):
    """Ask for (or type) the emailed code before acting."""
    next_action = request.args.get("next", "")
    return _verify_page(VerifyCheckForm(next=next_action if return_url(token, next_action) else ""))


@bp.post("/<token>/verify/send")
@limits.link_codes
def verify_send(token: str):
    """Email a fresh 6-digit code to the contract's client."""
    form = VerifyCheckForm(formdata=None, next=VerifySendForm().next.data or "")
    try:
        client_access.send_code(g.contract)
    except VerificationError as exc:
        # Too many codes: said where the code goes, as the page always has.
        response = _verify_page(form.add_errors({"code": str(exc)}), 429)
        response.headers["Retry-After"] = str(exc.retry_after or 60)
        return response
    return _verify_page(form, sent=True)


@bp.post("/<token>/verify")
@limits.link_codes
def verify_check(token: str):
    """Check the code; remember this device for the contract for 30 days."""
    form = VerifyCheckForm()
    try:
        client_access.check_code(g.contract, form.code.data or "")
    except VerificationError as exc:
        return _verify_page(form.add_errors({"code": str(exc)}), 422)
    next_action = form.next.data or ""
    target = return_url(token, next_action) or url_for("client.contract_view", token=token, _anchor="milestones")
    response = redirect(target, 303)
    _remember_device(response, g.contract)
    return response
