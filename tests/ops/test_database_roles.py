"""Two PostgreSQL roles: the migrations run as the owner of the tables, the app as a role
that can read and write its data but cannot change, empty or unprotect the audit trail.

One fresh database in the tests' throw-away cluster, created with the roles by
deploy/postgres/create-roles.sql and migrated with `flask db upgrade` as the owner; the
app then runs as the second role."""

import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from flask import Flask
from psycopg import sql
from sqlalchemy import select
from sqlalchemy.engine import URL, make_url

from fieldsvc import create_app
from fieldsvc.auth.models import Role
from fieldsvc.extensions import db
from fieldsvc.incidents.models import Incident
from tests import postgres
from tests.conftest import CsrfClient
from tests.conftest import test_config as config_for
from tests.incidents.test_reporting import _form

CREATE_ROLES = Path(__file__).parents[2] / "deploy" / "postgres" / "create-roles.sql"


@dataclass(frozen=True)
class Roles:
    owner: str
    app: str
    owner_url: URL
    app_url: URL
    superuser_url: URL
    upgrade_output: str


def _dsn(url: URL) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def _app(roles_url: URL, owner_url: URL, app_role: str, uploads: Path) -> Flask:
    return create_app(
        config_for(
            roles_url.render_as_string(hide_password=False),
            MIGRATION_DATABASE_URI=owner_url.render_as_string(hide_password=False),
            APP_DATABASE_ROLE=app_role,
            UPLOAD_DIR=str(uploads),
        )
    )


@pytest.fixture(scope="module")
def roles(postgresql_url: str, tmp_path_factory) -> Iterator[Roles]:
    superuser = make_url(postgresql_url)
    suffix = uuid.uuid4().hex[:8]
    owner, app_role, database = f"owner_{suffix}", f"app_{suffix}", f"roles_{suffix}"
    # The first day's own script, as an operator runs it with psql.
    created = subprocess.run(
        [
            str(postgres.find_bindir() / "psql"),
            _dsn(superuser.set(database="postgres")),
            *("-v", f"owner={owner}", "-v", f"app={app_role}", "-v", f"database={database}"),
            *("-v", "owner_password=owner-secret", "-v", "app_password=app-secret"),
            *("-f", str(CREATE_ROLES)),
        ],
        capture_output=True,
        text=True,
    )
    assert created.returncode == 0, created.stderr
    owner_url = superuser.set(username=owner, database=database)
    app_url = superuser.set(username=app_role, database=database)
    app = _app(app_url, owner_url, app_role, tmp_path_factory.mktemp("uploads"))
    upgrade = app.test_cli_runner().invoke(args=["db", "upgrade"])
    with app.app_context():
        db.engine.dispose()
    assert upgrade.exit_code == 0, upgrade.output
    try:
        yield Roles(owner, app_role, owner_url, app_url, superuser, upgrade.output)
    finally:
        with psycopg.connect(_dsn(superuser), autocommit=True) as connection:
            connection.execute(
                sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(database))
            )
            for role in (app_role, owner):
                connection.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


@pytest.fixture
def app(roles: Roles, tmp_path) -> Iterator[Flask]:
    """The app as it runs in production: its own role, real commits."""
    app = _app(roles.app_url, roles.owner_url, roles.app, tmp_path / "uploads")
    app.test_client_class = CsrfClient
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


def _as(url: URL, statement: str) -> None:
    with psycopg.connect(_dsn(url)) as connection:
        connection.execute(statement)


def _table_privileges(roles: Roles, table: str) -> set[str]:
    with psycopg.connect(_dsn(roles.owner_url)) as connection:
        rows = connection.execute(
            "SELECT privilege_type FROM information_schema.role_table_grants "
            "WHERE grantee = %s AND table_name = %s",
            (roles.app, table),
        )
        return {privilege for (privilege,) in rows}


