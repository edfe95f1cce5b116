"""Rate limits on the doors a stranger can knock at: login, password resets, a contract by reference, and codes.

Flask-Limiter counts the attempts in ``RATELIMIT_STORAGE_URI`` (``memory://`` for one
process; several processes or servers share ``redis://…``). This module is the one home
of the numbers. Each door has a limit per IP address and one per account or contract
reference, the IP's first: an address over its own allowance is refused before it can
use up an account's or a contract's. The contract's own code limits (5 codes an hour,
5 tries then a 15-minute lock) are kept in the database by ``services.client_access``,
apart for the link and for the reference, so a stranger who knows only the reference
can never lock the client's link.
"""
from __future__ import annotations

from flask import request
from flask_limiter.util import get_remote_address
from flask_login import current_user

from ..extensions import limiter
from ..services import tokens

#: Failed logins from one IP address, and for one account (email) from anywhere.
LOGIN_PER_IP = "40 per hour"
LOGIN_PER_ACCOUNT = "20 per hour"
#: Password reset emails asked for, from one address and for one email (every request counts: each may send
#: an email); new passwords typed through reset links, from one address; wrong current passwords given when
#: changing a password, per member.
RESET_ASK_PER_IP = "20 per hour"
RESET_ASK_PER_ACCOUNT = "5 per hour"
RESET_SET_PER_IP = "40 per hour"
CHANGE_PER_MEMBER = "10 per hour"
#: ``/c``: code emails asked for by reference, from one address and for one reference.
FIND_PER_IP = "10 per hour"
FIND_PER_REF = "5 per hour"
#: ``/c/open``: codes typed with a reference, from one address and for one reference.
OPEN_PER_IP = "20 per hour"
OPEN_PER_REF = "10 per hour"
#: Code emails and code checks through a client's link, from one address (the contract's own
#: limits follow in the database).
LINK_CODES_PER_IP = "30 per hour"

FROM_HERE = "Too many attempts from your network."
LATEST_LINK = " If you have the latest email about the contract, use its link instead."


def _account() -> str:
    return "account:" + (request.form.get("email") or "").strip().lower()[:320]


def _reference() -> str:
    raw = request.form.get("ref") or ""
    return "ref:" + (tokens.normalise_ref(raw) or raw.strip().upper()[:40])


def _failed_login(response) -> bool:
    return response.status_code == 401


def _refused_form(response) -> bool:
    return response.status_code == 422


def _member() -> str:
    return f"member:{getattr(current_user, 'id', '')}"


def _in_order(*decorators):
    """Apply limit decorators so that they are checked in the order written (IP first).

    Flask-Limiter checks a view's limits of one window length in the order they were
    added, and a decorator list is applied bottom up: apply them first to last.
    """
    def decorate(view):
        for decorator in decorators:
            view = decorator(view)
        return view
    return decorate


login = _in_order(
    limiter.limit(LOGIN_PER_IP, key_func=get_remote_address, scope="login-ip", deduct_when=_failed_login,
                  error_message="Too many failed logins from your network."),
    limiter.limit(LOGIN_PER_ACCOUNT, key_func=_account, scope="login-account", deduct_when=_failed_login,
                  error_message="Too many failed logins for this account."),
)

password_forgot = _in_order(
    limiter.limit(RESET_ASK_PER_IP, key_func=get_remote_address, scope="reset-ask-ip", error_message=FROM_HERE),
    limiter.limit(RESET_ASK_PER_ACCOUNT, key_func=_account, scope="reset-ask-account",
                  error_message="Too many reset links were asked for this email. Use the latest one we sent."),
)

password_reset = limiter.limit(RESET_SET_PER_IP, key_func=get_remote_address, scope="reset-set-ip",
                               error_message=FROM_HERE)

password_change = limiter.limit(CHANGE_PER_MEMBER, key_func=_member, scope="password-change",
                                deduct_when=_refused_form,
                                error_message="Too many attempts to change your password. Log out and use "
                                              "“Forgot your password?” on the login page if you do not remember it.")

find_by_reference = _in_order(
    limiter.limit(FIND_PER_IP, key_func=get_remote_address, scope="find-ip", error_message=FROM_HERE),
    limiter.limit(FIND_PER_REF, key_func=_reference, scope="find-ref",
                  error_message="Too many codes were asked for with this reference." + LATEST_LINK),
)

open_by_reference = _in_order(
    limiter.limit(OPEN_PER_IP, key_func=get_remote_address, scope="open-ip", error_message=FROM_HERE),
    limiter.limit(OPEN_PER_REF, key_func=_reference, scope="open-ref",
                  error_message="Too many codes were tried with this reference." + LATEST_LINK),
)

#: One allowance for sending and checking codes through links, shared by both routes.
link_codes = limiter.shared_limit(LINK_CODES_PER_IP, scope="link-codes", key_func=get_remote_address,
                                  error_message=FROM_HERE)
