"""The files a shop copies from ``deploy/`` are valid, and agree with the app.

- the environment example lists exactly the variables the app (``config.ENV_KEYS``) and ``gunicorn.conf.py``
  read, each with a comment;
- the nginx site passes ``nginx -t`` (certbot's certificate paths replaced by a self-signed pair made here),
  and a running nginx logs client links as ``/c/[token]`` and serves static files with their cache lifetimes;
- the systemd units pass ``systemd-analyze verify`` without a warning;
- the three agree with each other and the app: the same EnvironmentFile, TRUSTED_PROXIES=1 behind one
  proxy, client_max_body_size above MAX_CONTENT_LENGTH, proxy timeouts above the worker timeout.
"""
from __future__ import annotations

import ast
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from directcontracts import config as cfg

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
ENV_EXAMPLE = DEPLOY / "directcontracts.env.example"
SITE = DEPLOY / "nginx-directcontracts.conf"
UNITS = ["directcontracts-web.service", "directcontracts-jobs.service", "directcontracts-jobs.timer"]
TOKEN = "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789_-abcd"  # 42 URL-safe characters, like a real link's


def nginx_binary() -> str | None:
    return shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")


def gunicorn_env_keys() -> set[str]:
    """The variables gunicorn.conf.py reads: the first argument of each os.environ.get / _whole_number call."""
    tree = ast.parse((ROOT / "gunicorn.conf.py").read_text())
    keys = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            name = ast.unparse(node.func)
            if name in ("os.environ.get", "_whole_number"):
                keys.add(node.args[0].value)
    return keys


def example_entries() -> list[tuple[str, str, bool, list[str]]]:
    """(name, value, set or commented out, its comment) for each variable of the example; variables on
    consecutive lines share the comment above the first of them."""
    entries, comments, after_entry = [], [], False
    for line in ENV_EXAMPLE.read_text().splitlines():
        match = re.match(r"^(#?)([A-Z][A-Z0-9_]*)=(.*)$", line)
        if match:
            entries.append((match[2], match[3], not match[1], comments))
            after_entry = True
        elif line.startswith("#"):
            comments = [line] if after_entry else comments + [line]
            after_entry = False
        elif not line.strip():
            comments, after_entry = [], False
    return entries


# --- the environment file ---------------------------------------------------------------------------------

def test_gunicorn_conf_reads_what_its_docstring_says():
    assert gunicorn_env_keys() == {"BIND", "WEB_CONCURRENCY", "GUNICORN_THREADS", "GUNICORN_TIMEOUT"}


def test_the_env_example_lists_exactly_the_variables_read():
    names = [name for name, *_ in example_entries()]
    assert len(names) == len(set(names)), "a variable listed twice"
    assert set(names) == set(cfg.ENV_KEYS) | gunicorn_env_keys()


def test_every_variable_of_the_env_example_is_explained_with_its_default():
    for name, _value, _set, comments in example_entries():
        assert comments, f"{name} has no comment above it"
        assert "default" in " ".join(comments).lower(), f"{name}: its comment gives no default"
    values = {name: (value, is_set) for name, value, is_set, _ in example_entries()}
    # what a real shop must set is set; staging switches and the demo are not
    for name in ("SECRET_KEY", "BASE_URL", "DATABASE_URL", "TRUSTED_PROXIES", "MAIL_SERVER",
                 "BRAINTREE_MERCHANT_ID", "BRAINTREE_PUBLIC_KEY", "BRAINTREE_PRIVATE_KEY"):
        assert values[name][1], f"{name} should be set in the example"
    for name in ("DEMO", "ALLOW_TEST_GATEWAY", "ALLOW_LOCAL_INBOX", "WORKER_TIMEOUT"):
        assert not values[name][1], f"{name} must not be set on a real site"
    assert values["TRUSTED_PROXIES"][0] == "1"
    assert values["BASE_URL"][0].startswith("https://")


def test_the_env_example_as_systemd_reads_it_passes_the_apps_checks():
    """The example's set values make a configuration the app accepts (no refusal but a real key)."""
    settings = {name: value.strip('"') for name, value, is_set, _ in example_entries() if is_set}
    config = cfg.from_environment(settings)
    cfg.check_production(config)
    assert config["MAIL_DEFAULT_SENDER"] == "Example Shop <contracts@example.com>"


