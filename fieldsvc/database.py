"""The declarative base, column types and engine settings every model shares."""

import contextlib
import sqlite3
import time
from collections import namedtuple
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from functools import cache
from typing import Any

from flask import g, has_app_context, has_request_context, request
from sqlalchemy import (
    DateTime,
    Engine,
    MetaData,
    Numeric,
    Result,
    Select,
    event,
    inspect,
    select,
)
from sqlalchemy import Enum as SAEnum
from sqlalchemy.orm import DeclarativeBase, Session, make_transient_to_detached, registry
from sqlalchemy.pool import Pool
from sqlalchemy.sql import Executable
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always returned timezone-aware.

    SQLite has no time zones, so without this a value read back would be naive
    and compare unequal to the aware value that was written.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; store times in UTC with a tzinfo")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    registry = registry(
        metadata=MetaData(naming_convention=NAMING_CONVENTION),
        type_annotation_map={datetime: UTCDateTime(), Decimal: Numeric(12, 2)},
    )


def utcnow() -> datetime:
    return datetime.now(UTC)


@event.listens_for(Engine, "connect")
def _configure_sqlite(dbapi_connection, connection_record) -> None:
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    # pysqlite's own transaction handling defers BEGIN and breaks SAVEPOINT;
    # let SQLAlchemy emit BEGIN itself (see the "begin" hook below).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA busy_timeout = 5000")
    # ANALYZE (and so PRAGMA optimize) reads a sample, not whole tables: fast at any size.
    cursor.execute(f"PRAGMA analysis_limit = {ANALYSIS_LIMIT}")
    # A page cache of 16 MB per connection (SQLite's default is 2 MB): a year of a
    # team's index entries (the dashboard's, the reports') stays in memory between
    # requests instead of being read again from the operating system's cache.
    cursor.execute("PRAGMA cache_size = -16000")
    cursor.close()
    connection_record.info[_OPTIMIZED_AT] = time.monotonic()


# Query plans need statistics to be right (they are also written so that a plan
# without them stays fast). As SQLite documents for connections that live long,
# run PRAGMA optimize now and then, and when the connection closes; it analyses only
# the tables whose statistics are stale, so it costs nothing most of the time.
ANALYSIS_LIMIT = 1000
OPTIMIZE_EVERY_SECONDS = 3600
_OPTIMIZED_AT = "sqlite_optimized_at"


def optimize_sqlite(dbapi_connection) -> None:
    dbapi_connection.execute("PRAGMA optimize")


@event.listens_for(Pool, "checkin")
def _optimize_now_and_then(dbapi_connection, connection_record) -> None:
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    if time.monotonic() - connection_record.info.get(_OPTIMIZED_AT, 0) > OPTIMIZE_EVERY_SECONDS:
        connection_record.info[_OPTIMIZED_AT] = time.monotonic()
        _optimize_quietly(dbapi_connection)


@event.listens_for(Pool, "close")
def _optimize_on_close(dbapi_connection, connection_record) -> None:
    if isinstance(dbapi_connection, sqlite3.Connection):
        _optimize_quietly(dbapi_connection)


def _optimize_quietly(dbapi_connection) -> None:
    # Busy or read-only: the statistics are refreshed next time.
    with contextlib.suppress(sqlite3.Error):
        optimize_sqlite(dbapi_connection)


def analyze_sqlite(connection) -> None:
    """Fresh statistics after a migration or a bulk load (sampled: see ANALYSIS_LIMIT)."""
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql(f"PRAGMA analysis_limit = {ANALYSIS_LIMIT}")
        connection.exec_driver_sql("ANALYZE")


@event.listens_for(Engine, "begin")
def _begin_sqlite(connection) -> None:
    if connection.dialect.name == "sqlite":
        # SQLite has one writer. A deferred transaction that read first and then
        # writes fails at once ("database is locked") if another writer committed
        # meanwhile; a request that may write takes the write lock up front instead
        # and waits its turn (busy_timeout). Reads stay concurrent.
        if _request_may_write():
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            # A read's BEGIN cannot wait for a lock (it is deferred): straight to the
            # driver, not through a statement's execution.
            connection.connection.driver_connection.execute("BEGIN")


