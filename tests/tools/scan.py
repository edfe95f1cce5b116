"""``make scan``: wapiti against the app under gunicorn, as a member and as a verified client.

A fresh SQLite database is migrated and seeded (tests/tools/seed.py); wapiti crawls and attacks
with the member's session cookie, then separately with the client's cookies from their link, each
bounded by ``--max-scan-time``. Prints the requests the server answered and every finding from
wapiti's JSON report (vulnerabilities, anomalies such as a 500, additionals); exits 1 on any.

    python -m tests.tools.scan [--seconds 120] [--keep DIR]
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.tools.server import app_env, flask, free_port, gunicorn, status_counts

CATEGORIES = {"vulnerabilities": "vulnerability", "anomalies": "anomaly", "additionals": "additional"}
#: Findings that are not faults of the app, each with the reason; printed on every run, never counted.
ACCEPTED = {
    "X-XSS-Protection is not set": "browsers removed the XSS auditor that header drove (OWASP's advice is to "
                                   "leave it out or send 0); the Content-Security-Policy, with no inline "
                                   "script, is what stops XSS here",
}
#: The interpreter Debian's wapiti runs on (see wapiti_excludes.py).
WAPITI_PYTHON = "/usr/bin/python3"


def wapiti(role: str, seed: dict, base: str, seconds: int, workdir: Path) -> Path:
    """One bounded wapiti run with ``role``'s cookies; returns its JSON report."""
    report = workdir / f"wapiti-{role}.json"
    args = [WAPITI_PYTHON, str(Path(__file__).with_name("wapiti_excludes.py")), "-u", base + "/", "--scope", "folder", "-H", f"Cookie: {seed[role]['cookie']}",
            "--max-scan-time", str(seconds), "--max-attack-time", str(max(seconds // 4, 10)),
            "-x", base + "/logout", "-x", base + "/contracts/*/new-link",
            "--flush-session", "--store-session", str(workdir / f"session-{role}"),
            "--store-config", str(workdir / f"config-{role}"),
            "-f", "json", "-o", str(report), "--no-bugreport", "-v", "0", "-t", "15"]
    for url in seed[role]["urls"]:
        args += ["-s", url]
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
    return report


def findings(report: Path) -> tuple[list[str], list[str]]:
    """(findings, accepted ones): every entry of the report's categories, one line each."""
    data = json.loads(report.read_text())
    found, accepted = [], []
    for category, label in CATEGORIES.items():
        for name, entries in (data.get(category) or {}).items():
            for entry in entries:
                line = f"{label}: {name}: {entry.get('method', '')} {entry.get('path', '')} {entry.get('info', '')}"
                reason = ACCEPTED.get(entry.get("info", ""))
                (accepted if reason else found).append(line.strip() + (f" (accepted: {reason})" if reason else ""))
    return found, accepted


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=120, help="max scan time of each wapiti run")
    parser.add_argument("--keep", help="keep the database, logs and reports in this directory")
    options = parser.parse_args()
    if shutil.which("wapiti") is None:
        print("wapiti is not installed (Debian: apt-get install wapiti)", file=sys.stderr)
        return 2
    workdir = Path(options.keep or tempfile.mkdtemp(prefix="dc-scan-"))
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    # Configured as deployed behind a TLS proxy (BASE_URL https: secure cookies, HSTS); wapiti talks
    # plain HTTP to gunicorn, as the proxy would.
    env = app_env(f"sqlite:///{workdir / 'scan.sqlite3'}", port, workdir, WEB_CONCURRENCY="2",
                  BASE_URL=f"https://127.0.0.1:{port}")
    migrated = flask(env, "db", "upgrade")
    if migrated.returncode:
        print(migrated.stderr, file=sys.stderr)
        return 2
    log = workdir / "gunicorn.log"
    failed = False
    with gunicorn(env, log) as base:
        seed = json.loads(subprocess.run([sys.executable, "-m", "tests.tools.seed", base], env=env, check=True,
                                         capture_output=True, text=True).stdout)
        print(f"scan of {base} (database {workdir / 'scan.sqlite3'}), {options.seconds} s per role")
        # The client first: the member's crawl submits forms (withdraw, end) that close the client's link.
        for role in ("client", "member"):
            before, _ = status_counts(log)
            report = wapiti(role, seed, base, options.seconds, workdir)
            total, statuses = status_counts(log)
            found, accepted = findings(report)
            print(f"{role}: {total - before} requests; findings: {len(found)}; report {report}")
            for line in found + accepted:
                print("  " + line)
            failed = failed or bool(found)
        _, statuses = status_counts(log)
        print("responses by status over the whole scan: " + ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items())))
        if any(code >= 500 for code in statuses):
            print("server errors in the log: see " + str(log))
            failed = True
    if not options.keep and not failed:
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
