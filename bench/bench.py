"""``make bench``: seed a shop of N contracts, then time the member's, the owner's and the client's pages.

    python -m bench.bench [--contracts N] [--repeat R] [--json PATH] [--explain PATH] [--http SECONDS]

N defaults to ``BENCH_CONTRACTS`` (5,000). The database is a temporary SQLite file, or ``DATABASE_URL``
(emptied first: give it one of its own). A few contracts go through the app over HTTP (sent, signed,
funded, released, so every page has real rows); the rest are bulk-inserted rows of the same shapes
(drafts, sent, signed, active with money in escrow and released, completed), which ``ledger check``
must pass. Each page is timed in-process with the Flask test client against an empty route registered
here (not in the app), measured in the same run; statements are counted with a ``before_cursor_execute``
listener. Prints one table and writes JSON (``bench/results.json`` by default), and the plans of the list
pages' queries (``bench/explain-<database>.txt``: EXPLAIN (ANALYZE, BUFFERS) on PostgreSQL). ``--http``
then serves the same database under gunicorn and times pages with wrk (``bench.wrk``).
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import statistics
import tempfile
import time
import uuid
from datetime import timedelta

from sqlalchemy import event, insert

from directcontracts import create_app
from directcontracts.extensions import db
from directcontracts.models import (Acceptance, Contract, ContractRevision, Journal, LedgerEntry, Milestone,
                                    Notification, PaymentAttempt, PaymentItem, TimelineEvent, utcnow)
from directcontracts.services import accounts, ledger, ledger_days
from tests.conftest import PASSWORD, Client, FreshContextClient
from tests.web import builders

from . import EMPTY, wrk


def make_app(url: str):
    """The app as the tests configure it (offline gateway, no SMTP, no rate limits) plus the empty route."""
    app = create_app({
        "TESTING": True, "SECRET_KEY": "bench-secret-key", "SQLALCHEMY_DATABASE_URI": url,
        "BASE_URL": "http://localhost", "SERVER_NAME": None, "MAIL_SERVER": None, "MAIL_SUPPRESS_SEND": False,
        "TEST_GATEWAY_STORE": None, "HEALTH_REFRESH_MINUTES": 0, "RATELIMIT_ENABLED": False,
    })
    app.add_url_rule(EMPTY, "bench_empty", lambda: "")
    app.test_client_class = FreshContextClient
    return app


def seed_http(app) -> dict:
    """An owner and the contracts that go through the app: one funded with a milestone released, one sent."""
    with app.app_context():
        owner = accounts.create_member("fran@example.com", "Fran Freelancer", PASSWORD, owner=True)
        email = owner.email
    from directcontracts.models import OutboxEmail

    def outbox():
        with app.app_context():
            rows = list(db.session.scalars(db.select(OutboxEmail).order_by(OutboxEmail.id)))
            db.session.expunge_all()
            return rows

    member, visitor = Client(app.test_client()), Client(app.test_client())
    assert member.post("/login", {"email": email, "password": PASSWORD}).status_code == 303
    cid, link = builders.funded_contract(member, visitor, outbox, choice="first")
    with app.app_context():
        first, second = db.session.scalars(db.select(Milestone.id).where(Milestone.contract_id == cid)
                                           .order_by(Milestone.position)).all()[:2]
        attempt = db.session.scalar(db.select(PaymentAttempt.id).where(PaymentAttempt.contract_id == cid))
    builders.request_payment(member, cid, first)
    builders.approve(visitor, link, first)
    builders.sent_contract(member, outbox)
    return {"member": member, "visitor": visitor, "contract_id": cid, "link": link, "unfunded": second,
            "attempt": attempt}


def _next_id(model) -> int:
    return (db.session.scalar(db.select(db.func.max(model.id))) or 0) + 1


def seed_bulk(app, n: int) -> None:
    """``n`` more contracts of the owner, as valid rows: 10% drafts, 15% sent, 5% signed, 50% active
    (five milestones funded, the first two released), 20% completed (three milestones, all released): about
    5 milestones and 10 ledger entries a contract, the shape of the issue's 5,000-contract shop (~51,000 entries)."""
    with app.app_context():
        member_id = db.session.scalar(db.select(accounts.Member.id))
        snapshot = db.session.scalar(db.select(ContractRevision.snapshot))
        ids = {m: _next_id(m) for m in (Contract, Milestone, ContractRevision, Acceptance, Journal, LedgerEntry,
                                        PaymentItem, TimelineEvent, Notification)}
        rows: dict = {m: [] for m in ids}
        rows[PaymentAttempt] = []
        now = utcnow()

        def add(model, **values):
            values["id"] = ids[model]
            ids[model] += 1
            rows[model].append(values)
            return values["id"]

        def flush():
            for model in (Contract, Milestone, ContractRevision, Acceptance, PaymentAttempt, PaymentItem, Journal,
                          LedgerEntry, TimelineEvent, Notification):
                if rows[model]:
                    db.session.execute(insert(model), rows[model])
                    rows[model] = []

        for i in range(n):
            kind = ("draft", "sent", "signed", "active", "active", "active", "active", "active",
                    "completed", "completed")[i % 10] if i % 20 != 5 else "sent"
            when = now - timedelta(hours=(n - i) * 3)
            state = {"signed": "sent"}.get(kind, kind)
            cid = add(Contract, ref=f"B{ids[Contract]:08d}", member_id=member_id, client_name=f"Client {i}",
                      client_email=f"client{i}@example.com", client_company="", title=f"Bench contract {i}",
                      scope="Bench.", currency="USD", kind="milestones", state=state, fee_bps=500,
                      revision=0 if kind == "draft" else 1, created_at=when, last_activity_at=when,
                      sent_at=None if kind == "draft" else when,
                      closed_at=when if kind == "completed" else None)
            amounts = [100_00, 250_00, 50_00, 75_00, 125_00] if kind != "completed" else [300_00, 120_00, 80_00]
            mids = []
            for pos, amount in enumerate(amounts, 1):
                state_m = {"active": "funded" if pos > 2 else "released", "completed": "released"}.get(kind, "pending")
                mids.append(add(Milestone, contract_id=cid, position=pos, title=f"Milestone {pos}",
                                amount_minor=amount, description="", state=state_m, created_at=when,
                                funded_at=when if state_m != "pending" else None, submit_note="",
                                deliverable_url="", settled_at=when if state_m == "released" else None))
            add(TimelineEvent, contract_id=cid, kind="created", actor="freelancer", message="Draft created.",
                created_at=when)
            if kind == "draft":
                continue
            rev = add(ContractRevision, contract_id=cid, number=1, snapshot=snapshot, created_at=when)
            add(TimelineEvent, contract_id=cid, kind="sent", actor="freelancer", message="Sent.", created_at=when)
            if kind == "sent":
                continue
            add(Acceptance, contract_id=cid, revision_id=rev, signer_name=f"Client {i}", ip_address="127.0.0.1",
                user_agent="bench", accepted_at=when)
            add(Notification, member_id=member_id, contract_id=cid, message="The client signed.", created_at=when,
                read_at=when if i % 3 else None)
            if kind == "signed":
                continue
            attempt = str(uuid.uuid4())
            rows[PaymentAttempt].append(dict(
                id=attempt, idempotency_key=attempt, contract_id=cid, amount_minor=sum(amounts), currency="USD",
                status="succeeded", gateway="test", method="card", card_brand="Visa", card_last4="1111",
                transaction_id=f"bench{attempt[:8]}", message="", created_at=when, updated_at=when, decided_at=when))
            funding = add(Journal, kind="funding", contract_id=cid, payment_attempt_id=attempt, memo="",
                          created_at=when)
            for mid, amount in zip(mids, amounts):
                add(PaymentItem, attempt_id=attempt, milestone_id=mid, amount_minor=amount)
                for account, sign in (("client", -1), ("escrow", 1)):
                    add(LedgerEntry, journal_id=funding, contract_id=cid, milestone_id=mid, account=account,
                        amount_minor=sign * amount, currency="USD")
            for pos, (mid, amount) in enumerate(zip(mids, amounts), 1):
                if kind == "active" and pos > 2:
                    continue
                fee = (amount * 500 + 5000) // 10000
                release = add(Journal, kind="release", contract_id=cid, payment_attempt_id=None, memo="",
                              created_at=when + timedelta(hours=1))
                for account, amount_minor in (("escrow", -amount), ("freelancer", amount - fee), ("fees", fee)):
                    add(LedgerEntry, journal_id=release, contract_id=cid, milestone_id=mid, account=account,
                        amount_minor=amount_minor, currency="USD")
            add(Notification, member_id=member_id, contract_id=cid, message="Funded.", created_at=when,
                read_at=when if i % 4 else None)
            if i % 500 == 499:
                flush()
        flush()
        if db.session.get_bind().dialect.name == "postgresql":  # explicit ids leave the sequences behind
            for model in ids:
                table = model.__tablename__
                db.session.execute(db.text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                           f"(SELECT max(id) FROM {table}))"))
        db.session.commit()