# --- systemd ----------------------------------------------------------------------------------------------

def test_the_units_share_one_environment_file_and_user():
    texts = {name: (DEPLOY / name).read_text() for name in UNITS}
    for name in ("directcontracts-web.service", "directcontracts-jobs.service"):
        assert "EnvironmentFile=/etc/directcontracts/directcontracts.env\n" in texts[name]
        assert "User=directcontracts\n" in texts[name]
        assert "WorkingDirectory=/srv/directcontracts\n" in texts[name]
        assert "NoNewPrivileges=yes" in texts[name] and "ProtectSystem=strict" in texts[name]
    assert "--config /srv/directcontracts/gunicorn.conf.py" in texts["directcontracts-web.service"]
    assert "flask --app app jobs run-due\n" in texts["directcontracts-jobs.service"]
    assert "OnCalendar=*-*-* *:*:00\n" in texts["directcontracts-jobs.timer"]
    assert "Unit=directcontracts-jobs.service" in texts["directcontracts-jobs.timer"]


def test_manual_commands_run_as_the_services_do():
    """deploy/directcontracts-flask (README's manual commands) uses the units' user, directory and environment."""
    helper = (DEPLOY / "directcontracts-flask").read_text()
    for setting in ("User=directcontracts", "Group=directcontracts", "WorkingDirectory=/srv/directcontracts",
                    "EnvironmentFile=/etc/directcontracts/directcontracts.env"):
        assert f"--property={setting} " in helper
        assert f"{setting}\n" in (DEPLOY / "directcontracts-jobs.service").read_text()
    assert '/srv/directcontracts/.venv/bin/flask --app app "$@"' in helper
    assert subprocess.run(["sh", "-n", str(DEPLOY / "directcontracts-flask")]).returncode == 0


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_systemd_analyze_verifies_the_units(tmp_path):
    """The executables are the ones of this checkout (verify refuses a unit whose ExecStart does not exist)."""
    for name in UNITS:
        text = (DEPLOY / name).read_text()
        text = text.replace("/srv/directcontracts/.venv/bin", str(Path(sys.executable).parent))
        text = text.replace("/srv/directcontracts", str(ROOT))
        (tmp_path / name).write_text(text)
    done = subprocess.run(["systemd-analyze", "verify", *[str(tmp_path / n) for n in UNITS]],
                          capture_output=True, text=True, timeout=60)
    if done.returncode and "Failed to" in done.stderr and "bus" in done.stderr.lower():
        pytest.skip(f"systemd-analyze cannot run here: {done.stderr.strip()}")
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == "", done.stderr  # an unknown key or a bad value is only a warning


# --- nginx ------------------------------------------------------------------------------------------------

def test_the_site_agrees_with_the_app():
    site = SITE.read_text()
    body = re.search(r"client_max_body_size (\d+)m;", site)
    assert body and int(body[1]) * 1024 * 1024 > cfg.Defaults.MAX_CONTENT_LENGTH
    read = re.search(r"proxy_read_timeout (\d+)s;", site)
    assert read and int(read[1]) > cfg.worker_timeout(vars(cfg.Defaults))
    assert "proxy_set_header X-Forwarded-For $remote_addr;" in site  # the one address TRUSTED_PROXIES=1 trusts
    assert "proxy_set_header X-Forwarded-Proto $scheme;" in site
    assert "proxy_set_header Host $host;" in site
    assert "server 127.0.0.1:8000;" in site  # gunicorn.conf.py's default BIND
    # headers the app sets itself are not added to proxied responses (a second, different copy would conflict)
    proxied = site[site.rindex("    location / {"):]
    server_level = site[site.index("listen 443"):site.index("    location /static/vendor/")]
    for header in ("Content-Security-Policy", "X-Frame-Options", "Referrer-Policy", "Strict-Transport-Security",
                   "X-Content-Type-Options"):
        assert f"add_header {header}" not in proxied + server_level


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_nginx_prefix(tmp_path: Path, http_port: int = 80, https_port: int = 443) -> Path:
    """A tmp dir with nginx.conf including the site, a self-signed certificate where certbot puts its own,
    logs in tmp, the static files of this checkout and the given ports."""
    if not shutil.which("openssl"):
        pytest.skip("openssl not installed: cannot make the test certificate")
    certs = tmp_path / "letsencrypt"
    certs.mkdir()
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=contracts.example.com", "-keyout", str(certs / "privkey.pem"),
                    "-out", str(certs / "fullchain.pem")], check=True, capture_output=True, timeout=60)
    logs = tmp_path / "logs"
    logs.mkdir()
    site = SITE.read_text()
    site = site.replace("/etc/letsencrypt/live/contracts.example.com", str(certs))
    site = site.replace("/var/log/nginx", str(logs))
    site = site.replace("/srv/directcontracts", str(ROOT))
    site = site.replace("listen 80;", f"listen 127.0.0.1:{http_port};").replace("listen [::]:80;", "")
    site = re.sub(r"listen 443 ssl", f"listen 127.0.0.1:{https_port} ssl", site)
    site = re.sub(r"\n\s*listen \[::\]:443[^\n]*", "", site)
    (tmp_path / "site.conf").write_text(site)
    temp = tmp_path / "temp"
    temp.mkdir()
    (tmp_path / "nginx.conf").write_text(f"""
pid {tmp_path}/nginx.pid;
error_log {logs}/error.log;
daemon on;
events {{}}
http {{
    include /etc/nginx/mime.types;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    include {tmp_path}/site.conf;
}}
""")
    return tmp_path


