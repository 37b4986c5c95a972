"""What a server process holds and hands to every dialect: settings, database, blobs, secrets,
and start/stop hooks for background work."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from crucible.core.accounts import load_or_create_secret
from crucible.core.blobs import BlobStore, LocalBlobStore
from crucible.core.db import Database
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

    def on_startup(self, hook: Hook) -> None:
        self.startup_hooks.append(hook)

    def on_shutdown(self, hook: Hook) -> None:
        self.shutdown_hooks.append(hook)


def build_services(settings: Settings, db: Database | None = None) -> Services:
    """Open the database and blob store and load (or create) the install secrets.

    The schema must already be migrated (`crucible db upgrade`, or `serve`, which migrates first)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = db or Database(settings.resolved_database_url)
    return Services(
        settings=settings,
        db=db,
        blobs=LocalBlobStore(settings.blob_dir),
        jwt_secret=load_or_create_secret(db, "jwt"),
        cookie_secret=settings.sb_cookie_secret or load_or_create_secret(db, "session_cookie"),
        scheduler=Scheduler(db),
    )
