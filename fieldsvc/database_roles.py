"""Two PostgreSQL roles: one owns the schema and runs the migrations, the app runs as another.

Whoever owns a table may alter it, so an app that owns `audit_events` could lift the
append-only trigger (`ALTER TABLE audit_events DISABLE TRIGGER ...`), rewrite the trail and
put the trigger back. Run as a role that owns nothing, the app may read and write the
data it keeps and only read and append to the audit trail: no UPDATE or DELETE there, no
TRUNCATE, ALTER or DROP anywhere, and the schema's version is read, never written.

`flask db upgrade` and the other `flask db` commands connect with
FIELDSVC_MIGRATION_DATABASE_URL (the owner) when it is set; `flask db grant ROLE` gives
the app's role its privileges, and runs by itself after each `flask db upgrade` when
FIELDSVC_APP_DATABASE_ROLE names the role.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import wraps
from typing import Any

import click
from flask import current_app
from flask_migrate.cli import db as db_commands
from psycopg import sql
from sqlalchemy import Connection, Engine, create_engine, text

from fieldsvc.extensions import db

DATA = ("SELECT", "INSERT", "UPDATE", "DELETE")
# Tables whose rows the app may add to but never change: the audit trail (its trigger
# refuses changes too, but only a role that does not own it cannot lift the trigger).
APPEND_ONLY = {"audit_events": ("SELECT", "INSERT")}
# What the app only reads: the schema's version, which /readyz compares with the code.
READ_ONLY = {"alembic_version": ("SELECT",)}


class RoleRefused(Exception):
    """The role cannot be made the app's role as it is."""


@dataclass(frozen=True)
class Grants:
    role: str
    schema: str
    tables: dict[str, tuple[str, ...]]
    sequences: list[str]


def privileges_for(table: str) -> tuple[str, ...]:
    return APPEND_ONLY.get(table) or READ_ONLY.get(table) or DATA


@contextmanager
def migration_engine() -> Iterator[Engine]:
    """The engine `flask db` commands use: the owner's URL when one is configured."""
    url = current_app.config.get("MIGRATION_DATABASE_URI")
    if not url:
        yield db.engine
        return
    engine = create_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()


def grant_app_role(connection: Connection, role: str) -> Grants:
    """Give `role` what the app needs on every table and sequence of the current schema,
    and take away anything more; safe to run any number of times."""
    if connection.dialect.name != "postgresql":
        raise RoleRefused(
            f"database roles are PostgreSQL's; this database is {connection.dialect.name}"
        )
    _check_role(connection, role)
    schema = connection.scalar(text("SELECT current_schema()"))
    tables = list(connection.scalars(_relations("r", "p")))
    sequences = list(connection.scalars(_relations("S")))
    grantee, in_schema = sql.Identifier(role), sql.Identifier(schema)
    statements = [sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(in_schema, grantee)]
    granted = {}
    for table in tables:
        granted[table] = privileges_for(table)
        name = sql.Identifier(schema, table)
        statements += [
            sql.SQL("REVOKE ALL ON TABLE {} FROM {}").format(name, grantee),
            sql.SQL("GRANT {} ON TABLE {} TO {}").format(
                sql.SQL(", ").join(map(sql.SQL, granted[table])), name, grantee
            ),
        ]
    for sequence in sequences:
        name = sql.Identifier(schema, sequence)
        statements += [
            sql.SQL("REVOKE ALL ON SEQUENCE {} FROM {}").format(name, grantee),
            # nextval() for new rows' ids; never setval().
            sql.SQL("GRANT USAGE ON SEQUENCE {} TO {}").format(name, grantee),
        ]
    cursor = connection.connection.cursor()
    for statement in statements:
        cursor.execute(statement)
    return Grants(role=role, schema=schema, tables=granted, sequences=sequences)


def _relations(*kinds: str) -> Any:
    return text(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = current_schema() AND c.relkind = ANY(:kinds) ORDER BY c.relname"
    ).bindparams(kinds=list(kinds))


def _check_role(connection: Connection, role: str) -> None:
    found = connection.execute(
        text("SELECT rolsuper FROM pg_roles WHERE rolname = :role"),
        {"role": role},
    ).first()
    if found is None:
        raise RoleRefused(
            f"role {role!r} does not exist: create it first "
            f"(CREATE ROLE {role} LOGIN PASSWORD '…', as a superuser)"
        )
    if found.rolsuper:
        raise RoleRefused(f"role {role!r} is a superuser: no grant can hold it back")
    if role == connection.scalar(text("SELECT current_user")):
        raise RoleRefused(
            f"role {role!r} is the one running this command, which owns the tables: "
            "the app needs a role of its own"
        )
    owned = list(
        connection.scalars(
            text(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'S') "
                "AND pg_has_role(:role, c.relowner, 'MEMBER') ORDER BY c.relname"
            ),
            {"role": role},
        )
    )
    if owned:
        raise RoleRefused(
            f"role {role!r} owns (or is a member of the role owning) {', '.join(owned[:5])}"
            + (f" and {len(owned) - 5} more" if len(owned) > 5 else "")
            + ": whoever owns a table can alter it; give them to the migrations' role "
            "(REASSIGN OWNED, as a superuser)"
        )


def grant_and_report(role: str) -> None:
    """Grant in one transaction as the migrations' role, then say what was granted."""
    with migration_engine() as engine, engine.begin() as connection:
        try:
            grants = grant_app_role(connection, role)
        except RoleRefused as refused:
            raise click.ClickException(str(refused)) from None
        owner = connection.scalar(text("SELECT current_user"))
    special = ", ".join(
        f"{table} {' and '.join(privileges)}"
        for table, privileges in grants.tables.items()
        if privileges != DATA
    )
    click.echo(
        f"granted {grants.role!r} (tables owned by {owner!r}) on {len(grants.tables)} tables "
        f"and {len(grants.sequences)} sequences in schema {grants.schema!r}: "
        f"{', '.join(DATA)} on the data; only {special}"
    )


@db_commands.command("grant")
@click.argument("role", required=False)
def grant(role: str | None) -> None:
    """Grant the app's PostgreSQL role what it needs, and no more.

    ROLE (default FIELDSVC_APP_DATABASE_ROLE) may then read and write the data, and only
    read and append to the audit trail. Run it as the role that owns the tables
    (FIELDSVC_MIGRATION_DATABASE_URL); `flask db upgrade` runs it too when
    FIELDSVC_APP_DATABASE_ROLE is set."""
    role = role or current_app.config["APP_DATABASE_ROLE"]
    if not role:
        raise click.UsageError("name the role, or set FIELDSVC_APP_DATABASE_ROLE")
    grant_and_report(role)


def _then_grant(upgrade: Any) -> Any:
    @wraps(upgrade)
    def upgrade_then_grant(*args: Any, **kwargs: Any) -> None:
        upgrade(*args, **kwargs)
        role = current_app.config["APP_DATABASE_ROLE"]
        if role and not kwargs.get("sql"):
            grant_and_report(role)

    upgrade_then_grant.grants_after = True  # type: ignore[attr-defined]
    return upgrade_then_grant


def init_cli() -> None:
    """`flask db upgrade` grants the app's role its privileges afterwards (once wrapped,
    however many apps are created)."""
    upgrade = db_commands.commands["upgrade"]
    if not getattr(upgrade.callback, "grants_after", False):
        upgrade.callback = _then_grant(upgrade.callback)