def analyze(engine) -> None:
    """Statistics for the planner after the bulk insert, as autovacuum (PostgreSQL) or a routine ANALYZE
    (SQLite) would have them on a shop that grew: without them PostgreSQL plans the lists for empty tables
    (a nested loop over 5,000 contracts where a hash join belongs: several times slower)."""
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    else:
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")


#: The list pages whose queries ``explain`` shows the plans of.
LISTS = ("contracts, first page", "contracts, active", "contracts, page", "notifications count",
         "notifications page", "payouts report", "payouts CSV")


def explain(seeded: dict, engine, page_list, out_path: str) -> None:
    """Each SELECT the list pages send, with its plan: EXPLAIN (ANALYZE, BUFFERS) on PostgreSQL (run with the
    page's own parameters), EXPLAIN QUERY PLAN on SQLite. Written to ``out_path``."""
    postgres = engine.dialect.name == "postgresql"
    prefix = "EXPLAIN (ANALYZE, BUFFERS) " if postgres else "EXPLAIN QUERY PLAN "
    sent: list = []

    def one(conn, cursor, statement, parameters, context, executemany):
        sent.append((statement, parameters))
    lines = [f"Plans of the list pages' queries on {engine.dialect.name} (python -m bench.bench, "
             f"{'EXPLAIN (ANALYZE, BUFFERS)' if postgres else 'EXPLAIN QUERY PLAN'})", ""]
    for name, who, path in page_list:
        if not name.startswith(LISTS):
            continue
        browser = seeded[who]
        assert browser.get(path).status_code == 200
        sent.clear()
        event.listen(engine, "before_cursor_execute", one)
        try:
            assert browser.get(path).status_code == 200
        finally:
            event.remove(engine, "before_cursor_execute", one)
        lines += ["=" * 100, f"{name}: GET {path} ({len(sent)} statements)", "=" * 100]
        raw = engine.raw_connection()
        try:
            cursor = raw.cursor()
            for statement, parameters in sent:
                if not statement.lstrip().upper().startswith("SELECT"):
                    continue
                cursor.execute(prefix + statement, parameters)
                plan = [" | ".join(str(v) for v in row) if not postgres else row[0] for row in cursor.fetchall()]
                lines += ["", " ".join(statement.split()), f"  parameters: {parameters}", *("  " + p for p in plan)]
            raw.rollback()
        finally:
            raw.close()
        lines.append("")
    with open(out_path, "w") as out:
        out.write("\n".join(lines) + "\n")


