"""The heartbeat reaper (spec §4.6): an unmanaged `running` experiment that has sent heartbeats but
none for `polyaxon.heartbeat_timeout_s` is marked failed, so crashed tracking scripts do not stay
`running` forever. Runs as a periodic job of the core scheduler (one process at a time, by lease)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from crucible.core.db import utcnow
from crucible.dialects.polyaxon import statuses
from crucible.dialects.polyaxon.models import PlxExperiment
from crucible.dialects.polyaxon.runtime import Runtime

JOB_NAME = "polyaxon-heartbeat-reaper"


def reap(runtime: Runtime) -> list[int]:
    """Fail every silent unmanaged run; returns their ids."""
    timeout = runtime.settings.polyaxon_heartbeat_timeout_s
    cutoff = utcnow() - timedelta(seconds=timeout)
    with runtime.db.read() as session:
        silent = list(
            session.scalars(
                select(PlxExperiment.id).where(
                    PlxExperiment.is_managed.is_(False),
                    PlxExperiment.last_status == statuses.RUNNING,
                    PlxExperiment.last_heartbeat_at.is_not(None),
                    PlxExperiment.last_heartbeat_at < cutoff,
                )
            )
        )
    reaped = []
    for experiment_id in silent:
        with runtime.write() as session:
            experiment = statuses.lock_experiment(session, experiment_id)
            # Re-checked under the lock: a heartbeat may have arrived since the query.
            if (
                experiment is None
                or experiment.last_heartbeat_at is None
                or experiment.last_heartbeat_at >= cutoff
            ):
                continue
            message = f"No heartbeat received for {timeout:g} s"
            if statuses.transition(session, experiment_id, statuses.FAILED, message).applied:
                reaped.append(experiment_id)
    return reaped


def install(runtime: Runtime) -> None:
    interval = runtime.settings.polyaxon_heartbeat_check_interval_s
    runtime.services.scheduler.add(JOB_NAME, interval, lambda: reap(runtime))
