"""``make load``: members and clients at once against gunicorn (several workers) on PostgreSQL.

Each virtual user is a member and their client, for ``--seconds``: the member browses (contract
list, a contract, notifications) and builds a contract (draft, terms, milestones through htmx)
and sends it; the client verifies their email, reads it and funds escrow (TestGateway,
``fake-valid-nonce``); the member asks for payment of the first milestone and the client approves
it. Then the report: requests per second, p50 / p95 / p99 latency, errors (5xx, unexpected
answers, exceptions), and ``flask ledger check`` and ``flask payments reconcile`` on the database
the load left. Exits 1 on any 5xx, failed flow or failed check.

The rate limits are off for this run only (``RATELIMIT_ENABLED=0``): every user comes from
127.0.0.1. The database is emptied first (its schema dropped), so give it one of its own.

    python -m tests.tools.load --database postgresql://postgres@127.0.0.1:5432/load [--seconds 60]
"""
from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import sqlalchemy as sa

from directcontracts.config import normalise_db_url
from tests.tools.browser import (PASSWORD, Browser, Outbox, build_contract, expect, fund, login, send_contract,
                                 verify_client)
from tests.tools.server import app_env, flask, free_port, gunicorn

MILESTONE_RE = r"/contracts/{cid}/milestones/(\d+)/request-payment"


def empty_database(url: str) -> None:
    """Drop and recreate the public schema (the load's own database)."""
    engine = sa.create_engine(normalise_db_url(url), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text("DROP SCHEMA public CASCADE"))
        conn.execute(sa.text("CREATE SCHEMA public"))
    engine.dispose()


class User(threading.Thread):
    """A member and their client, going round the scenario until the deadline."""

    def __init__(self, n: int, base: str, outbox: Outbox, deadline: float, timings: list, errors: list):
        super().__init__(name=f"user-{n}", daemon=True)
        self.n, self.base, self.outbox, self.deadline = n, base, outbox, deadline
        self.timings, self.errors = timings, errors
        self.rounds = 0

    def run(self) -> None:
        member = Browser(self.base, self.timings)
        try:
            login(member, f"member{self.n}@example.com")
        except Exception as exc:  # noqa: BLE001 — reported, the others go on
            self.errors.append(f"{self.name} login: {exc}")
            return
        while time.monotonic() < self.deadline:
            try:
                self.round(member)
                self.rounds += 1
            except Exception as exc:  # noqa: BLE001
                self.errors.append(f"{self.name} round {self.rounds}: {str(exc)[:300]}")

    def round(self, member: Browser) -> None:
        expect(member.get("/contracts"), 200)
        expect(member.get("/notifications/count", headers={"HX-Request": "true"}), 200)
        client_email = f"client{self.n}-{self.rounds}@client-co.com"
        cid = build_contract(member, client_email, amounts=("1200", "300"), title=f"Load {self.n}-{self.rounds}")
        link = send_contract(member, self.outbox, cid, client_email)
        expect(member.get(f"/contracts/{cid}"), 200)

        client = Browser(self.base, self.timings)
        verify_client(client, self.outbox, link, client_email, cid)
        expect(client.get(link), 200)
        receipt = expect(fund(client, link, choice="all"), 303)
        expect(client.get(urlsplit(receipt.headers["Location"]).path), 200)

        page = expect(member.get(f"/contracts/{cid}"), 200)
        mid = int(re.search(MILESTONE_RE.format(cid=cid), page.text).group(1))
        expect(member.get(f"/contracts/{cid}/milestones/{mid}/request-payment"), 200)
        expect(member.post(f"/contracts/{cid}/milestones/{mid}/request-payment",
                           {"note": "Done: see the staging site.", "url": "https://staging.client-co.com"}), 303)
        expect(client.get(f"{link}/milestones/{mid}/approve"), 200)
        expect(client.post(f"{link}/milestones/{mid}/approve"), 303)
        expect(client.get(link), 200)
        expect(member.get("/notifications"), 200)


def percentile(sorted_values: list[float], p: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(round(p / 100 * (len(sorted_values) - 1))))]


def report(timings: list, elapsed: float) -> tuple[int, str]:
    """(5xx count, the figures as text)."""
    latencies = sorted(t[0] * 1000 for t in timings)
    server_errors = sum(1 for t in timings if t[1] >= 500)
    lines = [f"requests: {len(timings)} in {elapsed:.1f} s = {len(timings) / elapsed:.1f} req/s"]
    if latencies:
        lines.append(f"latency ms: p50 {percentile(latencies, 50):.0f}, p95 {percentile(latencies, 95):.0f}, "
                     f"p99 {percentile(latencies, 99):.0f}, max {latencies[-1]:.0f}, "
                     f"mean {statistics.fmean(latencies):.0f}")
    statuses: dict[int, int] = {}
    for t in timings:
        statuses[t[1]] = statuses.get(t[1], 0) + 1
    lines.append("statuses: " + ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items())))
    funds = sorted(t[0] * 1000 for t in timings if t[2] == "POST" and t[3].endswith("/fund"))
    if funds:
        lines.append(f"fund POST ms ({len(funds)}): p50 {percentile(funds, 50):.0f}, "
                     f"p95 {percentile(funds, 95):.0f}, p99 {percentile(funds, 99):.0f}")
    return server_errors, "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", required=True, help="PostgreSQL URL of a database of its own (emptied)")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--users", type=int, default=16, help="virtual users (a member and a client each)")
    options = parser.parse_args()
    if not options.database.startswith(("postgres://", "postgresql")):
        print("--database must be a PostgreSQL URL", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="dc-load-"))
    empty_database(options.database)
    env = app_env(options.database, free_port(), workdir, WEB_CONCURRENCY=str(options.workers),
                  RATELIMIT_ENABLED="0")
    for step in (("db", "upgrade"),):
        done = flask(env, *step)
        if done.returncode:
            print(done.stderr, file=sys.stderr)
            return 2
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # the outbox reader and the member set-up use the server's database
    try:
        from directcontracts import create_app
        from directcontracts.services import accounts

        app = create_app()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    with app.app_context():
        for n in range(options.users):
            accounts.create_member(f"member{n}@example.com", f"Member {n}", PASSWORD, owner=n == 0)
    timings: list = []
    errors: list[str] = []
    log = workdir / "gunicorn.log"
    with gunicorn(env, log) as base:
        print(f"load on {base}: {options.workers} workers, {options.users} users, {options.seconds:.0f} s, "
              f"PostgreSQL {options.database.rsplit('/', 1)[-1]}, rate limits off")
        started = time.monotonic()
        users = [User(n, base, Outbox(app), started + options.seconds, timings, errors) for n in range(options.users)]
        for u in users:
            u.start()
        for u in users:
            u.join(options.seconds + 120)
        elapsed = time.monotonic() - started
    server_errors, figures = report(timings, elapsed)
    print(figures)
    print(f"rounds completed (sent, funded, one milestone approved): {sum(u.rounds for u in users)}")
    print(f"errors: {server_errors} 5xx, {len(errors)} failed steps")
    for line in errors[:10]:
        print("  " + line)
    checks_ok = True
    for step in (("ledger", "check"), ("payments", "reconcile")):
        done = flask(env, *step)
        print(f"flask {' '.join(step)}: exit {done.returncode}")
        print("  " + (done.stdout.strip() or done.stderr.strip()[-500:]).replace("\n", "\n  "))
        checks_ok = checks_ok and done.returncode == 0
    ok = server_errors == 0 and not errors and checks_ok
    print("load: OK" if ok else f"load: FAILED (logs in {workdir})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
