"""Compatibility only: the web layer's old name for the contract use cases.

The use cases now live in one module per story — ``drafts`` (create a draft,
client details, terms), ``milestone_editor``, ``proposals`` (send, revise,
withdraw) and ``contract_queries`` (loading, listing, summaries). New code
imports those; this module goes once web/ does too.
"""
from __future__ import annotations

from .contract_queries import Page, get_for_member, list_for_member, milestone_of, money_totals, signed_ids, summary_of
from .drafts import create_draft, limits, preview_summary, update_client, update_terms
from .milestone_editor import add_milestone, move_milestone, remove_milestone, update_milestone
from .proposals import readiness, revise, send, withdraw

__all__ = [
    "Page", "get_for_member", "list_for_member", "milestone_of", "money_totals", "signed_ids", "summary_of",
    "create_draft", "limits", "preview_summary", "update_client", "update_terms",
    "add_milestone", "move_milestone", "remove_milestone", "update_milestone",
    "readiness", "revise", "send", "withdraw",
]
