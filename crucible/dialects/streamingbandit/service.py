"""What the dialect holds per server process: the theta store, the sandbox pool and the executor, with
their start and stop, the save-time code check and the background jobs' entry points."""

from __future__ import annotations

import os
import threading

from sqlalchemy import select

from crucible.core.services import Services
from crucible.dialects.streamingbandit import jobs
from crucible.dialects.streamingbandit.errors import SbError
from crucible.dialects.streamingbandit.execution import (
    CHECK_POLICY,
    CHECK_RUNTIME,
    POLICY,
    RUNTIME,
    Executor,
)
from crucible.dialects.streamingbandit.experiments import CodeCheck
from crucible.dialects.streamingbandit.models import SbExperiment
from crucible.dialects.streamingbandit.theta_store import RedisThetaStore, SqlThetaStore, ThetaStore
from crucible.engines.sandbox import (
    DEFAULT_PRELOAD,
    CodeError,
    Limits,
    SandboxBusy,
    SandboxConfig,
    SandboxError,
    SandboxPool,
    SandboxUnavailable,
    SandboxViolation,
)

QUEUE_TIMEOUT = 5.0
"""A call waiting longer than this for a sandbox worker gets 503 `Sandbox busy, retry.` (spec §4.5)."""


class BanditService:
    def __init__(self, services: Services) -> None:
        settings = services.settings
        self.settings = settings
        self.db = services.db
        self.store: ThetaStore
        if settings.sb_theta_backend == "redis":
            if not settings.redis_url:
                raise ValueError("CRUCIBLE_SB_THETA_BACKEND=redis needs CRUCIBLE_REDIS_URL")
            self.store = RedisThetaStore(services.db, settings.redis_url)
        else:
            self.store = SqlThetaStore(services.db)
        self.pool: SandboxPool | None = None
        self._pool_lock = threading.Lock()
        self._lifespans = 0
        self.executor = Executor(settings, services.db, self.store, self.require_pool)

    def sandbox_config(self) -> SandboxConfig:
        settings = self.settings
        return SandboxConfig(
            runtimes={RUNTIME: POLICY, CHECK_RUNTIME: CHECK_POLICY},
            preload=(*DEFAULT_PRELOAD, RUNTIME, CHECK_RUNTIME),
            memory_mb=settings.sb_sandbox_memory_mb,
            limits=Limits(settings.sb_sandbox_cpu_seconds, settings.sb_sandbox_wall_seconds),
            max_concurrency=settings.sb_sandbox_max_concurrency or 2 * (os.cpu_count() or 1),
            queue_timeout=QUEUE_TIMEOUT,
            max_calls_per_worker=settings.sb_worker_max_calls,
            reseed_each_call=True,
        )

    def start(self) -> None:
        """Startup hook: launch the sandbox host (numpy, scipy and the libraries preloaded, workers
        pre-forked) when this install has experiments; a fresh install starts it on first use, so
        servers that never see a bandit (e.g. other dialects' tests) do not pay for it."""
        with self._pool_lock:
            self._lifespans += 1
        with self.db.read() as session:
            if session.scalar(select(SbExperiment.id).limit(1)) is not None:
                self.require_pool()

    def close(self) -> None:
        """Shutdown hook: stop the sandbox processes once the last running lifespan of the app ends
        (test clients may nest lifespans on one app)."""
        with self._pool_lock:
            self._lifespans = max(0, self._lifespans - 1)
            if self._lifespans == 0 and self.pool is not None:
                self.pool.close()
                self.pool = None

    def require_pool(self) -> SandboxPool:
        """The running pool, started on first use."""
        with self._pool_lock:
            if self.pool is None:
                self.pool = SandboxPool(self.sandbox_config()).start()
            return self.pool

    def code_check(self, owner_id: int) -> CodeCheck:
        """The save-time check (§4.1): parse and static policy, in a sandbox worker of the owner."""

        def check(hook: str, code: str) -> None:
            try:
                self.require_pool().check_sync(CHECK_RUNTIME, str(owner_id), code, filename=f"<{hook}>")
            except CodeError as error:
                raise SbError(
                    400, _invalid(hook, f"{error.type_name}: {error.message}", error.line)
                ) from None
            except SandboxViolation as error:
                raise SbError(400, _invalid(hook, error.detail, error.line)) from None
            except (SandboxBusy, SandboxUnavailable):
                raise SbError(503, "Sandbox busy, retry.", headers={"Retry-After": "1"}) from None
            except SandboxError as error:
                raise SbError(400, _invalid(hook, str(error), None)) from None

        return check

    def sweep_advices(self) -> None:
        jobs.sweep_advices(self.db, self.executor)

    def snapshot_thetas(self) -> None:
        jobs.snapshot_thetas(self.db, self.executor)


def _invalid(hook: str, error: str, line: int | None) -> str:
    where = f" (line {line})" if line is not None else ""
    return f"Invalid {hook} code: {error}{where}."
