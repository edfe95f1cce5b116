"""Disputes on this portal (being built: issue 9)."""
from __future__ import annotations


def page_context(contract) -> dict:
    """What the contract page needs to show its disputes (filled in by the dispute routes)."""
    return {}
