"""The declarative base, column types and engine settings every model shares."""

import sqlite3
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum

from flask import has_request_context, request
from sqlalchemy import DateTime, Engine, MetaData, Numeric, event
from sqlalchemy import Enum as SAEnum
from sqlalchemy.orm import DeclarativeBase, registry
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
    cursor.close()


@event.listens_for(Engine, "begin")
def _begin_sqlite(connection) -> None:
    if connection.dialect.name == "sqlite":
        # SQLite has one writer. A deferred transaction that read first and then
        # writes fails at once ("database is locked") if another writer committed
        # meanwhile; a request that may write takes the write lock up front instead
        # and waits its turn (busy_timeout). Reads stay concurrent.
        connection.exec_driver_sql("BEGIN IMMEDIATE" if _request_may_write() else "BEGIN")


def _request_may_write() -> bool:
    return has_request_context() and request.method not in ("GET", "HEAD", "OPTIONS")


def str_enum(enum_class: type[StrEnum], length: int = 30) -> SAEnum:
    """Store a StrEnum as its value in a VARCHAR, read it back as the enum member."""
    return SAEnum(
        enum_class,
        native_enum=False,
        length=length,
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
    )
