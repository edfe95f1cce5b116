"""The rules of a dispute over a milestone's money, in plain values.

A decision divides the milestone's amount ``A`` in two: ``release`` to the
freelancer (the fee is charged on that part only) and ``refund`` back to the
client; ``release + refund == A`` exactly, in minor units, so no cent is made
or lost whatever the currency's decimals.
"""
from __future__ import annotations

from dataclasses import dataclass

from .money import Money, MoneyError

RELEASE, REFUND, SPLIT = "release", "refund", "split"
OUTCOMES = {RELEASE: "released", REFUND: "refunded", SPLIT: "split"}
PARTIES = ("client", "freelancer")


class DisputeRefused(ValueError):
    """A decision or an offer the rules do not allow; the message says why, for the user."""


@dataclass(frozen=True)
class Decision:
    release_minor: int  # to the freelancer (before the fee)
    refund_minor: int   # back to the client

    @property
    def outcome(self) -> str:
        if self.refund_minor == 0:
            return OUTCOMES[RELEASE]
        return OUTCOMES[REFUND] if self.release_minor == 0 else OUTCOMES[SPLIT]


def decision(amount_minor: int, release_minor: int) -> Decision:
    """The two parts of ``amount_minor`` when ``release_minor`` goes to the freelancer."""
    if not 0 <= release_minor <= amount_minor:
        raise DisputeRefused("The freelancer's part must be between nothing and the milestone's amount.")
    return Decision(release_minor, amount_minor - release_minor)


def parse_split(text: str, amount: Money) -> Money:
    """The freelancer's part of a split, typed in major units: more than nothing, less than ``amount``."""
    try:
        part = Money.parse(text, amount.currency)
    except MoneyError as exc:
        raise DisputeRefused(str(exc)) from None
    if not 0 < part.minor < amount.minor:
        raise DisputeRefused(f"A split gives the freelancer more than nothing and less than {amount.format()}; "
                             f"to give all to one side, release or refund instead.")
    return part


def parse_in_question(text: str, amount: Money) -> Money:
    """The amount a dispute is about: the whole milestone when left empty, else up to it."""
    if not (text or "").strip():
        return amount
    try:
        part = Money.parse(text, amount.currency)
    except MoneyError as exc:
        raise DisputeRefused(str(exc)) from None
    if not 0 < part.minor <= amount.minor:
        raise DisputeRefused(f"The amount in question is at most the milestone's {amount.format()}.")
    return part


def other_party(party: str) -> str:
    return "freelancer" if party == "client" else "client"


def mediator_may(own_case: bool, kind: str, release_minor: int, client_offer: int | None) -> None:
    """May the owner decide so? In their own contract's dispute (a one-person shop) they may only
    refund the client in full or accept the client's own offer of a split; else DisputeRefused."""
    if not own_case or kind == REFUND or (kind == SPLIT and client_offer is not None
                                          and release_minor == client_offer):
        return
    raise DisputeRefused("This is your own contract: you cannot judge your own case. You may refund the "
                         "client in full, or accept the split the client offered.")
