"""What the client was shown before paying: a quote the fund form carries back.

A client acts on the page they read. The fund form therefore carries, for
each funding choice, the revision of the proposal on screen and the exact
milestones with their amounts (``r2;12:30000,13:50000;USD``). The server
recomputes the quote from the current state and charges only when the two
are equal; the amount charged always comes from the server. When they
differ, :func:`changes` says in plain words what changed, so the client can
confirm the new amounts.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .money import Money

_QUOTE = re.compile(r"^r(\d{1,9});((?:\d{1,18}:\d{1,19})(?:,\d{1,18}:\d{1,19})*);([A-Z]{3})$")


@dataclass(frozen=True)
class Quote:
    """A proposal revision and the (milestone id, amount in minor units) pairs a payment covers."""

    revision: int
    items: tuple[tuple[int, int], ...]
    currency: str

    @property
    def total(self) -> Money:
        return Money(sum(amount for _, amount in self.items), self.currency)

    def encode(self) -> str:
        items = ",".join(f"{mid}:{amount}" for mid, amount in self.items)
        return f"r{self.revision};{items};{self.currency}"

    @classmethod
    def decode(cls, text: str | None) -> "Quote | None":
        """The quote a form carried, or None when it is missing or garbled."""
        match = _QUOTE.match((text or "").strip())
        if match is None:
            return None
        items = tuple((int(mid), int(amount)) for mid, amount in
                      (pair.split(":") for pair in match.group(2).split(",")))
        return cls(int(match.group(1)), items, match.group(3))


def changes(shown: Quote | None, current: Quote, titles: dict[int, str]) -> list[str]:
    """What differs between the quote a client saw and the current one, in plain words.

    ``titles`` names every milestone of the contract by id (current titles).
    """
    if shown is None:
        return ["This page was out of date."]
    out: list[str] = []
    if shown.revision != current.revision:
        out.append(f"The freelancer sent revision {current.revision} of the proposal; you opened "
                   f"revision {shown.revision}. Read it again before you sign.")
    before, after = dict(shown.items), dict(current.items)

    def name(mid: int) -> str:
        return f"“{titles.get(mid, 'A milestone')}”"

    for mid, amount in shown.items:
        if mid not in after:
            out.append(f"{name(mid)} ({Money(amount, current.currency).format()}) is no longer part of this payment.")
        elif after[mid] != amount:
            out.append(f"{name(mid)} changed from {Money(amount, current.currency).format()} to "
                       f"{Money(after[mid], current.currency).format()}.")
    for mid, amount in current.items:
        if mid not in before:
            out.append(f"{name(mid)} ({Money(amount, current.currency).format()}) was added.")
    if shown.currency != current.currency:
        out.append(f"The currency changed from {shown.currency} to {current.currency}.")
    elif current.items and shown.total != current.total:
        out.append(f"The total is now {current.total.format()} (it was {shown.total.format()}).")
    return out or ["This page was out of date."]
