"""The web server's worker timeout outlasts the payment gateway's: a worker is never killed mid-payment."""
from __future__ import annotations

import os
import runpy
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from directcontracts import config as cfg, create_app

ROOT = Path(__file__).resolve().parents[2]


def test_the_default_timeouts_leave_a_margin():
    defaults = {"BRAINTREE_CONNECT_TIMEOUT": 5, "BRAINTREE_READ_TIMEOUT": 30}
    assert cfg.worker_timeout(defaults) == 50
    cfg.check_worker_timeout(defaults, 50)
    cfg.check_worker_timeout(defaults, 0)  # no timeout at all
    with pytest.raises(cfg.ConfigError, match=r"^The worker timeout \(30 s\) must be at least 50 s"):
        cfg.check_worker_timeout(defaults, 30)  # gunicorn's own default


def test_gunicorn_conf_reads_the_apps_timeouts(monkeypatch):
    monkeypatch.delenv("GUNICORN_TIMEOUT", raising=False)
    monkeypatch.setenv("BRAINTREE_READ_TIMEOUT", "60")
    settings = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    assert settings["timeout"] == 5 + 60 + cfg.WORKER_TIMEOUT_MARGIN
    assert settings["wsgi_app"] == "app:app"


def test_the_app_refuses_a_worker_timeout_that_is_too_short(tmp_path):
    with pytest.raises(cfg.ConfigError, match="killed while a payment is being confirmed"):
        create_app({"TESTING": True, "SECRET_KEY": "x" * 32, "SQLALCHEMY_DATABASE_URI": "sqlite://",
                    "WORKER_TIMEOUT": 40})
    create_app({"TESTING": True, "SECRET_KEY": "x" * 32, "SQLALCHEMY_DATABASE_URI": "sqlite://",
                "WORKER_TIMEOUT": 50})


@pytest.mark.skipif(shutil.which("gunicorn", path=os.path.dirname(sys.executable)) is None,
                    reason="gunicorn not installed")
def test_gunicorn_refuses_to_start_with_its_default_timeout():
    gunicorn = shutil.which("gunicorn", path=os.path.dirname(sys.executable))
    env = dict(os.environ, DEMO="1", BIND="127.0.0.1:0")
    env.pop("GUNICORN_TIMEOUT", None)
    done = subprocess.run([gunicorn, "--timeout", "30"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == 1
    assert "The worker timeout (30 s) must be at least 50 s" in done.stderr
    assert "Traceback" not in done.stderr
