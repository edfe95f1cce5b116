"""Fixtures for the operations tests (doctor, health panel, backups): a database stamped at a revision."""
from __future__ import annotations

import pytest
from alembic.script import ScriptDirectory

from directcontracts.extensions import db as _db


def head(app) -> str:
    """The migrations' single head."""
    return ScriptDirectory(app.extensions["migrate"].directory).get_current_head()


@pytest.fixture
def stamp(app, db):
    """``stamp(revision)``: the test database says it is at ``revision`` (the suite builds it with create_all,
    so it has no ``alembic_version`` of its own); the table is dropped after the test."""

    def write(revision: str | None = None) -> None:
        _db.session.execute(_db.text("CREATE TABLE IF NOT EXISTS alembic_version "
                                     "(version_num VARCHAR(32) NOT NULL PRIMARY KEY)"))
        _db.session.execute(_db.text("DELETE FROM alembic_version"))
        _db.session.execute(_db.text("INSERT INTO alembic_version (version_num) VALUES (:v)"),
                            {"v": revision or head(app)})
        _db.session.commit()

    yield write
    _db.session.rollback()
    _db.session.execute(_db.text("DROP TABLE IF EXISTS alembic_version"))
    _db.session.commit()
