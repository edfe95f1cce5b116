"""Direct Contracts: fixed-price contracts with escrow for freelancers.

``create_app`` is the application factory (defaults → instance/config.py →
environment → ``test_config``).
"""
from __future__ import annotations

import logging
import os

from flask import Flask

from . import config as cfg
from .extensions import csrf, db, limiter, login_manager, mail, migrate

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def create_app(test_config: dict | None = None) -> Flask:
    """Build the app. ``test_config`` overrides everything (tests)."""
    app = Flask(
        __name__,
        instance_path=os.path.join(ROOT, "instance"),
        instance_relative_config=True,
        template_folder=os.path.join(ROOT, "templates"),
        static_folder=os.path.join(ROOT, "static"),
    )
    app.config.from_object(cfg.Defaults)
    app.config.from_pyfile("config.py", silent=True)
    app.config.from_mapping(cfg.from_environment())
    if test_config:
        app.config.from_mapping(test_config)
    _finish_config(app)
    cfg.check_production(app.config)
    cfg.check_worker_timeout(app.config, app.config.get("WORKER_TIMEOUT"), source="WORKER_TIMEOUT")

    register_extensions(app)
    register_edge(app)
    register_blueprints(app)
    register_errorhandlers(app)
    register_template_helpers(app)
    register_commands(app)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from .redaction import install_log_redaction

    install_log_redaction()
    return app


def _finish_config(app: Flask) -> None:
    os.makedirs(app.instance_path, exist_ok=True)
    if not app.config.get("SQLALCHEMY_DATABASE_URI"):
        app.config["SQLALCHEMY_DATABASE_URI"] = "sqlite:///" + os.path.join(
            app.instance_path, "directcontracts.sqlite3")
    if not app.config.get("SECRET_KEY") and (app.debug or app.config.get("DEMO")):
        app.config["SECRET_KEY"] = cfg.demo_secret_key(app.instance_path)
    if app.config.get("TRUSTED_PROXIES"):
        # The client's address (rate limits, signatures) is the one the proxies in front saw.
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=app.config["TRUSTED_PROXIES"], x_proto=1)
    if app.config["BASE_URL"].startswith("https://"):
        app.config["SESSION_COOKIE_SECURE"] = True
        app.config["REMEMBER_COOKIE_SECURE"] = True
    app.config["BRAINTREE_MERCHANT_ACCOUNTS"] = cfg.parse_merchant_accounts(
        app.config.get("BRAINTREE_MERCHANT_ACCOUNTS", ""))
    if app.config.get("DEMO") and not app.config.get("TEST_GATEWAY_STORE"):
        # the demo's test-gateway sales survive restarts and are shared by processes
        app.config["TEST_GATEWAY_STORE"] = os.path.join(app.instance_path, "test-gateway.json")
    if app.config.get("DEMO") and app.config.get("TEST_GATEWAY_SETTLE_AFTER") is None:
        app.config["TEST_GATEWAY_SETTLE_AFTER"] = 300  # sales settle 5 minutes after they are made


def register_extensions(app: Flask) -> None:
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        db.init_app(app)  # builds the engine: an unreadable URL fails here, before any request
    except (ArgumentError, NoSuchModuleError, ImportError):
        raise cfg.ConfigError("DATABASE_URL is not a database URL this app can use: give one such as "
                              "postgresql://user:password@127.0.0.1:5432/directcontracts.") from None
    migrate.init_app(app, db, directory=os.path.join(ROOT, "migrations"))
    csrf.init_app(app)
    mail.init_app(app)
    login_manager.init_app(app)
    limiter.init_app(app)

    from .payments import make_gateway

    # One gateway (and so one Braintree SDK client) per process.
    app.extensions["gateway"] = make_gateway(app.config)

    from . import models  # noqa: F401  (register the tables)
    from .web import sessions

    sessions.register(app)


def register_edge(app: Flask) -> None:
    """Input cleaning, id converters, body limit and security headers (web/edge.py), and versioned static
    files (web/static_files.py), before any route."""
    from .web import static_files
    from .web.edge import register

    register(app)
    static_files.register(app)  # versioned static URLs, cached for a year when the URL has the hash


def register_blueprints(app: Flask) -> None:
    from .web import admin, auth, brand, client, dev, freelancer, health, webhooks
    from .web import chargebacks  # noqa: F401  (its routes join the admin blueprint before it is registered)

    for module in (auth, freelancer, client, admin, dev, webhooks, health, brand):
        app.register_blueprint(module.bp)
    brand.register(app)


def register_errorhandlers(app: Flask) -> None:
    from .web.errors import register

    register(app)


def register_template_helpers(app: Flask) -> None:
    from .web.helpers import register

    register(app)


def register_commands(app: Flask) -> None:
    from .cli import register

    register(app)
