"""Database engine, sessions and the declarative Base shared by every table.

SQLite (WAL) is the embedded default; PostgreSQL is the scale path. Both go through the same code:
the only dialect-specific part is how a write transaction starts (see `Database.write`).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import JSON, DateTime, MetaData, create_engine, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.pool import StaticPool
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores naive values)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_uuid() -> str:
    return str(uuid.uuid4())


# JSON columns: TEXT on SQLite, JSON (not JSONB, which reorders keys) on PostgreSQL; None is SQL NULL.
JSONType = JSON(none_as_null=True)


SQLITE_SYNCHRONOUS = ("OFF", "NORMAL", "FULL", "EXTRA")


def _configure_sqlite(engine: Engine, synchronous: str) -> None:
    """WAL for concurrent readers; explicit BEGIN so write transactions can take the lock up front.

    `synchronous`: NORMAL (default) makes a commit survive a crash of the process, and FULL also a
    crash of the machine (the WAL is fsynced at every commit, at the price of one fsync per commit)."""
    if synchronous not in SQLITE_SYNCHRONOUS:
        raise ValueError(f"sqlite synchronous must be one of {SQLITE_SYNCHRONOUS}, not {synchronous!r}")

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection) -> None:  # type: ignore[no-untyped-def]
        if connection.get_execution_options().get("write_lock"):
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            connection.exec_driver_sql("BEGIN")


def make_engine(url: str, sqlite_synchronous: str = "NORMAL") -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(url, pool_size=20, max_overflow=20)
        else:
            engine = create_engine(url, poolclass=StaticPool, connect_args={"check_same_thread": False})
        _configure_sqlite(engine, sqlite_synchronous)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(url, pool_size=20, max_overflow=20, pool_pre_ping=True)


class Database:
    """Owns the engine and hands out sessions. One per server process."""

    def __init__(self, url: str, sqlite_synchronous: str = "NORMAL") -> None:
        self.url = url
        self.engine = make_engine(url, sqlite_synchronous)
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._write_engine = self.engine.execution_options(write_lock=True)
        self._write_sessions = sessionmaker(self._write_engine, expire_on_commit=False)
        # SQLite has one writer at a time. Threads of this process queue here and are handed the
        # lock at once, instead of polling on SQLite's busy timeout (sleeps of up to 100 ms).
        self._sqlite_writers = threading.RLock() if self.is_sqlite else None

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._sessions() as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A transaction that commits on success and rolls back on error.

        On SQLite it starts with BEGIN IMMEDIATE, so a read-then-write transaction never fails
        half-way with 'database is locked'; concurrent writers queue on the busy timeout instead.
        On PostgreSQL callers lock the rows they read-modify-write (SELECT ... FOR UPDATE).
        """
        if self._sqlite_writers is None:
            with self._write_sessions() as session, session.begin():
                yield session
            return
        with self._sqlite_writers, self._write_sessions() as session, session.begin():
            yield session

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        """A plain connection for Core reads, without an ORM session (cheaper on hot paths)."""
        with self.engine.connect() as connection:
            yield connection

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """`write()` for Core statements: a connection in a write transaction (BEGIN IMMEDIATE on
        SQLite) that commits on success and rolls back on error."""
        if self._sqlite_writers is None:
            with self._write_engine.begin() as connection:
                yield connection
            return
        with self._sqlite_writers, self._write_engine.begin() as connection:
            yield connection

    def dispose(self) -> None:
        self.engine.dispose()
