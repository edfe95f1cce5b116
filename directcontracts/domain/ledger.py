"""The escrow ledger's rules: balanced journals built from plain values.

Accounts: ``client`` (where funding comes from and refunds go back to),
``escrow`` (held for the client until released), ``freelancer`` (released,
net of fee), ``fees`` (the shop's processing fee). Every journal's entries sum
to zero; balances are sums of entries, never stored.
"""
from __future__ import annotations

from dataclasses import dataclass

CLIENT, ESCROW, FREELANCER, FEES = "client", "escrow", "freelancer", "fees"
ACCOUNTS = (CLIENT, ESCROW, FREELANCER, FEES)


class UnbalancedJournal(ValueError):
    """A journal whose entries do not sum to zero (a bug, never user input)."""


@dataclass(frozen=True)
class Entry:
    account: str
    milestone_id: int
    amount_minor: int  # positive = into the account


def balanced(entries: list[Entry]) -> list[Entry]:
    """Return ``entries`` if they sum to zero and use known accounts, else raise."""
    if sum(e.amount_minor for e in entries) != 0:
        raise UnbalancedJournal(f"entries sum to {sum(e.amount_minor for e in entries)}")
    if any(e.account not in ACCOUNTS for e in entries):
        raise UnbalancedJournal("unknown account")
    return entries


def funding(items: list[tuple[int, int]]) -> list[Entry]:
    """Client → escrow for each (milestone id, amount)."""
    entries = []
    for milestone_id, amount in items:
        if amount <= 0:
            raise UnbalancedJournal("funding amounts must be positive")
        entries += [Entry(CLIENT, milestone_id, -amount), Entry(ESCROW, milestone_id, amount)]
    return balanced(entries)


def release(milestone_id: int, gross: int, fee: int) -> list[Entry]:
    """Escrow → freelancer (gross − fee) and escrow → fees (fee)."""
    if gross <= 0 or not 0 <= fee <= gross:
        raise UnbalancedJournal("a release needs 0 <= fee <= gross and gross > 0")
    return balanced([Entry(ESCROW, milestone_id, -gross), Entry(FREELANCER, milestone_id, gross - fee),
                     Entry(FEES, milestone_id, fee)])


def refund(milestone_id: int, amount: int) -> list[Entry]:
    """Escrow → client."""
    if amount <= 0:
        raise UnbalancedJournal("refund amounts must be positive")
    return balanced([Entry(ESCROW, milestone_id, -amount), Entry(CLIENT, milestone_id, amount)])