def _request_may_write() -> bool:
    if has_app_context() and g.get(_WRITING):
        return True
    return has_request_context() and request.method not in ("GET", "HEAD", "OPTIONS")


_WRITING = "sqlite_writing"


@contextlib.contextmanager
def writing() -> Iterator[None]:
    """Outside a request (a job, a command), mark work that writes while others may:
    on SQLite its transactions take the write lock up front, as a POST request's do."""
    before = g.get(_WRITING)
    setattr(g, _WRITING, True)
    try:
        yield
    finally:
        setattr(g, _WRITING, before)


# What migrations make that the models cannot describe: the incident text search's SQLite
# FTS5 table (with the shadow tables FTS5 keeps beside it) and PostgreSQL trigram indexes.
ONLY_IN_MIGRATIONS = {"table": "incident_search", "index": "ix_incidents_search_"}


def described_by_models(object_, name: str | None, type_: str, reflected: bool, compare_to) -> bool:
    """Alembic's `include_object`: leave what only migrations describe out of comparisons."""
    prefix = ONLY_IN_MIGRATIONS.get(type_)
    return not (reflected and prefix and name and name.startswith(prefix))


def str_enum(enum_class: type[StrEnum], length: int = 30) -> SAEnum:
    """Store a StrEnum as its value in a VARCHAR, read it back as the enum member."""
    return SAEnum(
        enum_class,
        native_enum=False,
        length=length,
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
    )


@cache
def plain_record_type(
    model: type, methods: tuple[str, ...] = (), related: tuple[str, ...] = ()
) -> type:
    """A named tuple of `model`'s columns, named after it, with the model's `methods`: a
    record a page only shows, read as plain values (no identity map, instance state or
    loaders). `model_of` gives the model it stands for. The names in `related` follow the
    columns, for what the record is shown with (its lines, its supplier), so the model's
    methods that read them (a total of its lines) work on the record unchanged."""
    keys = [*(prop.key for prop in model.__mapper__.column_attrs), *related]
    base = namedtuple(model.__name__, keys)  # type: ignore[misc]
    shared = {name: getattr(model, name) for name in methods}
    return type(model.__name__, (base,), {"__slots__": (), "_model": model, **shared})


def plain_record_statement(model: type) -> Select:
    """Every column of `model`, each labelled with its attribute's name."""
    return select(*(prop.columns[0].label(prop.key) for prop in model.__mapper__.column_attrs))


def plain_columns(entity: Any, prefix: str) -> list[Any]:
    """Every column of `entity` (a model or an alias of one), labelled with its attribute's
    name after `prefix`: one record's share of a statement that joins several, in the order
    `plain_record_type` holds them."""
    columns = inspect(entity).mapper.column_attrs
    return [getattr(entity, prop.key).label(prefix + prop.key) for prop in columns]


def model_of(record: Any) -> type:
    """The model a record is of: its class, or the model a plain record was read from."""
    return getattr(type(record), "_model", None) or type(record)


def plain_rows(session: Session, statement: Executable, values: Mapping[str, Any]) -> Result:
    """A statement's rows through the session's connection, without the ORM's result set-up
    (a page reads dozens of statements' rows as plain values); the session is flushed first,
    as its own statements flush it, so they include what it holds unsaved."""
    if session.autoflush:
        session.flush()
    return session.connection().execute(statement, values)


def loaded_instance(session: Session, model: type, values: dict[str, Any]) -> Any:
    """The `model` object with these column values as the session holds it, made as if a
    query had loaded it, without one: the object the session already holds under that
    identity (as a query would give it), else a new one with `values` taken as what the
    database holds (nothing pending, so nothing written back), the rest loaded when read.
    For a row read as plain values (`plain_rows`) that the request then uses as an
    object: reading it through the ORM costs several times as much."""
    mapper = model.__mapper__
    key = mapper.identity_key_from_primary_key(
        [values[mapper.get_property_by_column(column).key] for column in mapper.primary_key]
    )
    if (held := session.identity_map.get(key)) is not None:
        return held
    instance = mapper.class_manager.new_instance()
    instance.__dict__.update(values)
    make_transient_to_detached(instance)
    session.add(instance)
    return instance
