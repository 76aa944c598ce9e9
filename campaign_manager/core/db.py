"""The database core: declarative Base, column types, engine and session factory.

Services in every package take a `Session` and never open their own; whoever calls them
(a view, a CLI command, a worker, a test) owns the transaction and commits once.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    create_engine,
    event,
)
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

# Stable constraint names, so Alembic migrations can refer to them on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Ids of tables that grow by one row per message or event: 64-bit on PostgreSQL. SQLite
# auto-increments only an INTEGER PRIMARY KEY, which is 64-bit there already.
BigId = BigInteger().with_variant(Integer, "sqlite")


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend.

    SQLite has no time zones: values are stored as naive UTC and given tzinfo back on load.
    Naive datetimes are refused on the way in, because guessing their zone loses data.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: store timezone-aware datetimes only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class StrEnumType(TypeDecorator[enum.Enum]):
    """An Enum stored as its value in a VARCHAR, so adding a member needs no migration."""

    impl = String
    cache_ok = True

    def __init__(self, enum_class: type[enum.Enum], length: int = 32) -> None:
        super().__init__(length)
        self.enum_class = enum_class

    def process_bind_param(self, value: Any, dialect: Any) -> str | None:
        if value is None:
            return None
        return self.enum_class(value).value

    def process_result_value(self, value: Any, dialect: Any) -> enum.Enum | None:
        if value is None:
            return None
        return self.enum_class(value)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime()}


def make_engine(
    url: str, *, echo: bool = False, pool_size: int = 5, sqlite_autocommit: bool = False
) -> Engine:
    """Create an engine with the per-backend settings the app relies on.

    `sqlite_autocommit` makes every SQLite statement its own transaction; only tests use it,
    to read what the app wrote without holding the write lock (see below).
    """
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            echo=echo,
            connect_args={"check_same_thread": False, "timeout": 30},
        )
        event.listen(engine, "connect", _configure_sqlite_connection)
        if not sqlite_autocommit:
            # Take the write lock at BEGIN. A deferred transaction that reads and then
            # writes fails at once with "database is locked" when another connection wrote
            # in between (WAL snapshots cannot be upgraded); waiting at BEGIN instead is
            # what busy_timeout is for. The cost: transactions must stay short.
            # Sessions opened with Database.reading() only read: a plain BEGIN gives them a
            # consistent snapshot without blocking writers (WAL).
            event.listen(
                engine,
                "begin",
                lambda conn: conn.exec_driver_sql(
                    "BEGIN" if conn.get_execution_options().get("read_only") else "BEGIN IMMEDIATE"
                ),
            )
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(url, echo=echo, pool_size=pool_size, pool_pre_ping=True)


def _configure_sqlite_connection(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy issue BEGIN (see make_engine) instead of the driver.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


class Database:
    """An engine plus its session factory; one per process."""

    def __init__(
        self,
        url: str,
        *,
        echo: bool = False,
        pool_size: int = 5,
        sqlite_autocommit: bool = False,
        storage: Any = None,
    ) -> None:
        self.url = url
        self.engine = make_engine(
            url, echo=echo, pool_size=pool_size, sqlite_autocommit=sqlite_autocommit
        )
        # Every session carries the file storage (core/storage.py: storage_of(session)),
        # so services that read or write files need no extra argument.
        info = {} if storage is None else {"storage": storage}
        self.sessionmaker = sessionmaker(bind=self.engine, expire_on_commit=False, info=info)
        self.read_sessionmaker = sessionmaker(
            bind=self.engine.execution_options(read_only=True), expire_on_commit=False, info=info
        )

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    def session(self) -> Session:
        return self.sessionmaker()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work: commit on success, roll back on any error."""
        session = self.sessionmaker()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A session for reads only (rendering, reports), rolled back at the end.

        On SQLite it does not take the write lock, so slow work such as rendering a
        print PDF never holds up writers. Nothing written in it is kept.
        """
        session = self.read_sessionmaker()
        try:
            yield session
        finally:
            session.rollback()
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()
