"""What the operations side keeps about itself: the last jobs run, the last health check (``services.health``)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .base import utcnow


class OpsRecord(db.Model):
    """One row per name, overwritten: ``jobs.run_due`` (when the last ``jobs run-due`` finished) and
    ``health`` (the last health check's results, for the owner's settings page).

    ``at`` is the real clock's time of the record (never a ``--now``); ``data`` is plain JSON.
    """

    __tablename__ = "ops_record"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    data: Mapped[dict] = mapped_column(JSON, default=dict)
