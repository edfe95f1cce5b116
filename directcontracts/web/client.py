"""The client's side: no account, ever.

The client reaches a contract through a link with a long random token (or by
typing the contract reference at ``/c`` and an emailed code). Before acting,
they verify their email on this device with a 6-digit code; a signed cookie
keeps the device verified for that contract for 30 days.
"""
from __future__ import annotations

import functools

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, url_for

from ..domain.states import ContractState
from ..htmx import respond, wants_fragment
from ..payments import current_gateway
from ..services import actions, client_access, client_actions, funding, lifecycle, refunds, tokens
from ..services import contracts as contracts_svc
from ..services.errors import InvalidTransition, PageOutdated, ValidationFailed

bp = Blueprint("client", __name__, url_prefix="/c")

#: Actions that need a verified device, and where to go once verified.
ACTIONS = {"fund": "client.fund_form", "changes": "client.changes_form", "decline": "client.decline_form"}


@bp.after_request
def no_referrer(response):
    """The token is in the URL: never leak it in a Referer, never cache the page."""
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.url_value_preprocessor
def load_contract(endpoint, values):
    """Every ``/c/<token>/…`` route works on the one contract its token opens."""
    token = (values or {}).get("token")
    if token is None:
        return
    contract = tokens.contract_for_token(token)
    if contract is None:
        abort(respond(render_template("client/unavailable.html", reason="unknown"), 404))
    if contract.state == ContractState.WITHDRAWN:
        abort(respond(render_template("client/unavailable.html", reason="withdrawn", contract=contract), 410))
    g.contract = contract
    g.verified = client_access.device_verified(
        contract, request.cookies.get(client_access.device_cookie_name(contract)))


def _render(template: str, status: int = 200, **context):
    context.setdefault("contract", g.contract)
    context.setdefault("token", request.view_args["token"])
    context.setdefault("verified", g.verified)
    context.setdefault("test_mode", current_gateway().test_mode)  # sandbox or offline: no real money
    context.setdefault("offline_gateway", current_gateway().name == "test")
    return respond(render_template(template, **context), status)


def verified_device(action: str = ""):
    """For a device verified for the contract only; any other goes to verification first.

    Once verified, the client comes back to ``action``'s form (a key of ``ACTIONS``;
    the reply views' own ``kind`` is theirs), else to the contract page.
    """
    def decorate(view):
        @functools.wraps(view)
        def wrapper(**kwargs):
            if not g.verified:
                return redirect(url_for("client.verify_form", token=kwargs["token"],
                                        next=kwargs.get("kind", action)), 303)
            return view(**kwargs)
        return wrapper
    return decorate


def _view(token: str):
    return redirect(url_for("client.contract_view", token=token), 303)


# ---- finding a contract without the link ---------------------------------

@bp.get("")
def find_form():
    """For a client whose link broke: type the contract reference."""
    return render_template("client/find.html", ref="", sent=False, error=None)


@bp.post("")
def find_send_code():
    """Email a code to the contract's client; the same answer whether the reference exists or not."""
    ref = request.form.get("ref", "")
    contract = client_access.contract_by_ref(ref)
    error = None
    if contract is not None:
        try:
            client_access.send_code(contract)
        except client_access.VerificationError as exc:
            error = str(exc)
    return render_template("client/find.html", ref=tokens.normalise_ref(ref) or ref, sent=True, error=error)


@bp.post("/open")
def find_open():
    """Check the code for a reference; a fresh link opens the contract on this device."""
    ref, code = request.form.get("ref", ""), request.form.get("code", "")
    contract = client_access.contract_by_ref(ref)
    try:
        if contract is None:
            raise client_access.VerificationError("That code is not right.")
        raw = client_access.open_by_code(contract, code)
    except client_access.VerificationError as exc:
        return respond(render_template("client/find.html", ref=ref, sent=True, error=str(exc)), 422)
    response = redirect(url_for("client.contract_view", token=raw), 303)
    _remember_device(response, contract)
    return response


def _remember_device(response, contract):
    response.set_cookie(
        client_access.device_cookie_name(contract), client_access.device_cookie_value(contract),
        max_age=client_access.DEVICE_DAYS * 86400, path="/c", httponly=True, samesite="Lax",
        secure=current_app.config["BASE_URL"].startswith("https://"),
    )


# ---- the contract --------------------------------------------------------

@bp.get("/<token>")
def contract_view(token: str):
    """The proposal (or the running contract) with what the client can do now."""
    contract = g.contract
    client_actions.record_view(contract)
    return _render("client/contract.html", actions=actions.contract_actions(contract, "client"),
                   milestone_actions=actions.milestone_actions(contract, "client"),
                   refunding=refunds.in_flight(contract),
                   revising=contract.state == ContractState.DRAFT,
                   escrow=funding.escrow_rows(contract), in_flight=funding.in_flight(contract),
                   acceptance=client_actions.acceptance_of_current(contract))


