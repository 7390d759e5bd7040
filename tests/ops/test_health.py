"""/healthz and /readyz as a load balancer or an orchestrator sees them."""

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from fieldsvc import create_app
from fieldsvc.extensions import db
from fieldsvc.ops import NotReady, readiness, register_readiness_check
from tests.conftest import test_config as config_for


def unreachable(database_url: str, tmp_path) -> str:
    """The same kind of database, with its server down: a PostgreSQL port nothing listens
    on, an SQLite file in a folder that does not exist."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        return f"sqlite:///{tmp_path / 'gone' / 'fieldsvc.sqlite3'}"
    return url.set(host="127.0.0.1", port=1).render_as_string(hide_password=False)


@pytest.fixture
def app_without_database(database_url, tmp_path):
    app = create_app(config_for(unreachable(database_url, tmp_path), UPLOAD_DIR=str(tmp_path)))
    yield app
    with app.app_context():
        db.engine.dispose()


def test_healthz_answers_while_the_database_is_down(app_without_database):
    response = app_without_database.test_client().get("/healthz")

    assert response.status_code == 200
    assert response.json == {"status": "alive"}


def test_readyz_is_ready_and_names_every_check_when_all_pass(client):
    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json == {
        "status": "ready",
        "checks": {
            "database": {"state": "ok"},
            "migrations": {"state": "ok"},
            "storage": {"state": "ok"},
            "queue": {"state": "ok"},
        },
    }


def test_readyz_is_503_naming_the_database_when_it_is_down(app_without_database, database_url):
    response = app_without_database.test_client().get("/readyz")

    assert response.status_code == 503
    assert response.json["status"] == "not ready"
    assert response.json["checks"]["database"] == {"state": "failing", "reason": "unreachable"}
    assert response.json["checks"]["storage"] == {"state": "ok"}
    # Nothing of the driver's message (host, port, file, user) reaches a public answer.
    body = response.get_data(as_text=True)
    assert "127.0.0.1" not in body and "gone" not in body and "sqlite" not in body.lower()


def test_readyz_is_503_while_a_migration_is_pending(client, app):
    # The code was deployed with one more migration than the database has run.
    db.session.execute(text("UPDATE alembic_version SET version_num = '0013_time_zones'"))

    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json["checks"]["database"] == {"state": "ok"}
    failing = response.json["checks"]["migrations"]
    assert failing["state"] == "failing"
    assert "database at 0013_time_zones" in failing["reason"]
    assert f"code expects {', '.join(sorted(readiness.script_heads()))}" in failing["reason"]
    assert "db upgrade" in failing["reason"]


def test_a_feature_registers_its_own_readiness_check(client, monkeypatch):
    monkeypatch.setattr(readiness, "_checks", readiness.registered_checks())

    def queue_is_stuck():
        raise NotReady("no worker has taken a job for 10 minutes")

    register_readiness_check("queue", queue_is_stuck)
    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json["checks"]["queue"] == {
        "state": "failing",
        "reason": "no worker has taken a job for 10 minutes",
    }
    assert response.json["checks"]["database"] == {"state": "ok"}


def test_health_answers_set_no_cookie_even_for_a_signed_in_browser(client, make_user):
    client.sign_in(make_user().email)

    for path in ("/healthz", "/readyz"):
        response = client.get(path)
        assert response.status_code == 200
        assert "Set-Cookie" not in response.headers


def test_health_answers_over_plain_http_where_pages_redirect_to_https(database_url, tmp_path):
    app = create_app(config_for(database_url, UPLOAD_DIR=str(tmp_path), FORCE_HTTPS=True))
    client = app.test_client()

    assert client.get("/login").status_code == 302  # pages: to https
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200
    with app.app_context():
        db.engine.dispose()
