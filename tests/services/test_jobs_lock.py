"""``jobs run-due`` runs one at a time across machines: a PostgreSQL advisory lock (services/jobs.py)."""
from __future__ import annotations

import pytest

from directcontracts.services import jobs


def test_a_second_run_skips_while_one_holds_the_lock(app, db, runner):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("the lock is PostgreSQL's (SQLite is one machine)")
    with jobs.run_lock() as first:
        assert first
        with jobs.run_lock() as second:
            assert not second  # another connection, as another machine would have
        assert jobs.run_due_alone() is None
        result = runner.invoke(args=["jobs", "run-due"])
        assert result.exit_code == 0 and "skipped: another jobs run-due is under way" in result.output
    result = runner.invoke(args=["jobs", "run-due"])  # released: the next run works
    assert result.exit_code == 0 and "skipped" not in result.output and "auto released" in result.output


def test_on_sqlite_every_run_works(app, db, runner):
    if db.engine.dialect.name == "postgresql":
        pytest.skip("SQLite only")
    with jobs.run_lock() as first:
        assert first
        result = runner.invoke(args=["jobs", "run-due"])
        assert result.exit_code == 0 and "auto released" in result.output
