"""``flask backup`` / ``flask restore``: a consistent copy taken while another thread moves money, restored
into an empty database whose ledger checks out; the newest N kept; a non-empty database refused.

Runs on SQLite (the online backup API) and on PostgreSQL (pg_dump -Fc / pg_restore, into a database
of its own named after the suite's) alike.
"""
from __future__ import annotations

import contextvars
import os
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from directcontracts import create_app
from directcontracts.models import Journal
from directcontracts.services import backup
from tests.services.conftest import fund_as_shown

STRONG_KEY = "b" * 8 + "a1c9e07f3d5b28e6f4a0c7d1e9b3f58a2c4e6d80"


@pytest.fixture
def empty_database(app, tmp_path):
    """The URL of a new, empty database of the suite's kind; dropped after the test."""
    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    if url.get_backend_name() == "sqlite":
        yield str(url.set(database=str(tmp_path / "restored.sqlite3")))
        return
    name = f"{url.database}_restored"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield url.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def other_app(url: str):
    """The app as a second installation would run it, on ``url``."""
    return create_app({"TESTING": True, "SECRET_KEY": STRONG_KEY, "SQLALCHEMY_DATABASE_URI": url,
                       "HEALTH_REFRESH_MINUTES": 0})


def invoke(other, *args):
    """Run a command of ``other`` in its own app context (in an empty context: the suite app's is pushed)."""
    def run():
        with other.app_context():
            return other.test_cli_runner().invoke(args=list(args))

    return contextvars.Context().run(run)


def journals(db) -> int:
    return db.session.scalar(db.select(sa.func.count(Journal.id)))


def make_contracts(app, make_member, n: int) -> list[int]:
    """``n`` sent and signed contracts of three milestones each (as tests/services' ``accepted_contract``)."""
    from directcontracts.services import client_actions, drafts, milestone_editor, proposals

    member, ids = make_member(), []
    for i in range(n):
        with app.test_request_context():
            c = drafts.create_draft(member, client_name="Carla Client", client_email=f"carla{i}@client-co.com")
            drafts.update_terms(c, title=f"Website {i}", scope="", currency="USD", kind="milestones")
            for amount in ("1000", "2000", "500"):
                milestone_editor.add_milestone(c, {"title": f"Part {amount}", "amount": amount})
            proposals.send(c, member)
            client_actions.accept(c, signer_name="Carla Client", agreed=True, ip="127.0.0.1", user_agent="pytest")
            ids.append(c.id)
    return ids


def test_backup_during_writes_restores_with_a_sound_ledger(app, db, runner, make_member, tmp_path,
                                                           empty_database, concurrent):
    contracts = make_contracts(app, make_member, 10)
    writes = [(cid, choice) for choice in ("first", "all") for cid in contracts]
    started, done, errors, written = threading.Event(), threading.Event(), [], []

    def writer():
        try:
            for cid, choice in writes:
                fund_as_shown(app, cid, choice, key=f"{choice}-{cid}")
                written.append(cid)
                if len(written) == 3:
                    started.set()
                if done.is_set() and len(written) >= after + 2:
                    return
        except Exception as exc:  # noqa: BLE001 — reported by the test
            errors.append(exc)
            started.set()

    after = len(writes)
    thread = threading.Thread(target=writer)
    thread.start()
    assert started.wait(60)
    result = runner.invoke(args=["backup", str(tmp_path / "backups"), "--keep", "3"])
    after = len(written)
    done.set()
    thread.join(60)
    assert not errors, errors
    assert result.exit_code == 0, result.output
    assert len(written) > after, "the writer went on after the backup"
    db.session.remove()
    total = journals(db)

    (taken,) = backup.backups(tmp_path / "backups")
    restored = other_app(empty_database)
    result = invoke(restored, "restore", str(taken.path))
    assert result.exit_code == 0, result.output
    check = invoke(restored, "ledger", "check")
    assert check.exit_code == 0, check.output

    def count():
        with restored.app_context():
            try:
                return journals(db)
            finally:
                db.session.remove()
                db.engine.dispose()

    in_backup = contextvars.Context().run(count)
    assert 3 <= in_backup < total  # a moment between the writer's third payment and its last

    refused = invoke(restored, "restore", str(taken.path))
    assert refused.exit_code == 1
    message = refused.output.strip().splitlines()[-1]
    assert message.startswith("Error: The database already has") and "nothing was restored" in message
    assert message.count(". ") == 0 and "create an empty database" in message  # one sentence


def test_keep_the_newest_n(app, runner, tmp_path):
    for _ in range(4):  # likely within one second: each later one must still count as newer
        result = runner.invoke(args=["backup", str(tmp_path), "--keep", "2"])
        assert result.exit_code == 0, result.output
        newest = Path(result.output.split("Backed up to ")[1].split(" (")[0])
        assert newest.exists() and backup.backups(tmp_path)[-1].path == newest
    names = sorted(os.listdir(tmp_path))
    assert len(names) == 2 and all(backup.NAME_RE.match(n) for n in names)
    old = tmp_path / "directcontracts-20200101T000000Z.sqlite3"
    old.write_bytes(b"")
    backup.prune(tmp_path, 2)
    assert not old.exists() and len(os.listdir(tmp_path)) == 2
    (tmp_path / "notes.txt").write_text("not a backup: left alone")
    backup.prune(tmp_path, 1)
    assert sorted(os.listdir(tmp_path))[-1] == "notes.txt" and len(os.listdir(tmp_path)) == 2


def test_restore_refuses_what_is_not_a_backup_of_this_kind(app, tmp_path, empty_database):
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"hello")
    with pytest.raises(backup.BackupError, match="is not a backup made by flask backup"):
        backup.restore(junk, empty_database)
    other = tmp_path / ("x.pgdump" if make_url(empty_database).get_backend_name() == "sqlite" else "x.sqlite3")
    other.write_bytes(backup.PGDUMP_MAGIC if other.suffix == ".pgdump" else backup.SQLITE_MAGIC)
    with pytest.raises(backup.BackupError, match="restore it into a"):
        backup.restore(other, empty_database)
    assert backup.table_names(empty_database) == []
