"""One item of a background run at a time: a failure is named, rolled back, and never stops the rest."""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import timedelta

from ..extensions import db
from ..redaction import failure

log = logging.getLogger(__name__)


def isolated(failures: list[str], what: str, work: Callable[[], object]) -> bool:
    """Run ``work()``; any exception is logged, rolled back and appended to ``failures`` (redacted).

    Returns whether the work finished. Used by ``jobs run-due`` and the
    reconciliations, so one bad row never stops reminders, email or the
    other payments of the shop.
    """
    try:
        work()
    except Exception as exc:  # deliberately broad: a bug in one item must not stop the run
        db.session.rollback()
        log.exception("%s failed", what)
        failures.append(failure(what, exc))
        return False
    return True


def each(ids: Iterable[int], failures: list[str], what: str, work: Callable[[int], bool]) -> int:
    """``work(id)`` for every id, each ``isolated`` (``what`` is formatted with the id); how many returned True."""
    done = 0
    for item in ids:
        outcome: list[bool] = []
        if isolated(failures, what.format(item), lambda: outcome.append(work(item))) and outcome[0]:
            done += 1
    return done


def backoff(tries: int, first: timedelta, cap: timedelta) -> timedelta:
    """The wait before the next try after ``tries`` that changed nothing: first, 2×first, 4×first … up to cap."""
    return min(first * 2 ** min(max(tries - 1, 0), 20), cap)


class ReconcileFailed(Exception):
    """Some items of a run failed (the others were done); the message names them."""


def raise_uncollected(failures: list[str] | None, errors: list[str]) -> None:
    """For a caller that passed no ``failures`` list to collect them in: raise the run's errors at its end."""
    if failures is None and errors:
        raise ReconcileFailed("; ".join(errors))