def run_nginx(prefix: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([nginx_binary(), "-p", str(prefix), "-e", str(prefix / "logs" / "error.log"),
                           "-c", str(prefix / "nginx.conf"), *args], capture_output=True, text=True, timeout=60)


needs_nginx = pytest.mark.skipif(nginx_binary() is None,
                                 reason="nginx not installed (Debian: apt-get install -y nginx)")


@needs_nginx
def test_nginx_accepts_the_site(tmp_path):
    prefix = make_nginx_prefix(tmp_path)
    done = run_nginx(prefix, "-t")
    assert done.returncode == 0, done.stderr
    assert "syntax is ok" in done.stderr and "test is successful" in done.stderr


@needs_nginx
def test_nginx_redacts_client_links_and_serves_static_files(tmp_path):
    """A running nginx (the app is not running: proxied requests get a 502, which are logged all the same)."""
    http_port, https_port = free_port(), free_port()
    prefix = make_nginx_prefix(tmp_path, http_port, https_port)
    started = run_nginx(prefix)
    if started.returncode:
        pytest.skip(f"nginx cannot run here: {started.stderr.strip()}")
    import ssl

    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE

    def get(path: str, port: int = https_port, scheme: str = "https"):
        request = urllib.request.Request(f"{scheme}://127.0.0.1:{port}{path}",
                                         headers={"Host": "contracts.example.com",
                                                  "Referer": f"https://elsewhere.example/c/{TOKEN}"})
        opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=context),
                                             NoRedirect())
        try:
            return opener.open(request, timeout=10)
        except urllib.error.HTTPError as error:
            return error

    try:
        for _ in range(50):
            if (prefix / "nginx.pid").exists():
                break
            time.sleep(0.1)
        redirect = get(f"/c/{TOKEN}", port=http_port, scheme="http")
        assert redirect.status == 301
        assert redirect.headers["Location"] == f"https://contracts.example.com/c/{TOKEN}"
        assert get(f"/c/{TOKEN}/fund?x=1").status == 502
        assert get(f"/login?next=/c/{TOKEN}").status == 502

        css = get("/static/app.css")
        assert css.status == 200
        assert css.headers["Cache-Control"] == "public, max-age=3600"
        assert css.headers["X-Content-Type-Options"] == "nosniff"
        versioned = get("/static/app.css?v=0123456789ab")  # the URLs the app's pages link
        assert versioned.status == 200
        assert versioned.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        htmx = get("/static/vendor/htmx-4.0.1.min.js")
        assert htmx.status == 200
        assert htmx.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert get("/static../app.py").status != 200  # no path out of static/ (alias with both slashes)
    finally:
        run_nginx(prefix, "-s", "stop")
        for _ in range(50):
            if not (prefix / "nginx.pid").exists():
                break
            time.sleep(0.1)
    log = (prefix / "logs" / "directcontracts.access.log").read_text()
    assert TOKEN not in log
    assert "GET /c/[token] HTTP/1.1\" 301" in log
    assert "GET /c/[token]/fund?x=1 HTTP/1.1\" 502" in log
    assert "GET /login?next=/c/[token] HTTP/1.1\" 502" in log
    assert '"https://elsewhere.example/c/[token]"' in log


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


