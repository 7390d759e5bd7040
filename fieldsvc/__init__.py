"""fieldsvc: field-service incidents and remediation proposals."""

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from fieldsvc import (
    assets,
    config,
    errors,
    installation,
    ops,
    ranges,
    rate_limits,
    storage,
    templating,
)
from fieldsvc.auth import session_cookie
from fieldsvc.extensions import (
    csrf,
    db,
    login_manager,
    migrate,
    talisman,
)
from fieldsvc.jobs import queue as jobs_queue

ROOT = Path(__file__).resolve().parent.parent


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    with installation.refusals_said_plainly():
        settings_file = installation.load_settings_file()
        app = ops.App(
            __name__,
            instance_path=installation.instance_dir(),
            instance_relative_config=True,
            template_folder=str(ROOT / "templates"),
        )
        # Before anything asks for the template environment (the extensions add to it).
        app.jinja_environment = templating.PageEnvironment
        app.config.from_mapping(config.from_environment(app.instance_path))
        if test_config:
            app.config.from_mapping(test_config)
        config.check(app.config)
        installation.check_not_missing_production(app.config)
    installation.announce_command(app.config, settings_file)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    config.provide_audit_keys(app.config)
    if app.config["TRUSTED_PROXIES"]:
        hops = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)

    session_cookie.init_app(app)
    db.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"), render_as_batch=True)
    csrf.init_app(app)
    session_cookie.init_csrf_token(app)
    rate_limits.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please sign in to open that page."
    talisman.init_app(
        app,
        force_https=app.config["FORCE_HTTPS"],
        session_cookie_secure=app.config["SESSION_COOKIE_SECURE"],
        content_security_policy=storage.content_security_policy(app.config),
        # Status-page links carry their token: no page of ours tells another site its URL.
        referrer_policy="no-referrer",
    )
    assets.init_app(app)
    errors.init_app(app)
    ranges.init_app(app)
    jobs_queue.init_app(app)
    ops.init_app(app)
    _register_blueprints(app)
    return app


def _import_models() -> None:
    """Every mapped class, before any view configures the mappers: relationships
    between features are named by string and resolved together."""
    from fieldsvc.api import models as _api  # noqa: F401
    from fieldsvc.auth import models as _auth  # noqa: F401
    from fieldsvc.customers import models as _customers  # noqa: F401
    from fieldsvc.imports import models as _imports  # noqa: F401
    from fieldsvc.incidents import models as _incidents  # noqa: F401
    from fieldsvc.mail import models as _mail  # noqa: F401
    from fieldsvc.parts import models as _parts  # noqa: F401
    from fieldsvc.portal import models as _portal  # noqa: F401
    from fieldsvc.proposals import models as _proposals  # noqa: F401
    from fieldsvc.reminders import models as _reminders  # noqa: F401
    from fieldsvc.reports import models as _reports  # noqa: F401
    from fieldsvc.reports import rollups as _rollups  # noqa: F401  (keeps the figures)
    from fieldsvc.webhooks import models as _webhooks  # noqa: F401


def _register_blueprints(app: Flask) -> None:
    _import_models()
    from fieldsvc import database_roles, demo, template_filters
    from fieldsvc.api import views as api_views
    from fieldsvc.audit import cli as audit_cli
    from fieldsvc.auth import cli as users_cli
    from fieldsvc.auth import views as auth
    from fieldsvc.backup import cli as backup_cli
    from fieldsvc.customers import views as customers
    from fieldsvc.dashboard import views as dashboard
    from fieldsvc.home import views as home
    from fieldsvc.imports import views as imports
    from fieldsvc.incidents import views as incidents
    from fieldsvc.jobs import cli as jobs_cli
    from fieldsvc.mail import cli as mail_cli
    from fieldsvc.mail import views as mail_views
    from fieldsvc.offline import views as offline
    from fieldsvc.ops import views as ops_views
    from fieldsvc.outbox import views as outbox
    from fieldsvc.parts import views as parts
    from fieldsvc.portal import staff as portal_staff
    from fieldsvc.portal import views as portal
    from fieldsvc.proposals import cli as proposals_cli
    from fieldsvc.proposals import views as proposals
    from fieldsvc.reminders import cli as reminders_cli
    from fieldsvc.reports import cli as reports_cli
    from fieldsvc.reports import views as reports
    from fieldsvc.webhooks import views as webhooks

    for blueprint in (
        home.bp,
        auth.bp,
        customers.bp,
        imports.bp,
        parts.bp,
        incidents.bp,
        outbox.bp,
        proposals.bp,
        dashboard.bp,
        portal.bp,
        portal_staff.bp,
        offline.bp,
        reports.bp,
        mail_views.bp,
        webhooks.bp,
        proposals_cli.bp,
        jobs_cli.bp,
        mail_cli.bp,
        reminders_cli.bp,
        reports_cli.bp,
        audit_cli.bp,
        backup_cli.bp,
        backup_cli.storage_bp,
        users_cli.bp,
        demo.bp,
        ops_views.bp,
    ):
        app.register_blueprint(blueprint)
    app.register_error_handler(429, auth.too_many_attempts)
    template_filters.init_app(app)
    database_roles.init_cli()
    api_views.init_app(app)
