"""What a server process holds and hands to every dialect: settings, database, blobs, secrets,
and start/stop hooks for background work."""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from crucible.core.accounts import load_or_create_secret
from crucible.core.blobs import BlobStore, LocalBlobStore
from crucible.core.db import Database
from crucible.core.executor import Executor, create_executor
from crucible.core.metrics import MetricsHub
from crucible.core.scheduler import Scheduler
from crucible.settings import Settings

log = logging.getLogger(__name__)

Hook = Callable[[], Awaitable[None] | None]


@dataclass
class Services:
    settings: Settings
    db: Database
    blobs: BlobStore
    jwt_secret: str
    cookie_secret: str
    scheduler: Scheduler
    metrics_hub: MetricsHub = field(default_factory=MetricsHub)
    startup_hooks: list[Hook] = field(default_factory=list)
    shutdown_hooks: list[Hook] = field(default_factory=list)

    _executor: Executor | None = field(default=None, repr=False)
    _executor_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def executor(self) -> Executor:
        """The one job executor every dialect shares (its max_concurrent limit is global), created on
        first use and closed at shutdown: Ray when executor_ray_address is set, else local processes."""
        with self._executor_lock:
            if self._executor is None:
                settings = self.settings
                self._executor = create_executor(
                    "ray" if settings.executor_ray_address else "local",
                    ray_address=settings.executor_ray_address,
                    max_concurrent=settings.executor_max_concurrent,
                    stop_grace_s=settings.executor_stop_grace_s,
                )
                executor = self._executor
                self.on_shutdown(lambda: executor.close(timeout=settings.executor_stop_grace_s + 5))
            return self._executor

    def python_bin_dir(self) -> Path:
        """Where `python` resolves in runs: executor_local_python's directory, else the server's own."""
        return Path(self.settings.executor_local_python or sys.executable).parent

    def on_startup(self, hook: Hook) -> None:
        self.startup_hooks.append(hook)

    def on_shutdown(self, hook: Hook) -> None:
        self.shutdown_hooks.append(hook)


def build_services(settings: Settings, db: Database | None = None) -> Services:
    """Open the database and blob store and load (or create) the install secrets.

    The schema must already be migrated (`crucible db upgrade`, or `serve`, which migrates first)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = db or Database(settings.resolved_database_url, settings.sqlite_synchronous)
    return Services(
        settings=settings,
        db=db,
        blobs=LocalBlobStore(settings.blob_dir),
        jwt_secret=load_or_create_secret(db, "jwt"),
        cookie_secret=settings.sb_cookie_secret or load_or_create_secret(db, "session_cookie"),
        scheduler=Scheduler(db),
    )
