"""Periodic jobs (advice expiry, hourly snapshots, heartbeat reapers) outside the request path.

Each job runs in a worker thread on its own interval. With several server processes on one database,
a lease row makes sure only one process runs a given job per interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import String, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from crucible.core.db import Base, Database, UTCDateTime, utcnow

log = logging.getLogger(__name__)


class JobLease(Base):
    __tablename__ = "job_leases"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    holder: Mapped[str] = mapped_column(String(100))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


@dataclass
class PeriodicJob:
    name: str
    interval_seconds: float
    run: Callable[[], None]


class Scheduler:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.jobs: list[PeriodicJob] = []
        self._tasks: list[asyncio.Task[None]] = []

    def add(self, name: str, interval_seconds: float, run: Callable[[], None]) -> None:
        self.jobs.append(PeriodicJob(name, interval_seconds, run))

    def acquire(self, name: str, seconds: float) -> bool:
        """Take or renew the lease on `name` for `seconds`; False when another process holds it."""
        now = utcnow()
        expires = now + timedelta(seconds=seconds)
        try:
            with self.db.write() as session:
                lease = session.scalar(select(JobLease).where(JobLease.name == name).with_for_update())
                if lease is None:
                    session.add(JobLease(name=name, holder=self.holder, expires_at=expires))
                    return True
                if lease.holder != self.holder and lease.expires_at > now:
                    return False
                lease.holder = self.holder
                lease.expires_at = expires
                return True
        except IntegrityError:
            return False  # another process inserted the lease at the same moment

    async def _loop(self, job: PeriodicJob) -> None:
        while True:
            await asyncio.sleep(job.interval_seconds)
            try:
                if await asyncio.to_thread(self.acquire, job.name, job.interval_seconds * 1.5):
                    await asyncio.to_thread(job.run)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("periodic job failed", extra={"job": job.name})

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._loop(job), name=f"job:{job.name}") for job in self.jobs]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