class Statements:
    """Counts SQL statements sent to the database (``before_cursor_execute``)."""

    def __init__(self, engine):
        self.count = 0
        event.listen(engine, "before_cursor_execute", self._one)

    def _one(self, *args):
        self.count += 1


def _ms(run) -> tuple[float, int, float]:
    """Wall time (ms), the run's result, and this process's CPU time (ms: on SQLite the database's work too,
    and nearly independent of the machine's other load)."""
    start, cpu = time.perf_counter(), time.process_time()
    size = run()
    return (time.perf_counter() - start) * 1000, size, (time.process_time() - cpu) * 1000


def measure(name: str, run, statements: Statements, repeat: int, empty=None) -> dict:
    """Median and p95 wall time (ms), statements and bytes of one ``run`` (after two warm-up runs).

    With ``empty`` (the empty route's run), each run is paired with one of the empty route just before it,
    and ``ratio`` is the median of the pairs' ratios: a machine busy with other work slows both alike."""
    for _ in range(2):
        run()
    times, counts, ratios, cpu, size = [], [], [], [], 0
    for _ in range(repeat):
        base = _ms(empty)[0] if empty else None
        before = statements.count
        elapsed, size, used = _ms(run)
        counts.append(statements.count - before)
        times.append(elapsed)
        cpu.append(used)
        if base:
            ratios.append(elapsed / base)
    times.sort()
    return {"name": name, "median_ms": round(statistics.median(times), 2), "cpu_ms": round(statistics.median(cpu), 2),
            "p95_ms": round(times[min(len(times) - 1, int(round(0.95 * (len(times) - 1))))], 2),
            "statements": max(counts), "bytes": size,
            "ratio": round(statistics.median(ratios), 1) if ratios else 1.0}


