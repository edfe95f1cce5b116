"""The thread's POST, the same on both portals: one message."""
from __future__ import annotations

from ...domain import rules
from . import Form, text


class MessageForm(Form):
    """``POST /contracts/<id>/messages`` (freelancer) and ``POST /c/<token>/messages`` (client)."""

    body = text("Your message", rules.THREAD_MESSAGE, area=True)
