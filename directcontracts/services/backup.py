"""Backups and restores of the whole database, taken while the app runs (``flask backup`` / ``flask restore``).

SQLite: the online backup API (``sqlite3.Connection.backup``) copies every page
in one step under a read transaction, so the copy is one consistent moment
even while other processes write (they wait a few milliseconds for it, as they
wait for each other). PostgreSQL: ``pg_dump -Fc`` reads in one repeatable-read
snapshot; ``pg_restore`` loads it. A file is written under a temporary name and
renamed when complete, so a backup in ``BACKUP_DIR`` is never half a file.

Names carry the UTC time they were taken (``directcontracts-20261127T201500Z.sqlite3``
or ``.pgdump``; a second one in the same second ends ``…Z-1``): ``keep`` and the
doctor's "backups recent" check order them by that time, not by the file's.

A restore goes into an EMPTY database only: loading a backup over live tables
would mix two states of the books.
"""
from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

PREFIX = "directcontracts-"
NAME_RE = re.compile(r"^directcontracts-(\d{8}T\d{6}Z)(?:-(\d+))?\.(sqlite3|pgdump)$")
SQLITE_MAGIC = b"SQLite format 3\x00"
PGDUMP_MAGIC = b"PGDMP"
DEFAULT_KEEP = 14


class BackupError(Exception):
    """The backup or restore could not be done; the message says why in one sentence."""


@dataclass(frozen=True)
class BackupFile:
    """A backup in a directory: its path, when it was taken (from its name) and its number within that second."""

    path: Path
    taken_at: datetime
    number: int = 0


def backups(directory: str | os.PathLike) -> list[BackupFile]:
    """The backups in ``directory``, oldest first (an absent directory has none)."""
    folder = Path(directory)
    if not folder.is_dir():
        return []
    found = []
    for entry in folder.iterdir():
        match = NAME_RE.match(entry.name)
        if match and entry.is_file():
            found.append(BackupFile(entry, datetime.strptime(match.group(1), "%Y%m%dT%H%M%SZ"),
                                    int(match.group(2) or 0)))
    return sorted(found, key=lambda b: (b.taken_at, b.number))


def _kind(url: str) -> str:
    backend = make_url(url).get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise BackupError(f"Backups support SQLite and PostgreSQL, not {backend}.")
    return backend


def _sqlite_path(url: str) -> str:
    path = make_url(url).database
    if not path or path == ":memory:":
        raise BackupError("An in-memory SQLite database cannot be backed up.")
    return path


def libpq(url: str) -> tuple[str, dict]:
    """(a libpq connection URL without the password, the environment with PGPASSWORD) for pg_dump / pg_restore."""
    parsed = make_url(url)
    env = dict(os.environ)
    if parsed.password:
        env["PGPASSWORD"] = parsed.password
    plain = parsed.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def take(url: str, directory: str | os.PathLike, keep: int = DEFAULT_KEEP, now: datetime | None = None) -> Path:
    """Write a consistent copy of the database at ``url`` into ``directory``; keep the newest ``keep``.

    Returns the new file. Raises BackupError (pg_dump failed or is missing, an in-memory database).
    """
    kind = _kind(url)
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    moment = (now or datetime.now(UTC)).replace(microsecond=0, tzinfo=None)
    stamp = moment.strftime("%Y%m%dT%H%M%SZ")
    extension = "sqlite3" if kind == "sqlite" else "pgdump"
    # another backup in the same second comes after it: numbered past the highest (kept or pruned)
    same = [b.number for b in backups(folder) if b.taken_at == moment]
    target = folder / (f"{PREFIX}{stamp}-{max(same) + 1}.{extension}" if same else f"{PREFIX}{stamp}.{extension}")
    partial = folder / f".{target.name}.partial"
    try:
        if kind == "sqlite":
            _sqlite_copy(_sqlite_path(url), str(partial))
        else:
            _pg_dump(url, partial)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    prune(folder, keep)
    return target


def _sqlite_copy(source: str, destination: str) -> None:
    if not os.path.exists(source):
        raise BackupError(f"There is no SQLite database at {source}.")
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)
    dst = sqlite3.connect(destination)
    try:
        with dst:
            src.backup(dst)  # pages=-1: every page in one step, one consistent moment
    finally:
        dst.close()
        src.close()


def _run(command: list[str], env: dict) -> None:
    if shutil.which(command[0]) is None:
        raise BackupError(f"{command[0]} is not installed: install the PostgreSQL client tools "
                          f"(apt-get install postgresql-client), the same major version as the server or newer.")
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise BackupError(f"{command[0]} failed: {last}")


def _pg_dump(url: str, destination: Path) -> None:
    dsn, env = libpq(url)
    _run(["pg_dump", "--format=custom", "--no-owner", "--no-privileges", f"--file={destination}", dsn], env)


def prune(directory: str | os.PathLike, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` backups in ``directory``; returns the deleted paths."""
    old = backups(directory)[:-keep] if keep > 0 else []
    for backup in old:
        backup.path.unlink(missing_ok=True)
    return [b.path for b in old]


def table_names(url: str) -> list[str]:
    """The tables (and, on PostgreSQL, in the connection's search path) of the database at ``url``."""
    engine = sa.create_engine(url)
    try:
        return sa.inspect(engine).get_table_names()
    finally:
        engine.dispose()


def restore(path: str | os.PathLike, url: str) -> None:
    """Load the backup at ``path`` into the EMPTY database at ``url``.

    Raises BackupError when the database has tables, the file is not a backup
    of this database's kind, or the loading tool fails.
    """
    kind = _kind(url)
    source = Path(path)
    if not source.is_file():
        raise BackupError(f"There is no file {source}.")
    with source.open("rb") as fh:
        head = fh.read(16)
    file_kind = "sqlite" if head.startswith(SQLITE_MAGIC) else "postgresql" if head.startswith(PGDUMP_MAGIC) else None
    if file_kind is None:
        raise BackupError(f"{source.name} is not a backup made by flask backup (neither SQLite nor pg_dump -Fc).")
    if file_kind != kind:
        raise BackupError(f"{source.name} is a {file_kind} backup and the database is {kind}: "
                          f"restore it into a {file_kind} database.")
    tables = table_names(url)
    if tables:
        raise BackupError(f"The database already has {len(tables)} tables ({', '.join(sorted(tables)[:3])}…), so "
                          f"nothing was restored: create an empty database and point DATABASE_URL at it.")
    if kind == "sqlite":
        _sqlite_copy(str(source), _sqlite_path(url))
    else:
        dsn, env = libpq(url)
        _run(["pg_restore", "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction",
              f"--dbname={dsn}", str(source)], env)
