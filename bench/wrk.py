"""``make bench-http`` (``python -m bench.bench --http SECONDS``): the seeded shop under gunicorn, timed with wrk.

gunicorn runs with the repository's gunicorn.conf.py (2 workers, 4 threads each, unless WEB_CONCURRENCY /
GUNICORN_THREADS say otherwise) on a loopback port, against the database the bench seeded (PostgreSQL when
DATABASE_URL names one), serving ``bench.serve:app`` (the app plus the bench's empty route). wrk then asks
each page for SECONDS in turn — the empty route, the client's contract page (with the verified client's
cookies), the contracts list (with the member's session cookie) — and the whole round is run several times
(paired runs: each page's requests/s is compared with the empty route's of the same round, which tolerates
the machine's other load). Prints requests/s per round and the median ratio to the empty route.
"""
from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path

import requests

from directcontracts import ROOT
from tests.tools.server import app_env, free_port, gunicorn

SECRET = "bench-secret-key"  # bench.make_app's: the test clients' cookies are signed with it
RATE = re.compile(r"Requests/sec:\s+([\d.]+)")
CODES = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")


@contextmanager
def served(database_url: str, log: Path):
    """gunicorn serving ``bench.serve:app`` on a free loopback port until the block ends; yields its base URL."""
    port = free_port()
    env = app_env(database_url, port, log.parent, SECRET_KEY=SECRET, RATELIMIT_ENABLED="0")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    with gunicorn(env, log, start_seconds=60, args=("--access-logfile", "/dev/null", "bench.serve:app"),
                  ready_path="/_bench/empty") as base:
        yield base


def cookie_header(browser) -> str:
    """The Cookie header a test client (tests.conftest.Client) would send: its session and device cookies."""
    jar = browser.http._cookies  # werkzeug's test client: {(domain, path, name): Cookie}
    return "; ".join(f"{c.key}={c.value}" for c in jar.values())


def wrk_rate(url: str, seconds: float, cookie: str, connections: int) -> tuple[float, int]:
    """Requests/s wrk reached on ``url`` (2 threads, ``connections`` connections), and its non-2xx/3xx count."""
    args = ["wrk", "-t2", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "10s"]
    if cookie:
        args += ["-H", f"Cookie: {cookie}"]
    done = subprocess.run([*args, url], capture_output=True, text=True, check=True)
    rate, errors = RATE.search(done.stdout), CODES.search(done.stdout)
    if rate is None:
        raise SystemExit("wrk printed no rate:\n" + done.stdout + done.stderr)
    return float(rate.group(1)), int(errors.group(1)) if errors else 0


def run(database_url: str, seeded: dict, seconds: float, rounds: int = 3, connections: int = 8) -> dict:
    """Paired wrk runs of the empty route, the client's contract page and the contracts list under gunicorn."""
    if shutil.which("wrk") is None:
        raise SystemExit("bench --http needs wrk (Debian: apt-get install wrk)")
    member, visitor = cookie_header(seeded["member"]), cookie_header(seeded["visitor"])
    targets = [("empty route", "/_bench/empty", ""), ("client's contract page", seeded["link"], visitor),
               ("contracts, first page", "/contracts", member)]
    workdir = Path(tempfile.mkdtemp(prefix="dc-bench-http-"))
    per_round: list[dict] = []
    with served(database_url, workdir / "gunicorn.log") as base:
        for path_name, path, cookie in targets:  # each page once (and its 200) before timing
            response = requests.get(base + path, headers={"Cookie": cookie} if cookie else {},
                                    allow_redirects=False, timeout=30)
            if response.status_code != 200:
                raise SystemExit(f"{path_name} under gunicorn answered {response.status_code}, not 200")
        for _ in range(rounds):
            figures = {}
            for name, path, cookie in targets:
                rate, errors = wrk_rate(base + path, seconds, cookie, connections)
                if errors:
                    raise SystemExit(f"{name}: {errors} responses were not 2xx/3xx under wrk")
                figures[name] = rate
            per_round.append(figures)
    shutil.rmtree(workdir, ignore_errors=True)
    names = [name for name, _, _ in targets]
    summary = {name: {"requests_per_s": [r[name] for r in per_round],
                      "median_requests_per_s": round(statistics.median(r[name] for r in per_round), 1),
                      "ratios": [round(r[name] / r["empty route"], 3) for r in per_round],
                      "median_ratio": round(statistics.median(r[name] / r["empty route"] for r in per_round), 3)}
               for name in names}
    return {"seconds": seconds, "rounds": rounds, "connections": connections,
            "workers": int(os.environ.get("WEB_CONCURRENCY") or 2), "pages": summary}


def table(report: dict) -> str:
    lines = [f"under gunicorn ({report['workers']} workers, loopback), wrk {report['connections']} connections, "
             f"{report['rounds']} paired rounds of {report['seconds']:.0f} s a page",
             f"{'page':<26}{'requests/s (each round)':>34}{'median':>9}{'x empty':>9}"]
    for name, p in report["pages"].items():
        rounds = " ".join(f"{r:.0f}" for r in p["requests_per_s"])
        lines.append(f"{name:<26}{rounds:>34}{p['median_requests_per_s']:>9.0f}{p['median_ratio'] * 100:>8.0f}%")
    return "\n".join(lines)