@bp.get("/<token>/verify")
def verify_form(token: str):
    """Ask for (or type) the emailed code before acting."""
    next_action = request.args.get("next", "")
    return _render("client/verify.html", next=next_action if next_action in ACTIONS else "",
                   email=client_access.masked_email(g.contract.client_email), error=None, sent=False)


@bp.post("/<token>/verify/send")
def verify_send(token: str):
    """Email a fresh 6-digit code to the contract's client."""
    next_action = request.form.get("next", "")
    error = None
    try:
        client_access.send_code(g.contract)
    except client_access.VerificationError as exc:
        error = str(exc)
    return _render("client/verify.html", 429 if error else 200, next=next_action, error=error,
                   email=client_access.masked_email(g.contract.client_email), sent=error is None)


@bp.post("/<token>/verify")
def verify_check(token: str):
    """Check the code; remember this device for the contract for 30 days."""
    next_action = request.form.get("next", "")
    try:
        client_access.check_code(g.contract, request.form.get("code", ""))
    except client_access.VerificationError as exc:
        return _render("client/verify.html", 422, next=next_action, error=str(exc), sent=True,
                       email=client_access.masked_email(g.contract.client_email))
    target = url_for(ACTIONS[next_action], token=token) if next_action in ACTIONS else \
        url_for("client.contract_view", token=token, _anchor="milestones")
    response = redirect(target, 303)
    _remember_device(response, g.contract)
    return response


# ---- replying to the proposal ---------------------------------------------

@bp.get("/<token>/changes", defaults={"kind": "changes"}, endpoint="changes_form")
@bp.get("/<token>/decline", defaults={"kind": "decline"}, endpoint="decline_form")
@verified_device()
def reply_form(token: str, kind: str):
    """Ask the freelancer for changes, or decline with a reason (verified devices only)."""
    # The revision the client read on the contract page (its links carry it), else the current one.
    revision = request.args.get("revision", type=int) or g.contract.revision
    return _render("client/message.html", action=kind, form={}, errors={}, revision=revision)


@bp.post("/<token>/changes", defaults={"kind": "changes"}, endpoint="changes_submit")
@bp.post("/<token>/decline", defaults={"kind": "decline"}, endpoint="decline_submit")
@verified_device()
def reply_submit(token: str, kind: str):
    """Send the reply; the contract shows "changes requested" or "declined"; the freelancer is told."""
    field, revision = client_actions.REPLIES[kind].field, request.form.get("revision", type=int)
    try:
        client_actions.reply(g.contract, kind, request.form.get(field, ""), revision=revision)
    except ValidationFailed as exc:
        # Told of a newer revision, the client may now reply to it (the notice links to it).
        revision = g.contract.revision if "revision" in exc.errors else revision
        return _render("client/message.html", 422, action=kind, form=request.form, errors=exc.errors,
                       revision=revision)
    except InvalidTransition as exc:
        return _render("client/message.html", 409, action=kind, form=request.form, errors={field: str(exc)},
                       revision=revision)
    return _view(token)


# ---- accepting and funding ------------------------------------------------

def _fund_page(status: int = 200, *, form=None, errors=None, attempt=None, changes=None):
    contract = g.contract
    gw = current_gateway()
    fragment = wants_fragment()
    return _render("client/partials/_fund.html" if fragment else "client/fund.html", status,
                   form=form or {}, errors=errors or {}, attempt=attempt, key=funding.new_key(),
                   changes=changes or [], quotes=funding.quotes(contract),
                   fundable=funding.fundable(contract) if funding.takes_payment(contract) else [],
                   in_flight=funding.in_flight(contract),
                   acceptance=client_actions.acceptance_of_current(contract),
                   client_token=None if gw.name == "test" else _client_token(gw, contract))


def _client_token(gw, contract):
    try:
        return gw.client_token(contract.currency)
    except Exception:  # the page still explains; the form says payments are unavailable
        current_app.logger.exception("could not get a Braintree client token")
        return ""


@bp.get("/<token>/fund")
@verified_device("fund")
def fund_form(token: str):
    """Sign (first time) and fund: the first milestone, all, or a chosen one."""
    if not funding.takes_payment(g.contract):
        return _view(token)
    return _fund_page()


