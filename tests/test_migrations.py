"""Migrations: one head, and upgrade builds the schema on an empty database."""
import os
import subprocess
import sys
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory

ROOT = Path(__file__).resolve().parent.parent


def test_single_head():
    config = Config(str(ROOT / "migrations" / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    assert len(ScriptDirectory.from_config(config).get_heads()) == 1


def test_upgrade_on_empty_database_matches_models(tmp_path):
    url = os.environ.get("TEST_DATABASE_URL")
    env = dict(os.environ, DEMO="1")
    if url:
        # a throwaway schema on PostgreSQL so the suite's own tables are untouched
        import sqlalchemy as sa
        from directcontracts.config import normalise_db_url
        url = normalise_db_url(url)
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            conn.execute(sa.text("DROP SCHEMA IF EXISTS migration_test CASCADE"))
            conn.execute(sa.text("CREATE SCHEMA migration_test"))
        env["DATABASE_URL"] = url + ("&" if "?" in url else "?") + "options=-csearch_path%3Dmigration_test"
    else:
        env["DATABASE_URL"] = "sqlite:///" + str(tmp_path / "empty.sqlite3")
    flask = [sys.executable, "-m", "flask", "--app", "app"]
    up = subprocess.run(flask + ["db", "upgrade"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert up.returncode == 0, up.stderr
    check = subprocess.run(flask + ["db", "check"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    if url:
        with engine.begin() as conn:
            conn.execute(sa.text("DROP SCHEMA migration_test CASCADE"))
        engine.dispose()
