"""Live StreamingBandit servers and a plain-HTTP client for the end-to-end scenarios (spec §6, §7).

Each server is the real app under uvicorn on a free port (as tests/conftest.py's `live_server`), with the
suite settings; the client is an `httpx.Client` that keeps the `user` cookie, like the original's scripts.
"""

from __future__ import annotations

import itertools
import json
import shutil
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import uvicorn

from crucible.app import create_app
from crucible.core import accounts
from crucible.core.db import Database
from crucible.core.services import Services, build_services
from crucible.dialects.streamingbandit.defaults import get_default
from crucible.dialects.streamingbandit.models import SbExperiment
from crucible.migrations import upgrade
from crucible.settings import Settings
from tests.conftest import POSTGRES_URL, REDIS_URL, free_port

PASSWORD = "correct horse 1"
SUITE_SETTINGS: dict[str, Any] = {
    "sb_advice_sweep_seconds": 1,
    "sb_hourly_theta_seconds": 2,
    "sb_sandbox_wall_seconds": 3,
    "sb_sandbox_cpu_seconds": 2,
    "sb_sandbox_memory_mb": 256,
}
_names = itertools.count(1)


@cache
def password_hash() -> str:
    """argon2 is slow on purpose: hash the test password once per session."""
    return accounts.hash_password(PASSWORD)


@dataclass(frozen=True)
class Created:
    id: str
    key: str


class SbClient:
    """One logged-in user talking plain HTTP to a live server."""

    def __init__(self, url: str, username: str, password: str = PASSWORD) -> None:
        self.username = username
        self.http = httpx.Client(base_url=url, timeout=60)
        response = self.http.post("/login", json={"username": username, "password": password})
        assert response.status_code == 200, response.text

    def close(self) -> None:
        self.http.close()

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.http.get(path, params=params)

    def create(self, code: Mapping[str, Any] | None = None, **fields: Any) -> Created:
        body = {"name": "test", **(code or {}), **fields}
        response = self.http.post("/exp", json=body)
        assert response.status_code == 200, response.text
        created = response.json()
        return Created(created["id"], created["key"])

    def create_default(self, index: int, **fields: Any) -> Created:
        return self.create(get_default(index), **fields)

    def getaction(self, exp: Created, context: Any = None, **params: Any) -> httpx.Response:
        if context is not None:
            params["context"] = json.dumps(context)
        return self.http.get(f"/getaction/{exp.id}", params={"key": exp.key, **params})

    def setreward(
        self,
        exp: Created,
        reward: Any,
        *,
        context: Any = None,
        action: Any = None,
        advice_id: str | None = None,
    ) -> httpx.Response:
        params: dict[str, str] = {"key": exp.key, "reward": json.dumps(reward)}
        if advice_id is not None:
            params["advice_id"] = advice_id
        if context is not None:
            params["context"] = json.dumps(context)
        if action is not None:
            params["action"] = json.dumps(action)
        return self.http.get(f"/setreward/{exp.id}", params=params)

    def theta(self, exp: Created) -> dict[str, Any]:
        response = self.get(f"/stats/{exp.id}/currenttheta")
        assert response.status_code == 200, response.text
        return response.json()

    def simulate(self, exp: Created, **params: Any) -> httpx.Response:
        return self.get(f"/eval/{exp.id}/simulate", **params)


class SbServer:
    """A running server; `client()` makes a fresh account (unique name) and logs it in."""

    def __init__(self, backend: str, settings: Settings, services: Services) -> None:
        self.backend = backend
        self.settings = settings
        self.services = services
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            create_app(settings, services),
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            access_log=False,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.clients: list[SbClient] = []

    def start(self) -> SbServer:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("live server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        for client in self.clients:
            client.close()
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.services.db.dispose()

    def account(self, name: str, *, admin: bool = False) -> str:
        username = f"{name}{next(_names)}"
        with self.services.db.write() as session:
            user = accounts.create_user(
                session, username, None, f"{username}@example.org", is_superuser=admin
            )
            user.password_hash = password_hash()
        return username

    def client(self, name: str, *, admin: bool = False) -> SbClient:
        client = SbClient(self.url, self.account(name, admin=admin))
        self.clients.append(client)
        return client

    def anonymous(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60)


class ServerPool:
    """Servers by backend (`sqlite`, `postgresql`, `redis` = SQLite + Redis theta), started on first use."""

    def __init__(self, tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> None:
        self.tmp_path_factory = tmp_path_factory
        self.sqlite_template = sqlite_template
        self.servers: dict[str, SbServer] = {}
        self.postgres_databases: list[str] = []

    def get(self, backend: str, **overrides: Any) -> SbServer:
        """The shared server of this backend (and these setting overrides)."""
        name = backend + "".join(f",{k}={v}" for k, v in sorted(overrides.items()))
        if name not in self.servers:
            self.servers[name] = self.start(backend, overrides)
        return self.servers[name]

    def fresh(self, backend: str, **overrides: Any) -> SbServer:
        """A new install nobody else uses (stopped with the others at the end of the session)."""
        name = f"{backend}#{uuid.uuid4().hex}"
        self.servers[name] = self.start(backend, overrides)
        return self.servers[name]

    def start(self, backend: str, overrides: dict[str, Any]) -> SbServer:
        directory = self.tmp_path_factory.mktemp(f"sb-{backend}")
        options: dict[str, Any] = {**SUITE_SETTINGS, **overrides}
        if backend == "postgresql":
            options["database_url"] = self.postgres_database()
        else:
            shutil.copy(self.sqlite_template, directory / "crucible.db")
            options["database_url"] = f"sqlite:///{directory / 'crucible.db'}"
        if backend == "redis":
            options.update(sb_theta_backend="redis", redis_url=REDIS_URL)
        settings = Settings(data_dir=directory, **options)
        return SbServer(backend, settings, build_services(settings)).start()

    def postgres_database(self) -> str:
        """A database of its own: the shared test database is emptied by other tests between theirs."""
        assert POSTGRES_URL
        name = f"crucible_sb_{uuid.uuid4().hex[:12]}"
        with _admin_engine().connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        url = POSTGRES_URL.rsplit("/", 1)[0] + "/" + name
        db = Database(url)
        upgrade(db.url, db.engine)
        db.dispose()
        self.postgres_databases.append(name)
        return url

    def stop_all(self) -> None:
        for server in self.servers.values():
            if server.backend == "redis":
                clear_redis_keys(server.services)
            server.stop()
        if self.postgres_databases:
            with _admin_engine().connect() as connection:
                for name in self.postgres_databases:
                    connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _admin_engine() -> sa.Engine:
    assert POSTGRES_URL
    url = "postgresql+psycopg://" + POSTGRES_URL.removeprefix("postgresql://")
    return sa.create_engine(url, isolation_level="AUTOCOMMIT")


def clear_redis_keys(services: Services) -> None:
    """Delete only the keys of this server's experiments (DB 15 may be shared with other tests)."""
    import redis

    client = redis.Redis.from_url(services.settings.redis_url or "", decode_responses=True)
    with services.db.read() as session:
        exp_ids = list(session.scalars(sa.select(SbExperiment.id)))
    for exp_id in exp_ids:
        index = f"sb:idx:{exp_id}"
        members = client.zrange(index, 0, -1)
        client.delete(*members, index, f"sb:ver:{exp_id}", f"sb:lock:{exp_id}")
    client.close()
