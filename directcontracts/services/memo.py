"""A page's read-only questions asked more than once in one request (the contract page asks "which refunds
are in flight?" for the buttons and again for the milestones): answered once, per request.

Only inside a request (a CLI job or a test's app context asks the database each time), and forgotten at
any write through the session (a flush, an UPDATE/DELETE/INSERT statement, a commit or a rollback) and
at any lock or fresh read (``SELECT … FOR UPDATE``, ``populate_existing``: services.locks), so an answer
is never older than the request's own last change, and a check made under a lock is made afresh.
"""
from __future__ import annotations

from functools import wraps

from flask import has_request_context, request
from sqlalchemy import event
from sqlalchemy.orm import Session

_ATTR = "_dc_query_memo"


def _ident(value):
    """A model row by its class and id (two loads of one row are one question); anything else as is."""
    ident = getattr(value, "id", None)
    return (type(value).__name__, ident) if ident is not None and hasattr(value, "__table__") else value


def per_request(fn):
    """Memoise ``fn`` (positional arguments: rows or hashable values) for the rest of the request."""
    name = (fn.__module__, fn.__qualname__)

    @wraps(fn)
    def wrapper(*args):
        if not has_request_context():
            return fn(*args)
        # the request object itself, looked up once (a page asks a hundred times: a list's times, say)
        current = request._get_current_object()
        memo = current.__dict__.get(_ATTR)
        if memo is None:
            memo = current.__dict__[_ATTR] = {}
        key = name + tuple([_ident(a) for a in args]) if args else name
        try:
            return memo[key]
        except KeyError:
            memo[key] = answer = fn(*args)
            return answer
    return wrapper


def forget(*_args) -> None:
    """Drop the request's answers (a write happened)."""
    if has_request_context() and getattr(request, _ATTR, None):
        setattr(request, _ATTR, {})


def _on_execute(state) -> None:
    if (not state.is_select or getattr(state.statement, "_for_update_arg", None) is not None
            or state.execution_options.get("populate_existing")):
        forget()


for _name in ("after_flush", "after_commit", "after_rollback", "after_soft_rollback"):
    event.listen(Session, _name, forget)
event.listen(Session, "do_orm_execute", _on_execute)
