"""Periodic jobs: leases keep a job to one process at a time."""

from __future__ import annotations

import asyncio

from crucible.core.scheduler import Scheduler
from crucible.core.services import Services


def test_only_one_holder_gets_the_lease(services: Services) -> None:
    first, second = Scheduler(services.db), Scheduler(services.db)
    assert first.acquire("sweep", 60)
    assert not second.acquire("sweep", 60)
    assert first.acquire("sweep", 60)  # renewal by the holder
    assert second.acquire("other", 60)


def test_an_expired_lease_can_be_taken_over(services: Services) -> None:
    first, second = Scheduler(services.db), Scheduler(services.db)
    assert first.acquire("sweep", -1)
    assert second.acquire("sweep", 60)


def test_jobs_run_periodically_and_survive_errors(services: Services) -> None:
    scheduler = Scheduler(services.db)
    calls: list[str] = []

    def failing() -> None:
        calls.append("failing")
        raise RuntimeError("boom")

    scheduler.add("ok", 0.05, lambda: calls.append("ok"))
    scheduler.add("failing", 0.05, failing)

    async def run() -> None:
        scheduler.start()
        await asyncio.sleep(0.5)
        await scheduler.stop()

    asyncio.run(run())
    assert calls.count("ok") >= 3
    assert calls.count("failing") >= 3