@needs_nginx
@pytest.mark.skipif(not (Path(sys.executable).parent / "gunicorn").exists(), reason="gunicorn not installed")
def test_the_app_behind_the_site(tmp_path):
    """gunicorn (gunicorn.conf.py, TRUSTED_PROXIES=1, an https BASE_URL) behind the site: one copy of each
    security header, the app's own; Permissions-Policy from nginx; the client's address is the one nginx saw,
    and it serves the app's pages."""
    import os
    import ssl

    app_port, http_port, https_port = free_port(), free_port(), free_port()
    prefix = make_nginx_prefix(tmp_path, http_port, https_port)
    site = (prefix / "site.conf").read_text().replace("server 127.0.0.1:8000;", f"server 127.0.0.1:{app_port};")
    (prefix / "site.conf").write_text(site)
    env = {k: v for k, v in os.environ.items() if k not in cfg.ENV_KEYS}
    env |= {"DEMO": "1", "TRUSTED_PROXIES": "1", "BASE_URL": "https://contracts.example.com",
            "DATABASE_URL": f"sqlite:///{tmp_path}/app.sqlite3", "BIND": f"127.0.0.1:{app_port}",
            "WEB_CONCURRENCY": "1", "TEST_GATEWAY_STORE": str(tmp_path / "tg.json")}
    bin_dir = Path(sys.executable).parent
    subprocess.run([str(bin_dir / "flask"), "--app", "app", "db", "upgrade"], cwd=ROOT, env=env, check=True,
                   capture_output=True, timeout=120)
    gunicorn = subprocess.Popen([str(bin_dir / "gunicorn"), "--config", str(ROOT / "gunicorn.conf.py")], cwd=ROOT,
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    started = run_nginx(prefix)
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=context), NoRedirect())

    def get(path: str, headers: dict | None = None):
        request = urllib.request.Request(f"https://127.0.0.1:{https_port}{path}",
                                         headers={"Host": "contracts.example.com"} | (headers or {}))
        try:
            return opener.open(request, timeout=10)
        except urllib.error.HTTPError as error:
            return error

    try:
        if started.returncode:
            pytest.skip(f"nginx cannot run here: {started.stderr.strip()}")
        for _ in range(100):
            page = get("/setup")
            if page.status != 502:
                break
            time.sleep(0.2)
        assert page.status == 200, page.read()
        for header in ("Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options",
                       "Referrer-Policy", "Strict-Transport-Security", "Permissions-Policy"):
            assert len(page.headers.get_all(header) or []) == 1, header
        assert page.headers["Strict-Transport-Security"] == "max-age=31536000"  # the app's, as BASE_URL is https
        assert "Secure" in page.headers["Set-Cookie"]
    finally:
        run_nginx(prefix, "-s", "stop")
        gunicorn.terminate()
        gunicorn.communicate(timeout=30)


def test_trusted_proxies_takes_the_address_nginx_sets():
    """With TRUSTED_PROXIES=1 the app takes X-Forwarded-For's last address and X-Forwarded-Proto: the site sets
    the first to $remote_addr (replacing whatever the client sent), so a client cannot choose its address."""
    from flask import request

    from directcontracts import create_app
    from directcontracts.extensions import db

    app = create_app({"TESTING": True, "SECRET_KEY": "x" * 32, "SQLALCHEMY_DATABASE_URI": "sqlite://",
                      "TRUSTED_PROXIES": 1})
    seen = []
    # first of all before-request functions (the setup redirect would otherwise answer first)
    app.before_request_funcs.setdefault(None, []).insert(0, lambda: seen.append((request.remote_addr,
                                                                                 request.scheme)))
    with app.app_context():
        db.create_all()
        client = app.test_client()
        client.get("/login", headers={"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"},
                   environ_base={"REMOTE_ADDR": "127.0.0.1"})
        # had the site appended to the client's header ($proxy_add_x_forwarded_for), the last one still wins
        client.get("/login", headers={"X-Forwarded-For": "10.9.9.9, 203.0.113.7"},
                   environ_base={"REMOTE_ADDR": "127.0.0.1"})
        db.drop_all()
    assert seen == [("203.0.113.7", "https"), ("203.0.113.7", "http")]
