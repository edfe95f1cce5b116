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


FIRST = "066a28a3595c"

#: Rows a shop had at the first revision, in that revision's schema, with plain SQL (the models have moved on).
FIRST_REVISION_ROWS = [
    ("member", dict(id=1, email="olive@example.com", name="Olive Owner", password_hash="pbkdf2:sha256:1$x$y",
                    is_owner=True, created_at="2026-01-02 09:00:00")),
    ("member", dict(id=2, email="fran@example.com", name="Fran Freelancer", password_hash="pbkdf2:sha256:1$x$z",
                    is_owner=False, created_at="2026-01-03 09:00:00")),
    ("shop_settings", dict(id=1, shop_name="Olive's Studio", fee_bps=250, auto_release_days=14,
                           min_amount="10.000", max_amount="50000.000")),
    ("contract", dict(id=1, ref="DC-AAAA1111", member_id=2, client_name="Carla Client",
                      client_email="carla@client-co.com", client_company="Client Co", title="Website redesign",
                      scope="Pages, CMS, launch.", currency="USD", kind="milestones", state="sent", fee_bps=250,
                      revision=1, created_at="2026-01-05 10:00:00", sent_at="2026-01-05 11:00:00",
                      last_activity_at="2026-01-05 11:00:00")),
    ("contract", dict(id=2, ref="DC-BBBB2222", member_id=2, client_name="Dan Draft", client_email="dan@example.org",
                      client_company="", title="Logo", scope="", currency="EUR", kind="single", state="draft",
                      fee_bps=250, revision=0, created_at="2026-01-06 10:00:00", sent_at=None,
                      last_activity_at="2026-01-06 10:00:00")),
    ("milestone", dict(id=1, contract_id=1, position=1, title="Design", amount_minor=100000,
                       due_date="2026-02-01", description="Mock-ups", state="pending",
                       created_at="2026-01-05 10:00:00")),
    ("milestone", dict(id=2, contract_id=1, position=2, title="Build", amount_minor=250050, due_date=None,
                       description="", state="pending", created_at="2026-01-05 10:00:00")),
    ("milestone", dict(id=3, contract_id=2, position=1, title="Logo", amount_minor=40000, due_date=None,
                       description="", state="pending", created_at="2026-01-06 10:00:00")),
    ("client_token", dict(id=1, contract_id=1, token_hash="a" * 64, created_at="2026-01-05 11:00:00",
                          revoked_at=None)),
    ("contract_revision", dict(id=1, contract_id=1, number=1, snapshot='{"title": "Website redesign"}',
                               created_at="2026-01-05 11:00:00")),
    ("timeline_event", dict(id=1, contract_id=1, kind="sent", actor="freelancer", message="Sent to the client.",
                            created_at="2026-01-05 11:00:00")),
    ("notification", dict(id=1, member_id=2, contract_id=1, message="Carla opened the contract.",
                          created_at="2026-01-05 12:00:00", read_at=None)),
    ("outbox_email", dict(id=1, to_addr="carla@client-co.com", subject="Website redesign: a contract to sign",
                          body_text="Open it here.", body_html="<p>Open it here.</p>", contract_id=1,
                          created_at="2026-01-05 11:00:00", attempts=1, claimed_at=None,
                          sent_at="2026-01-05 11:00:05", transport="smtp", last_error=None,
                          next_attempt_at="2026-01-05 11:00:00")),
]


def _throwaway_database(tmp_path, schema: str):
    """(env for ``flask``, SQLAlchemy engine, cleanup) on an empty SQLite file or PostgreSQL schema."""
    import sqlalchemy as sa
    from directcontracts.config import normalise_db_url
    env = dict(os.environ, DEMO="1", HEALTH_REFRESH_MINUTES="0")
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        url = normalise_db_url(url)
        admin = sa.create_engine(url)
        with admin.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
            conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
        url = url + ("&" if "?" in url else "?") + f"options=-csearch_path%3D{schema}"

        def cleanup():
            with admin.begin() as conn:
                conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
            admin.dispose()
    else:
        url = "sqlite:///" + str(tmp_path / f"{schema}.sqlite3")

        def cleanup():
            pass
    env["DATABASE_URL"] = url
    return env, sa.create_engine(url), cleanup


def test_upgrade_from_the_first_revision_keeps_the_data(tmp_path):
    """A shop created by the first migration, with members, contracts and milestones in it, upgrades to
    head: every row is still there with its values, and the ledger and the jobs work on it."""
    import sqlalchemy as sa
    env, engine, cleanup = _throwaway_database(tmp_path, "upgrade_test")
    flask = [sys.executable, "-m", "flask", "--app", "app"]

    def run(*args):
        return subprocess.run(flask + list(args), cwd=ROOT, env=env, capture_output=True, text=True)

    try:
        first = run("db", "upgrade", FIRST)
        assert first.returncode == 0, first.stderr
        with engine.begin() as conn:
            for table, row in FIRST_REVISION_ROWS:
                columns = ", ".join(row)
                conn.execute(sa.text(f"INSERT INTO {table} ({columns}) VALUES "
                                     f"({', '.join(':' + c for c in row)})"), row)
        up = run("db", "upgrade")
        assert up.returncode == 0, up.stderr
        with engine.connect() as conn:
            for table, row in FIRST_REVISION_ROWS:
                kept = conn.execute(sa.text(f"SELECT {', '.join(row)} FROM {table} WHERE id = :id"),
                                    {"id": row["id"]}).mappings().one()
                for column, value in row.items():
                    got = kept[column]
                    got = got if got is None or isinstance(got, (int, bool)) else str(got)
                    want = value
                    if column in ("min_amount", "max_amount"):
                        got, want = float(got), float(value)
                    elif column == "is_owner":
                        got = bool(got)
                    assert got == want, (table, row["id"], column, got, want)
            later = conn.execute(sa.text("SELECT closed_at FROM contract WHERE id = 1")).scalar()
            assert later is None  # added by a later revision: an open contract has not finished
        for command in (["db", "check"], ["ledger", "check"], ["jobs", "run-due"], ["doctor"]):
            done = run(*command)
            if command == ["doctor"]:  # not a real site (no SMTP, no backups…), but the database is right
                assert "OK    database: reachable, migrated" in done.stdout, done.stdout + done.stderr
            else:
                assert done.returncode == 0, (command, done.stdout, done.stderr)
    finally:
        engine.dispose()
        cleanup()
