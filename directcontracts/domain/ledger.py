"""The escrow ledger's rules: balanced journals built from plain values.

Accounts: ``client`` (where funding comes from and refunds go back to),
``escrow`` (held for the client until released), ``freelancer`` (released,
net of fee), ``fees`` (the shop's processing fee), ``shop`` (the shop's own
money: only a chargeback beyond what the client still had paid touches it).
Every journal's entries sum to zero; balances are sums of entries, never stored.
"""
from __future__ import annotations

from dataclasses import dataclass

CLIENT, ESCROW, FREELANCER, FEES, SHOP = "client", "escrow", "freelancer", "fees", "shop"
ACCOUNTS = (CLIENT, ESCROW, FREELANCER, FEES, SHOP)


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
    """Escrow → freelancer (gross − fee) and escrow → fees (fee).

    A part that is zero (a fee that rounds to nothing, a 0% shop fee; a 100% fee) has no entry: the
    ledger holds no zero entries (``amount_nonzero``).
    """
    if gross <= 0 or not 0 <= fee <= gross:
        raise UnbalancedJournal("a release needs 0 <= fee <= gross and gross > 0")
    entries = [Entry(ESCROW, milestone_id, -gross)]
    entries += [Entry(FREELANCER, milestone_id, gross - fee)] if gross != fee else []
    entries += [Entry(FEES, milestone_id, fee)] if fee else []
    return balanced(entries)


def refund(milestone_id: int, amount: int) -> list[Entry]:
    """Escrow → client."""
    if amount <= 0:
        raise UnbalancedJournal("refund amounts must be positive")
    return balanced([Entry(ESCROW, milestone_id, -amount), Entry(CLIENT, milestone_id, amount)])


@dataclass(frozen=True)
class Paid:
    """What is left, on one milestone a charge paid for, to take back from: still in escrow, and released
    (gross, and the fee part of it), net of anything taken back before."""

    milestone_id: int
    in_escrow: int
    released: int
    fee: int


def take_back(paid: list[Paid], amount: int) -> list[Entry]:
    """The client gets ``amount`` back outside escrow's normal ways (a lost chargeback, a payment whose
    settlement was declined): → client, taken

    1. from escrow, whole milestones only: the set of milestones in escrow whose money comes closest to
       ``amount`` without passing it (a milestone is never left half in escrow when it can be helped);
    2. then from what was released — the freelancer's part and the fee in proportion, so the freelancer
       gives back what they were credited and the shop its fee;
    3. then from what is left in escrow, even part of a milestone (the owner then has to settle it);
    4. and only for what nothing covers (the client was refunded already), from the shop's own money.
    """
    if amount <= 0:
        raise UnbalancedJournal("a take-back must be positive")
    entries: list[Entry] = []
    escrow = {p.milestone_id: max(p.in_escrow, 0) for p in paid}
    left = amount
    for p in _closest_whole(paid, amount):
        entries += [Entry(ESCROW, p.milestone_id, -p.in_escrow), Entry(CLIENT, p.milestone_id, p.in_escrow)]
        escrow[p.milestone_id] = 0
        left -= p.in_escrow
    for p in paid:
        part = min(left, max(p.released, 0))
        if part:
            # The fee's share of the part, rounded half up; all of it when the whole release goes.
            fee = p.fee if part == p.released else (2 * p.fee * part + p.released) // (2 * p.released)
            entries += [Entry(CLIENT, p.milestone_id, part)]
            entries += [Entry(FREELANCER, p.milestone_id, -(part - fee))] if part != fee else []
            entries += [Entry(FEES, p.milestone_id, -fee)] if fee else []
            left -= part
    for p in paid:
        part = min(left, escrow[p.milestone_id])
        if part:
            entries += [Entry(ESCROW, p.milestone_id, -part), Entry(CLIENT, p.milestone_id, part)]
            left -= part
    if left:
        first = paid[0].milestone_id if paid else 0
        entries += [Entry(SHOP, first, -left), Entry(CLIENT, first, left)]
    return balanced(entries)


def _closest_whole(paid: list[Paid], amount: int) -> list[Paid]:
    """The milestones in escrow whose whole money sums closest to ``amount`` without passing it (the
    earliest such set; with more than 15 milestones in escrow, greedily in order)."""
    held = [p for p in paid if p.in_escrow > 0]
    if len(held) > 15:
        chosen, total = [], 0
        for p in held:
            if total + p.in_escrow <= amount:
                chosen.append(p)
                total += p.in_escrow
        return chosen
    best, best_total = 0, 0
    for mask in range(1, 1 << len(held)):
        total = sum(p.in_escrow for i, p in enumerate(held) if mask >> i & 1)
        if best_total < total <= amount:
            best, best_total = mask, total
    return [p for i, p in enumerate(held) if best >> i & 1]
