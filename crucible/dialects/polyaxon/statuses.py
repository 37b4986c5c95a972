"""The single status write path (spec §4.3): every status change of an experiment, job or group, from
the API, the executor, stop, the group scheduler or the heartbeat reaper, goes through `transition`.

It locks the row, checks the lifecycle matrix and either applies the change (a status row, `last_status`,
`updated_at`, `started_at`/`finished_at`) or ignores it. Ignored writes change nothing; callers answer
with the latest stored status row, which makes status writes idempotent (decision D3).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from crucible.core.db import utcnow
from crucible.dialects.polyaxon.auth import schedule_run_token_revocation
from crucible.dialects.polyaxon.models import (
    PlxExperiment,
    PlxExperimentStatus,
    PlxGroup,
    PlxGroupStatus,
    PlxJob,
    PlxJobStatus,
)

# --- experiments (and jobs) ------------------------------------------------------------------------------

CREATED = "created"
RESUMING = "resuming"
WARNING = "warning"
BUILDING = "building"
SCHEDULED = "scheduled"
STARTING = "starting"
RUNNING = "running"
SUCCEEDED = "succeeded"
FAILED = "failed"
UPSTREAM_FAILED = "upstream_failed"
STOPPED = "stopped"
SKIPPED = "skipped"
UNKNOWN = "unknown"
UNSCHEDULABLE = "unschedulable"

EXPERIMENT_STATUSES = (
    CREATED, RESUMING, WARNING, BUILDING, SCHEDULED, STARTING, RUNNING,
    SUCCEEDED, FAILED, UPSTREAM_FAILED, STOPPED, SKIPPED, UNKNOWN,
)  # fmt: skip
DONE = frozenset((SUCCEEDED, FAILED, UPSTREAM_FAILED, STOPPED, SKIPPED))
JOB_STATUSES = (*tuple(s for s in EXPERIMENT_STATUSES if s != STARTING), UNSCHEDULABLE)
# Not yet running: what a pending stop may still stop (spec §4.7).
NOT_STARTED = frozenset((CREATED, RESUMING, WARNING, BUILDING, SCHEDULED, UNKNOWN))
ACTIVE = frozenset((SCHEDULED, STARTING, RUNNING))

_ALLOWED_FROM: dict[str, frozenset[str]] = {
    CREATED: frozenset(),
    RESUMING: frozenset((CREATED, WARNING)),
    BUILDING: frozenset((CREATED, RESUMING, WARNING, UNKNOWN)),
    SCHEDULED: frozenset((CREATED, RESUMING, BUILDING, WARNING, UNKNOWN)),
    STARTING: frozenset((CREATED, RESUMING, BUILDING, SCHEDULED, WARNING)),
    RUNNING: frozenset((CREATED, RESUMING, BUILDING, SCHEDULED, STARTING, WARNING, UNKNOWN)),
}


def experiment_transition_allowed(current: str, target: str) -> bool:
    """The lifecycle matrix of spec §4.3 (jobs use it too, with `unschedulable` following `warning`)."""
    if current in DONE:
        return False
    if target in DONE:
        return True
    if target in (WARNING, UNKNOWN, UNSCHEDULABLE):
        return current != target
    return current in _ALLOWED_FROM.get(target, frozenset())


# --- groups --------------------------------------------------------------------------------------------

GROUP_RUNNING = "running"
GROUP_DONE = "done"
GROUP_STOPPING = "stopping"
GROUP_STATUSES = (CREATED, RUNNING, WARNING, GROUP_DONE, FAILED, GROUP_STOPPING, STOPPED, SKIPPED, UNKNOWN)
GROUP_DONE_STATUSES = frozenset((GROUP_DONE, FAILED, STOPPED, SKIPPED))


def group_transition_allowed(current: str, target: str) -> bool:
    if current in GROUP_DONE_STATUSES:
        return False
    if target in GROUP_DONE_STATUSES:
        return True
    if target == RUNNING:
        return current in (CREATED, WARNING)
    if target in (GROUP_STOPPING, WARNING, UNKNOWN):
        return current != target
    return False


def normalize_group_status(status: str) -> str:
    """The tracking `Group` posts `succeeded` at exit; a group's success is `done` (decision D7)."""
    return GROUP_DONE if status == SUCCEEDED else status


# --- the transition function ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Transition:
    applied: bool
    previous: str
    status: str


RUN_TOKEN_GRACE_SECONDS = 60.0  # a run's keys die this long after it is done (spec §4.3)
TRANSITIONS_KEY = "polyaxon.transitions"


def applied_transitions(session: Session) -> list[tuple[int, int | None, Transition]]:
    """(experiment id, group id, transition) of every change applied in this session's transaction;
    the dialect's write wrapper wakes group schedulers for them once the transaction has committed."""
    return session.info.setdefault(TRANSITIONS_KEY, [])