@bp.post("/<token>/fund")
@verified_device("fund")
def fund_submit(token: str):
    """Record the signature, then charge; success goes to the receipt.

    Amounts and currency come from the server; the form names which
    milestones (``choice``), carries the quote its page showed for each
    choice (``quote_<choice>``: revision, milestones, amounts), the payment
    nonce and the idempotency key. A quote that no longer matches charges
    nothing: 409 and the page again, saying what changed.
    """
    contract, form = g.contract, request.form
    choice = form.get("choice", "")
    signature = {"signer_name": form.get("signer_name", ""), "agreed": form.get("agree") == "yes",
                 "ip": request.remote_addr or "", "user_agent": request.user_agent.string}
    try:
        attempt = funding.fund(contract, key=form.get("idempotency_key", ""), choice=choice,
                               shown=form.get(f"quote_{choice}", ""),
                               nonce=form.get("payment_method_nonce", ""), signature=signature)
    except PageOutdated as exc:
        # The client confirms again: keep what they typed, but not the tick that agreed to other terms.
        kept = {k: v for k, v in form.items() if k != "agree"}
        return _fund_page(409, form=kept, changes=exc.changes)
    except ValidationFailed as exc:
        return _fund_page(422, form=form, errors=exc.errors)
    except InvalidTransition as exc:
        return _fund_page(409, form=form, errors={"payment": str(exc)})
    return _after_attempt(token, attempt, form)


def _after_attempt(token, attempt, form):
    target = url_for("client.payment_status", token=token, attempt_id=attempt.id)
    # "returned": charged but given back; its page says so (the fund form would not)
    if attempt.status in ("succeeded", "pending", "unknown", "returned"):
        if wants_fragment():
            response = respond("", 200)
            response.headers["HX-Redirect"] = target
            return response
        return redirect(target, 303)
    # declined / rejected / failed: the same form, the reason, a fresh key to retry
    return _fund_page(422, form=form, attempt=attempt)


@bp.get("/<token>/payments/<attempt_id>")
def payment_status(token: str, attempt_id: str):
    """The receipt, or — while the outcome is unknown — a status that refreshes itself."""
    attempt = funding.attempt_for(g.contract, attempt_id)
    template = "client/partials/_payment_status.html" if wants_fragment() else "client/payment.html"
    return _render(template, attempt=attempt, method=funding.method_label(attempt))


@bp.get("/<token>/payments/by-key/<key>")
def payment_by_key(token: str, key: str):
    """Where the page sends a client whose request timed out in the browser."""
    attempt = funding.attempt_by_key(g.contract, key)
    if attempt is None:
        return _render("client/payment.html", attempt=None, method="")
    return redirect(url_for("client.payment_status", token=token, attempt_id=attempt.id), 303)


# ---- approving work -------------------------------------------------------

def _milestone(milestone_id: int):
    """The contract's milestone; a 404 (by the error handler) if it has no such one."""
    return contracts_svc.milestone_of(g.contract, milestone_id)


@bp.get("/<token>/milestones/<int:milestone_id>/approve")
@verified_device()
def approve_form(token: str, milestone_id: int):
    """Confirm the release: states exactly what is paid to the freelancer, now."""
    return _render("client/milestone_action.html", m=_milestone(milestone_id), action="approve",
                   form={}, errors={})


@bp.post("/<token>/milestones/<int:milestone_id>/approve")
@verified_device()
def approve(token: str, milestone_id: int):
    """Approve and release at once (no security period). Twice is the same as once."""
    m = _milestone(milestone_id)
    try:
        lifecycle.approve(g.contract, m.id)
    except InvalidTransition as exc:
        return _render("client/milestone_action.html", 409, m=m, action="approve", form={},
                       errors={"action": str(exc)})
    flash(f"Released {m.amount.format()} to {g.contract.member.name} for “{m.title}”. A receipt is on its way.",
          "success")
    return _view(token)


@bp.get("/<token>/milestones/<int:milestone_id>/changes")
@verified_device()
def milestone_changes_form(token: str, milestone_id: int):
    """Not satisfied yet: say what still needs doing."""
    return _render("client/milestone_action.html", m=_milestone(milestone_id), action="changes",
                   form={}, errors={})


@bp.post("/<token>/milestones/<int:milestone_id>/changes")
@verified_device()
def milestone_changes(token: str, milestone_id: int):
    """Send the milestone back to work; the auto-release clock stops."""
    m = _milestone(milestone_id)
    try:
        lifecycle.client_request_changes(g.contract, m.id, message=request.form.get("message", ""))
    except ValidationFailed as exc:
        return _render("client/milestone_action.html", 422, m=m, action="changes", form=request.form,
                       errors=exc.errors)
    except InvalidTransition as exc:
        return _render("client/milestone_action.html", 409, m=m, action="changes", form=request.form,
                       errors={"action": str(exc)})
    flash("Sent. The money stays in escrow until you approve.", "success")
    return _view(token)
