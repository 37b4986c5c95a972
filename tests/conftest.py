"""Shared fixtures: a migrated database per test (SQLite always, PostgreSQL when its URL is set),
the app in-process, and a live server on a free port for real clients."""

from __future__ import annotations

import functools
import os
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
import uvicorn
from starlette.testclient import TestClient

from crucible.app import create_app
from crucible.core import accounts
from crucible.core.db import Database
from crucible.core.services import Services, build_services
from crucible.migrations import upgrade
from crucible.models import metadata
from crucible.settings import Settings

POSTGRES_URL = os.environ.get("CRUCIBLE_TEST_POSTGRES_URL")
REDIS_URL = os.environ.get("CRUCIBLE_TEST_REDIS_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if POSTGRES_URL else [])


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file, copied for every test (migrating each time would be slow)."""
    path = tmp_path_factory.mktemp("template") / "crucible.db"
    db = Database(f"sqlite:///{path}")
    upgrade(db.url, db.engine)
    with db.engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    db.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, migrated once, dropped at the end."""
    if not POSTGRES_URL:
        pytest.skip("PostgreSQL tests need CRUCIBLE_TEST_POSTGRES_URL (set by .ci/run)")
    name = f"crucible_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(_psycopg(POSTGRES_URL), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = POSTGRES_URL.rsplit("/", 1)[0] + "/" + name
    db = Database(url)
    upgrade(db.url, db.engine)
    db.dispose()
    yield url
    with admin.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


def _psycopg(url: str) -> str:
    return "postgresql+psycopg://" + url.removeprefix("postgresql://").removeprefix("postgresql+psycopg://")


def _empty_postgres(url: str) -> None:
    """DELETE in reverse dependency order: much faster than TRUNCATE on small tables."""
    engine = sa.create_engine(_psycopg(url))
    with engine.begin() as connection:
        for table in reversed(metadata.sorted_tables):
            connection.execute(table.delete())
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    if request.param == "sqlite":
        target = tmp_path / "crucible.db"
        shutil.copy(sqlite_template, target)
        return f"sqlite:///{target}"
    url = request.getfixturevalue("postgres_database")
    _empty_postgres(url)
    return url


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    """Override in a test module to change settings for its tests."""
    return {}


@pytest.fixture
def settings(tmp_path: Path, database_url: str, settings_overrides: dict[str, object]) -> Settings:
    return Settings(data_dir=tmp_path / "data", database_url=database_url, **settings_overrides)


@pytest.fixture
def services(settings: Settings) -> Iterator[Services]:
    built = build_services(settings)
    yield built
    built.db.dispose()


@pytest.fixture
def app(settings: Settings, services: Services):  # type: ignore[no-untyped-def]
    return create_app(settings, services)


@pytest.fixture
def client(app) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with TestClient(app) as test_client:
        yield test_client


@dataclass
class Account:
    id: int
    username: str
    email: str
    password: str


@functools.cache
def password_hash(password: str) -> str:
    """argon2 is slow on purpose; tests hash each password once per session and reuse the hash."""
    return accounts.hash_password(password)


@pytest.fixture
def make_user(services: Services) -> Callable[..., Account]:
    def make(username: str, password: str = "correct horse 1", *, admin: bool = False) -> Account:
        email = f"{username}@example.org"
        with services.db.write() as session:
            user = accounts.create_user(
                session, username, None, email, is_superuser=admin, email_verified=True
            )
            user.password_hash = password_hash(password)
            return Account(user.id, username, email, password)

    return make


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LiveServer:
    url: str
    port: int
    services: Services


@pytest.fixture
def live_server(settings: Settings, services: Services) -> Iterator[LiveServer]:
    """The real app served by uvicorn on a free port, in a background thread."""
    port = free_port()
    app = create_app(settings, services)
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        ws_ping_interval=None,  # as `crucible serve`: no server pings (spec bonsai §4.5)
        ws_ping_timeout=None,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("live server did not start")
        time.sleep(0.02)
    yield LiveServer(url=f"http://127.0.0.1:{port}", port=port, services=services)
    server.should_exit = True
    thread.join(timeout=10)