def lock_experiment(session: Session, experiment_id: int) -> PlxExperiment | None:
    """The row, locked for this transaction (FOR UPDATE on PostgreSQL; SQLite's write transaction
    already holds the database lock), and refreshed from the database."""
    return session.scalar(
        select(PlxExperiment)
        .where(PlxExperiment.id == experiment_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def lock_group(session: Session, group_id: int) -> PlxGroup | None:
    return session.scalar(
        select(PlxGroup)
        .where(PlxGroup.id == group_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def transition(
    session: Session,
    experiment_id: int,
    to: str,
    message: str | None = None,
    traceback: str | None = None,
) -> Transition:
    """Move an experiment to `to` if the matrix allows it; otherwise write nothing."""
    experiment = lock_experiment(session, experiment_id)
    if experiment is None:
        raise LookupError(f"no experiment {experiment_id}")
    previous = experiment.last_status
    if not experiment_transition_allowed(previous, to):
        return Transition(False, previous, previous)
    now = utcnow()
    session.add(
        PlxExperimentStatus(
            experiment_id=experiment.id, status=to, message=message, traceback=traceback, created_at=now
        )
    )
    experiment.last_status = to
    experiment.updated_at = now
    if to in (STARTING, RUNNING) and experiment.started_at is None:
        experiment.started_at = now
    result = Transition(True, previous, to)
    if to in DONE:
        experiment.finished_at = now
        for job in session.scalars(select(PlxJob).where(PlxJob.experiment_id == experiment.id)):
            job_transition(session, job, to, message)
        schedule_run_token_revocation(session, experiment, RUN_TOKEN_GRACE_SECONDS)
    session.flush()
    applied_transitions(session).append((experiment.id, experiment.group_id, result))
    return result


def write_created(session: Session, experiment: PlxExperiment) -> None:
    """The first status row of a new experiment (created is never a transition target)."""
    session.add(
        PlxExperimentStatus(experiment_id=experiment.id, status=CREATED, created_at=experiment.created_at)
    )
    experiment.last_status = CREATED


def job_transition(
    session: Session, job: PlxJob, to: str, message: str | None = None, details: dict[str, Any] | None = None
) -> bool:
    if not experiment_transition_allowed(job.last_status, to) or to == STARTING:
        return False
    now = utcnow()
    session.add(PlxJobStatus(job_id=job.id, status=to, message=message, details=details, created_at=now))
    job.last_status = to
    job.updated_at = now
    if to == RUNNING and job.started_at is None:
        job.started_at = now
    if to in DONE:
        job.finished_at = now
    return True


def create_job(session: Session, experiment: PlxExperiment, pod_id: str | None, node: str | None) -> PlxJob:
    now = utcnow()
    job = PlxJob(
        experiment_id=experiment.id,
        pod_id=pod_id,
        node_scheduled=node,
        resources=experiment.resources,
        last_status=CREATED,
        created_at=now,
        updated_at=now,
    )
    session.add(job)
    session.flush()
    session.add(PlxJobStatus(job_id=job.id, status=CREATED, created_at=now))
    return job


def group_transition(session: Session, group_id: int, to: str, message: str | None = None) -> Transition:
    group = lock_group(session, group_id)
    if group is None:
        raise LookupError(f"no group {group_id}")
    to = normalize_group_status(to)
    previous = group.last_status
    if not group_transition_allowed(previous, to):
        return Transition(False, previous, previous)
    now = utcnow()
    session.add(PlxGroupStatus(group_id=group.id, status=to, message=message, created_at=now))
    group.last_status = to
    group.updated_at = now
    if to == RUNNING and group.started_at is None:
        group.started_at = now
    if to in GROUP_DONE_STATUSES:
        group.finished_at = now
    session.flush()
    return Transition(True, previous, to)


def write_group_created(session: Session, group: PlxGroup) -> None:
    session.add(PlxGroupStatus(group_id=group.id, status=CREATED, created_at=group.created_at))
    group.last_status = CREATED


def latest_experiment_status(session: Session, experiment_id: int) -> PlxExperimentStatus | None:
    return session.scalar(
        select(PlxExperimentStatus)
        .where(PlxExperimentStatus.experiment_id == experiment_id)
        .order_by(PlxExperimentStatus.created_at.desc(), PlxExperimentStatus.id.desc())
        .limit(1)
    )


def latest_group_status(session: Session, group_id: int) -> PlxGroupStatus | None:
    return session.scalar(
        select(PlxGroupStatus)
        .where(PlxGroupStatus.group_id == group_id)
        .order_by(PlxGroupStatus.created_at.desc(), PlxGroupStatus.id.desc())
        .limit(1)
    )


def touch_experiment(session: Session, experiment_id: int) -> None:
    session.execute(
        update(PlxExperiment).where(PlxExperiment.id == experiment_id).values(updated_at=utcnow())
    )
