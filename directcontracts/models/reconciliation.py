"""What each comparison of the books with the gateway's own records found (``services.gateway_audit``)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .base import utcnow


class ReconciliationRun(db.Model):
    """One run of ``gateway_audit``: its period, whether everything matched, and what did not.

    Kept so that the owner's page shows the last result without calling the
    gateway on every view. ``problems`` and ``settled`` are lists of plain
    sentences; ``counts`` what was compared; ``totals`` one row per currency
    (minor units): charged and refunded at the gateway against funded and
    refunded in the ledger. ``reachable`` is False when the gateway could not
    be searched (then nothing was compared, and the run is not ``ok``).
    """

    __tablename__ = "reconciliation_run"

    id: Mapped[int] = mapped_column(primary_key=True)
    ran_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    since: Mapped[datetime] = mapped_column()
    until: Mapped[datetime] = mapped_column()
    ok: Mapped[bool] = mapped_column()
    reachable: Mapped[bool] = mapped_column(default=True)
    problems: Mapped[list] = mapped_column(JSON, default=list)
    settled: Mapped[list] = mapped_column(JSON, default=list)
    counts: Mapped[dict] = mapped_column(JSON, default=dict)
    totals: Mapped[list] = mapped_column(JSON, default=list)
