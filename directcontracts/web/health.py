"""``/healthz``: for a load balancer, a monitor, and ``flask doctor --check-url`` (no login, no session)."""
from __future__ import annotations

from flask import Blueprint
from sqlalchemy.exc import SQLAlchemyError

from ..extensions import db

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    """Anyone: 200 "ok" when this app answers and reaches its database, 503 otherwise. Says nothing else."""
    try:
        db.session.execute(db.text("SELECT 1"))
    except SQLAlchemyError:
        db.session.rollback()
        return "database unreachable", 503, {"Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-store"}
    return "ok", 200, {"Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-store"}