def pages(seeded: dict, total: int, per_page: int) -> list[tuple[str, str, str]]:
    """(name, who, url) of every page measured (who "fragment": the member, asking as htmx does)."""
    cid, link = seeded["contract_id"], seeded["link"]
    late = max(1, -(-total // per_page) - 1)
    return [
        ("empty route", "member", EMPTY),
        ("contracts, first page", "member", "/contracts"),
        ("contracts, active", "member", "/contracts?status=active"),
        (f"contracts, page {late}", "member", f"/contracts?page={late}"),
        ("contract detail", "member", f"/contracts/{cid}"),
        ("terms page", "member", f"/contracts/{cid}/terms"),
        ("milestone editor", "fragment", f"/contracts/{cid}/milestones/{seeded['unfunded']}/edit"),
        ("notifications count", "member", "/notifications/count"),
        ("notifications page", "member", "/notifications"),
        ("payouts report", "member", "/admin/payouts"),
        ("payouts CSV", "member", "/admin/payouts.csv"),
        ("client's contract page", "visitor", link),
        ("client's fund page", "visitor", f"{link}/fund"),
        ("client's payment status", "visitor", f"{link}/payments/{seeded['attempt']}"),
    ]


ASSETS = re.compile(r'<(?:link[^>]*rel="stylesheet"[^>]*href|script[^>]*src)="([^"]+)"')


def first_visit(browser, link: str) -> dict:
    """What a client's first visit downloads, gzipped (level 6, as nginx's gzip_comp_level would be set):
    the contract page's HTML and every stylesheet and script it links (cached afterwards: versioned URLs)."""
    response = browser.get(link)
    assert response.status_code == 200
    html = response.data
    files = {"HTML": len(gzip.compress(html, 6))}
    for url in ASSETS.findall(html.decode()):
        asset = browser.get(url.replace("&amp;", "&"))
        assert asset.status_code == 200, url
        files[url.split("?")[0]] = len(gzip.compress(asset.data, 6))
        asset.close()
    return {"files": files, "total_bytes": sum(files.values())}


def run(contracts: int, repeat: int, url: str | None, explain_path: str | None = None,
        http_seconds: float = 0, http_rounds: int = 3) -> dict:
    """Seed, measure (in-process; then under gunicorn when ``http_seconds``), and return the results."""
    tmp = None
    if not url:
        tmp = tempfile.TemporaryDirectory(prefix="dc-bench-")
        url = "sqlite:///" + os.path.join(tmp.name, "bench.sqlite3")
    app = make_app(url)
    with app.app_context():
        db.drop_all()
        db.create_all()
    start = time.perf_counter()
    seeded = seed_http(app)
    seed_bulk(app, max(0, contracts - 2))
    with app.app_context():
        engine = db.engine
        ledger_days.roll_up()  # as the shop's cron (jobs run-due) would have: the closed days summed
        analyze(engine)
    seed_seconds = time.perf_counter() - start
    with app.app_context():
        problems = ledger.check()
        entries = db.session.scalar(db.select(db.func.count(LedgerEntry.id)))
    assert not problems, f"the seeded books do not pass ledger check: {problems[:5]}"
    statements = Statements(engine)
    results = []
    page_list = pages(seeded, contracts, app.config["CONTRACTS_PER_PAGE"])
    empty = None
    for name, who, path in page_list:
        browser = seeded["member" if who == "fragment" else who]
        headers = {"HX-Request": "true"} if who == "fragment" else {}

        def get(browser=browser, path=path, headers=headers):
            response = browser.get(path, headers=headers)
            assert response.status_code == 200, (path, response.status_code)
            return len(response.data)
        results.append(measure(name, get, statements, repeat, empty))
        empty = empty or get  # the first page is the empty route: every other run is paired with one of it

    def check():
        with app.app_context():
            assert ledger.check() == []
        return 0
    results.append(measure("ledger check", check, statements, max(3, repeat // 4), empty))
    weight = first_visit(seeded["visitor"], seeded["link"])
    if explain_path:
        explain(seeded, engine, page_list, explain_path.format(database=engine.dialect.name))
    served = wrk.run(url, seeded, http_seconds, http_rounds) if http_seconds else None
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    if tmp:
        tmp.cleanup()
    return {"contracts": contracts, "ledger_entries": entries, "database": engine.dialect.name,
            "seed_seconds": round(seed_seconds, 1), "repeat": repeat, "results": results,
            "first_visit": weight, "load_average": os.getloadavg(), "http": served}


def table(report: dict) -> str:
    """The results as a plain-text table."""
    load = ", ".join(f"{x:.1f}" for x in report["load_average"])
    lines = [f"{report['contracts']} contracts, {report['ledger_entries']} ledger entries on "
             f"{report['database']} (seeded in {report['seed_seconds']} s); {report['repeat']} runs each; "
             f"load average at the end {load} on {os.cpu_count()} CPUs",
             f"{'page':<26}{'median ms':>10}{'p95 ms':>9}{'x empty':>9}{'SQL':>6}{'bytes':>9}{'CPU ms':>8}"]
    for r in report["results"]:
        lines.append(f"{r['name']:<26}{r['median_ms']:>10.1f}{r['p95_ms']:>9.1f}{r['ratio']:>9.1f}"
                     f"{r['statements']:>6}{r['bytes']:>9}{r['cpu_ms']:>8.1f}")
    weight = report["first_visit"]
    lines.append(f"client's first visit: {weight['total_bytes'] / 1024:.1f} KB gzip ("
                 + ", ".join(f"{name} {size / 1024:.1f}" for name, size in weight["files"].items()) + ")")
    if report["http"]:
        lines.append(wrk.table(report["http"]))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contracts", type=int, default=int(os.environ.get("BENCH_CONTRACTS", 5000)))
    parser.add_argument("--repeat", type=int, default=int(os.environ.get("BENCH_REPEAT", 20)))
    parser.add_argument("--json", default=os.environ.get("BENCH_JSON", "bench/results.json"))
    parser.add_argument("--explain", default="bench/explain-{database}.txt", metavar="PATH",
                        help="where the list queries' plans go ({database}: sqlite or postgresql; '' for none)")
    parser.add_argument("--http", type=float, default=0, metavar="SECONDS",
                        help="then under gunicorn with wrk: SECONDS a page, in paired rounds")
    parser.add_argument("--rounds", type=int, default=3, help="paired rounds of --http")
    args = parser.parse_args()
    report = run(args.contracts, args.repeat, os.environ.get("DATABASE_URL"), args.explain or None,
                 args.http, args.rounds)
    print(table(report))
    with open(args.json, "w") as out:
        json.dump(report, out, indent=2)
    print(f"written to {args.json}")


if __name__ == "__main__":
    main()
