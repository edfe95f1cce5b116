"""Every refusal to start is one sentence on stderr naming the variable, never a traceback.

Each case starts a real process (``python -c "from app import app"``, a ``flask`` command, ``gunicorn``) in a
clean environment, as systemd or a shell would, and reads its stderr.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from directcontracts.config import ENV_KEYS

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SECRET = "s" * 40
BRAINTREE = {"BRAINTREE_MERCHANT_ID": "m", "BRAINTREE_PUBLIC_KEY": "p", "BRAINTREE_PRIVATE_KEY": "k"}
GUNICORN_KEYS = ("BIND", "WEB_CONCURRENCY", "GUNICORN_THREADS", "GUNICORN_TIMEOUT")

#: (what is wrong, environment, the variable the sentence must name)
REFUSALS = [
    ("no secret key", {}, "SECRET_KEY"),
    ("a short secret key", {"SECRET_KEY": "short"}, "SECRET_KEY"),
    ("no Braintree keys", {"SECRET_KEY": SECRET, "MAIL_SERVER": "smtp.example.com"}, "BRAINTREE_MERCHANT_ID"),
    ("no mail server", {"SECRET_KEY": SECRET} | BRAINTREE, "MAIL_SERVER"),
    ("a worker timeout too short", {"DEMO": "1", "WORKER_TIMEOUT": "30"}, "WORKER_TIMEOUT"),
    ("a port that is not a number", {"DEMO": "1", "MAIL_PORT": "twenty-five"}, "MAIL_PORT"),
    ("a gateway timeout that is not a number", {"DEMO": "1", "BRAINTREE_READ_TIMEOUT": "soon"},
     "BRAINTREE_READ_TIMEOUT"),
    ("a database URL that is not one", {"DEMO": "1", "DATABASE_URL": "my database"}, "DATABASE_URL"),
]
#: Under gunicorn the worker timeout is gunicorn's own (it sets WORKER_TIMEOUT for its workers).
GUNICORN_REFUSALS = [r for r in REFUSALS if r[2] != "WORKER_TIMEOUT"] + [
    ("gunicorn's timeout too short", {"DEMO": "1", "GUNICORN_TIMEOUT": "30"}, "GUNICORN_TIMEOUT"),
    ("gunicorn's threads not a number", {"DEMO": "1", "GUNICORN_THREADS": "many"}, "GUNICORN_THREADS"),
]


def clean_env(**settings) -> dict:
    """This process's environment without any of the app's or gunicorn's variables, plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if k not in ENV_KEYS and k not in GUNICORN_KEYS}
    return env | settings


def run(command: list[str], env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def assert_one_sentence(done: subprocess.CompletedProcess, variable: str) -> str:
    """Exit 1, and among stderr's lines exactly one that is not gunicorn's log: a sentence naming ``variable``."""
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip() and not line.startswith("[")]
    assert len(lines) == 1, done.stderr
    assert variable in lines[0] and lines[0].endswith("."), lines[0]
    return lines[0]


@pytest.mark.parametrize("case, settings, variable", REFUSALS, ids=[r[0] for r in REFUSALS])
def test_importing_the_app_refuses_in_one_sentence(case, settings, variable):
    done = run([sys.executable, "-c", "from app import app"], clean_env(**settings))
    line = assert_one_sentence(done, variable)
    assert line.startswith("Direct Contracts cannot start: ")


@pytest.mark.parametrize("case, settings, variable", REFUSALS[:4], ids=[r[0] for r in REFUSALS[:4]])
def test_flask_commands_refuse_in_one_sentence(case, settings, variable):
    done = run([str(BIN / "flask"), "--app", "app", "db", "upgrade"], clean_env(**settings))
    assert_one_sentence(done, variable)


@pytest.mark.skipif(not (BIN / "gunicorn").exists(), reason="gunicorn not installed")
@pytest.mark.parametrize("case, settings, variable", GUNICORN_REFUSALS, ids=[r[0] for r in GUNICORN_REFUSALS])
def test_gunicorn_refuses_before_any_worker_starts(case, settings, variable):
    """The master refuses: no worker is started (gunicorn would only restart a failing one forever)."""
    done = run([str(BIN / "gunicorn")], clean_env(BIND="127.0.0.1:0", **settings))
    assert_one_sentence(done, variable)
    assert "Booting worker" not in done.stderr


def test_a_staging_site_may_keep_the_local_inbox():
    env = clean_env(SECRET_KEY=SECRET, ALLOW_TEST_GATEWAY="1", ALLOW_LOCAL_INBOX="1",
                    DATABASE_URL="sqlite://")
    done = run([sys.executable, "-c", "from app import app; print(app.config['ALLOW_LOCAL_INBOX'])"], env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True"


@pytest.mark.skipif(shutil.which("make") is None, reason="make not installed")
def test_the_demo_links_to_the_port_it_serves():
    """``PORT=5050 make demo`` must not put http://127.0.0.1:5000 in every email link."""
    done = run(["make", "-n", "demo", "PORT=5050"], clean_env())
    assert done.returncode == 0, done.stderr
    app_lines = [line for line in done.stdout.splitlines() if "flask --app app" in line]
    assert app_lines
    for line in app_lines:  # migrations, seeding, the jobs and the server: every one sees the same address
        assert "BASE_URL=http://127.0.0.1:5050" in line, line
    assert "--port 5050" in done.stdout