def test_migrations_leave_every_table_owned_by_the_owner_and_granted_to_the_app(roles):
    with psycopg.connect(_dsn(roles.owner_url)) as connection:
        owners = {
            owner
            for (owner,) in connection.execute(
                "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'"
            )
        }

    assert owners == {roles.owner}
    assert f"granted '{roles.app}'" in roles.upgrade_output
    assert _table_privileges(roles, "incidents") == {"SELECT", "INSERT", "UPDATE", "DELETE"}
    assert _table_privileges(roles, "audit_events") == {"SELECT", "INSERT"}
    assert _table_privileges(roles, "alembic_version") == {"SELECT"}


def test_the_app_role_records_an_incident_whose_trail_verifies(
    app, client, runner, make_team, make_user, make_site
):
    team = make_team()
    technician = make_user(Role.TECHNICIAN, team=team)
    site = make_site()
    site.customer.team = team
    db.session.commit()
    client.sign_in(technician.email)

    response = client.post("/incidents/new", data=_form(site, submission_key=uuid.uuid4().hex))

    assert response.status_code == 302
    incident = db.session.scalars(select(Incident).where(Incident.site_id == site.id)).one()
    page = client.get(response.location).get_data(as_text=True)
    assert f"{incident.reference} recorded." in page
    verified = runner.invoke(args=["audit", "verify"])
    assert verified.exit_code == 0, verified.output
    assert "audit trail intact" in verified.output


def test_readyz_finds_the_migrations_current_as_the_app_role(client):
    response = client.get("/readyz")

    assert response.status_code == 200, response.json
    assert response.json["checks"]["migrations"] == {"state": "ok"}


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_events SET reason = 'nothing happened'",
        "DELETE FROM audit_events",
        "TRUNCATE audit_events",
        "ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only",
        "ALTER TABLE audit_events DISABLE TRIGGER ALL",
        "DROP TABLE audit_events",
        "DROP TRIGGER audit_events_append_only ON audit_events",
        "TRUNCATE incidents CASCADE",
        "DROP TABLE incidents CASCADE",
        "UPDATE alembic_version SET version_num = '0001_foundation'",
    ],
)
def test_the_app_role_is_refused_what_could_rewrite_the_trail_or_the_schema(roles, statement):
    with pytest.raises(psycopg.errors.InsufficientPrivilege) as refused:
        _as(roles.app_url, statement)

    # Refused by the role's privileges, not only by the append-only trigger.
    assert "permission denied" in str(refused.value) or "must be owner" in str(refused.value)


def test_upgrade_takes_back_a_privilege_granted_by_hand(roles, app):
    _as(roles.owner_url, f"GRANT ALL ON audit_events TO {roles.app}")
    assert "UPDATE" in _table_privileges(roles, "audit_events")

    upgraded = app.test_cli_runner().invoke(args=["db", "upgrade"])

    assert upgraded.exit_code == 0, upgraded.output
    assert _table_privileges(roles, "audit_events") == {"SELECT", "INSERT"}
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied"):
        _as(roles.app_url, "DELETE FROM audit_events")


def test_grant_refuses_a_role_that_would_own_or_bypass_everything(roles, app):
    runner = app.test_cli_runner()
    superuser = roles.superuser_url.username

    unknown = runner.invoke(args=["db", "grant", "nobody_here"])
    itself = runner.invoke(args=["db", "grant", roles.owner])
    almighty = runner.invoke(args=["db", "grant", superuser])

    assert unknown.exit_code == itself.exit_code == almighty.exit_code == 1
    assert "role 'nobody_here' does not exist" in unknown.output
    assert "owns the tables: the app needs a role of its own" in itself.output
    assert f"role '{superuser}' is a superuser" in almighty.output


def test_reports_rebuild_as_the_app_role_leaves_the_search_indexes_to_their_owner(runner):
    rebuilt = runner.invoke(args=["reports", "rebuild"])

    assert rebuilt.exit_code == 0, rebuilt.output
    assert "report figures rebuilt" in rebuilt.output
    assert "as the tables' owner: REINDEX INDEX CONCURRENTLY ix_incidents_search_" in (
        rebuilt.output
    )
