"""The owner's health panel on the settings page: the checks as last kept, never run by a page view;
"Check now" (plain POST and htmx), and ``jobs run-due`` refreshing it every HEALTH_REFRESH_MINUTES."""
from datetime import timedelta

from directcontracts.models import OpsRecord, utcnow
from directcontracts.services import health


def test_never_checked_and_a_view_runs_nothing(logged_in, monkeypatch):
    def refuse(**_):
        raise AssertionError("a page view must not run the checks")

    monkeypatch.setattr(health, "run_all", refuse)
    page = logged_in.get("/admin/settings")
    assert page.status_code == 200 and 'data-testid="health-never"' in page.text
    assert 'id="health-panel"' in page.text


def test_check_now_keeps_the_result_and_the_page_shows_it(app, logged_in, db, monkeypatch, tmp_path):
    monkeypatch.setitem(app.config, "BACKUP_DIR", str(tmp_path))
    r = logged_in.post("/admin/settings/health")
    assert r.status_code == 303 and r.location.endswith("/admin/settings")
    page = logged_in.get(r.location).text
    assert "Health checked." in page
    # the suite's database: not migrated (so Braintree and jobs are not checked), the test SECRET_KEY,
    # an http BASE_URL, no SMTP, no backups
    assert page.count('data-testid="health-fail"') == 5 and page.count('data-testid="health-warn"') == 2
    assert "5 problems" in page and "run `flask --app app db upgrade`" in page
    assert db.session.get(OpsRecord, health.HEALTH_RECORD) is not None


def test_check_now_with_htmx_returns_the_panel(logged_in):
    r = logged_in.post("/admin/settings/health", htmx=True)
    assert r.status_code == 200 and "<html" not in r.text
    assert r.text.lstrip().startswith('<section id="health-panel"')
    assert "HX-Request" in r.headers["Vary"] and 'data-testid="health-fail"' in r.text


def test_check_now_needs_the_csrf_token(logged_in):
    assert logged_in.post("/admin/settings/health", csrf=False).status_code == 400


def test_the_settings_form_refused_still_shows_the_panel(logged_in):
    logged_in.post("/admin/settings/health")
    page = logged_in.post("/admin/settings", {"fee_percent": "x"})
    assert page.status_code == 422 and 'data-testid="health-fail"' in page.text


def test_jobs_refresh_the_panel_every_n_minutes(app, db, runner, monkeypatch, stamp):
    stamp()
    monkeypatch.setitem(app.config, "HEALTH_REFRESH_MINUTES", 15)
    calls = []
    real = health.run_all
    monkeypatch.setattr(health, "run_all", lambda **kw: calls.append(kw) or real(**kw))
    assert runner.invoke(args=["jobs", "run-due"]).exit_code == 0
    assert runner.invoke(args=["jobs", "run-due"]).exit_code == 0
    assert calls == [{}]  # once: the second run finds it fresh; neither fetches the URL nor sends email
    at, checks = health.cached()
    assert {c.item: c.status for c in checks}["jobs"] == "ok"  # the run is recorded before the checks
    db.session.get(OpsRecord, health.HEALTH_RECORD).at = utcnow() - timedelta(minutes=16)
    db.session.commit()
    assert runner.invoke(args=["jobs", "run-due"]).exit_code == 0
    assert len(calls) == 2
