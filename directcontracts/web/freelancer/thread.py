"""The contract's message thread on this portal (being built: issue 9)."""
from __future__ import annotations


def page_context(contract) -> dict:
    """What the contract page needs to show the thread (filled in by the thread's routes)."""
    return {}
