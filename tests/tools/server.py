"""Start the app under gunicorn (gunicorn.conf.py) on a loopback port, for ``make scan`` and ``make load``."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import requests

from directcontracts import ROOT
from directcontracts.config import ENV_KEYS


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def app_env(database_url: str, port: int, workdir: Path, **extra: str) -> dict[str, str]:
    """The environment of a staging-like app: a real secret, the offline gateway shared by the workers
    through a file, no mail server (emails stay in the outbox), nothing inherited from the caller's."""
    env = {k: v for k, v in os.environ.items() if k not in ENV_KEYS and k != "FLASK_APP"}
    env.update({
        "DATABASE_URL": database_url, "SECRET_KEY": os.urandom(24).hex(), "BASE_URL": f"http://127.0.0.1:{port}",
        "BIND": f"127.0.0.1:{port}", "ALLOW_TEST_GATEWAY": "1", "ALLOW_LOCAL_INBOX": "1",
        "TEST_GATEWAY_STORE": str(workdir / "test-gateway.json"),
    })
    env.update(extra)
    return env


def flask(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """``flask --app app ARGS`` in that environment; output captured."""
    return subprocess.run([sys.executable, "-m", "flask", "--app", "app", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True)


@contextmanager
def gunicorn(env: dict[str, str], log_path: Path, start_seconds: float = 30, args: tuple[str, ...] = (),
             ready_path: str = "/login"):
    """Serve until the block ends (``args``: gunicorn's own, after gunicorn.conf.py's); yields the base URL once
    ``ready_path`` answers. The access log goes to ``log_path``."""
    base = "http://" + env["BIND"]
    with log_path.open("w") as log:
        master = subprocess.Popen([sys.executable, "-m", "gunicorn", *args], cwd=ROOT, env=env, stdout=log,
                                  stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + start_seconds
            while True:
                try:
                    requests.get(base + ready_path, timeout=5)
                    break
                except requests.RequestException:  # not listening yet, or the workers still booting
                    if master.poll() is not None or time.monotonic() > deadline:
                        raise SystemExit("gunicorn did not start:\n" + log_path.read_text()[-3000:])
                    time.sleep(0.2)
            yield base
        finally:
            master.send_signal(signal.SIGTERM)
            try:
                master.wait(30)
            except subprocess.TimeoutExpired:
                master.kill()
                master.wait()


def status_counts(log_path: Path) -> tuple[int, dict[int, int]]:
    """Requests in a gunicorn access log (default format) and their count per status."""
    counts: dict[int, int] = {}
    total = 0
    for line in log_path.read_text(errors="replace").splitlines():
        parts = line.split('" ')
        if len(parts) < 2 or not line.startswith(("127.", "::1")):
            continue
        status = parts[1].split()[0]
        if status.isdigit():
            total += 1
            counts[int(status)] = counts.get(int(status), 0) + 1
    return total, counts
