"""Wire shapes of every resource (spec §3), strict-schema safe (spec §2): `id`, `uuid` and `created_at`
always present, `project`/`experiment_group`/`build_job` as unique names or null, never integers."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crucible.core.accounts import User
from crucible.core.metrics import MetricRecord
from crucible.dialects.polyaxon.models import (
    PlxBookmark,
    PlxCodeVersion,
    PlxExperiment,
    PlxExperimentStatus,
    PlxGroup,
    PlxGroupStatus,
    PlxJob,
    PlxJobStatus,
    PlxProject,
)
from crucible.dialects.polyaxon.wire import iso


def username(session: Session, user_id: int) -> str:
    user = session.get(User, user_id)
    return user.username if user is not None else ""


_EMAIL_USER = re.compile(r"^[-!#$%&'*+/=?^_`{}|~0-9a-z]+(\.[-!#$%&'*+/=?^_`{}|~0-9a-z]+)*$", re.I)
_EMAIL_DOMAIN = re.compile(
    r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+([a-z]{2,63}|[a-z0-9-]{2,}(?<!-))$", re.I
)


def schema_safe_email(email: str | None) -> str | None:
    """The address when the client's schema accepts it, else None (it rejects "" and `a@b.c`)."""
    if not email or "@" not in email:
        return None
    local, _, domain = email.rpartition("@")
    if not _EMAIL_USER.match(local):
        return None
    return email if domain == "localhost" or _EMAIL_DOMAIN.match(domain) else None


def user_body(user: User) -> dict[str, Any]:
    return {
        "username": user.username,
        "email": schema_safe_email(user.email),
        "is_superuser": user.is_superuser,
    }


def project_unique_name(session: Session, project: PlxProject) -> str:
    return f"{username(session, project.owner_id)}.{project.name}"


def group_unique_name(session: Session, group: PlxGroup) -> str:
    project = session.get(PlxProject, group.project_id)
    assert project is not None
    return f"{project_unique_name(session, project)}.{group.id}"


def experiment_unique_name(session: Session, experiment: PlxExperiment) -> str:
    project = session.get(PlxProject, experiment.project_id)
    assert project is not None
    base = project_unique_name(session, project)
    if experiment.group_id is not None:
        return f"{base}.{experiment.group_id}.{experiment.id}"
    return f"{base}.{experiment.id}"


def is_bookmarked(session: Session, user_id: int, kind: str, ref_id: int) -> bool:
    return (
        session.scalar(
            select(PlxBookmark.id).where(
                PlxBookmark.user_id == user_id, PlxBookmark.kind == kind, PlxBookmark.ref_id == ref_id
            )
        )
        is not None
    )


def project_body(session: Session, project: PlxProject, viewer_id: int) -> dict[str, Any]:
    owner = username(session, project.owner_id)
    counts = session.execute(
        select(
            func.count(PlxExperiment.id),
            func.count(PlxExperiment.id).filter(PlxExperiment.group_id.is_(None)),
        ).where(PlxExperiment.project_id == project.id)
    ).one()
    groups = session.scalar(select(func.count(PlxGroup.id)).where(PlxGroup.project_id == project.id)) or 0
    has_code = session.scalar(
        select(PlxCodeVersion.id).where(PlxCodeVersion.project_id == project.id).limit(1)
    )
    return {
        "id": project.id,
        "uuid": project.uuid,
        "name": project.name,
        "unique_name": f"{owner}.{project.name}",
        "user": owner,
        "owner": owner,
        "description": project.description,
        "readme": project.readme,
        "tags": project.tags,
        "is_public": project.is_public,
        "has_code": has_code is not None,
        "created_at": iso(project.created_at),
        "updated_at": iso(project.updated_at),
        "num_experiments": counts[0],
        "num_independent_experiments": counts[1],
        "num_experiment_groups": groups,
        "num_jobs": 0,
        "num_builds": 0,
        "has_tensorboard": False,
        "has_notebook": False,
        "bookmarked": is_bookmarked(session, viewer_id, "project", project.id),
    }


def experiment_body(
    session: Session, experiment: PlxExperiment, viewer_id: int, *, detail: bool = False
) -> dict[str, Any]:
    group = session.get(PlxGroup, experiment.group_id) if experiment.group_id is not None else None
    original = (
        session.get(PlxExperiment, experiment.original_id) if experiment.original_id is not None else None
    )
    project = session.get(PlxProject, experiment.project_id)
    assert project is not None
    body: dict[str, Any] = {
        "id": experiment.id,
        "uuid": experiment.uuid,
        "name": experiment.name,
        "unique_name": experiment_unique_name(session, experiment),
        "user": username(session, experiment.user_id),
        "description": experiment.description,
        "created_at": iso(experiment.created_at),
        "updated_at": iso(experiment.updated_at),
        "started_at": iso(experiment.started_at),
        "finished_at": iso(experiment.finished_at),
        "last_status": experiment.last_status,
        "original": experiment_unique_name(session, original) if original is not None else None,
        "cloning_strategy": experiment.cloning_strategy,
        "project": project_unique_name(session, project),
        "experiment_group": group_unique_name(session, group) if group is not None else None,
        "build_job": None,
        "backend": experiment.backend,
        "framework": experiment.framework,
        "is_managed": experiment.is_managed,
        "tags": experiment.tags,
        "last_metric": experiment.last_metric or {},
        "params": experiment.params,
        "bookmarked": is_bookmarked(session, viewer_id, "experiment", experiment.id),
    }
    if detail:
        num_jobs = session.scalar(select(func.count(PlxJob.id)).where(PlxJob.experiment_id == experiment.id))
        body.update(
            {
                "original_experiment": experiment.original_id,
                "is_clone": experiment.original_id is not None or experiment.cloning_strategy is not None,
                "content": experiment.content,
                "readme": experiment.readme,
                "resources": experiment.resources,
                "run_env": experiment.run_env,
                "data_refs": experiment.data_refs,
                "num_jobs": num_jobs or 0,
                "has_tensorboard": False,
                "tensorboard": None,
            }
        )
    return body


def trimmed_experiment_body(
    experiment: PlxExperiment, unique_name: str, *, metrics: bool, params: bool
) -> dict[str, Any]:
    """`metrics=True` / `params=True` lists (spec §3.3): a few fields only (plus `created_at`, D8)."""
    body: dict[str, Any] = {
        "id": experiment.id,
        "uuid": experiment.uuid,
        "name": experiment.name,
        "unique_name": unique_name,
        "created_at": iso(experiment.created_at),
    }
    if metrics:
        body.update(
            {
                "last_metric": experiment.last_metric or {},
                "started_at": iso(experiment.started_at),
                "finished_at": iso(experiment.finished_at),
            }
        )
    if params:
        body["params"] = experiment.params
    return body


GROUP_COUNTERS = {
    "num_pending_experiments": ("created", "resuming", "warning", "building", "unknown"),
    "num_scheduled_experiments": ("scheduled", "starting"),
    "num_running_experiments": ("running",),
    "num_succeeded_experiments": ("succeeded",),
    "num_failed_experiments": ("failed", "upstream_failed"),
    "num_stopped_experiments": ("stopped", "skipped"),
}


def group_body(session: Session, group: PlxGroup, viewer_id: int) -> dict[str, Any]:
    project = session.get(PlxProject, group.project_id)
    assert project is not None
    statuses = Counter(
        dict(
            session.execute(
                select(PlxExperiment.last_status, func.count(PlxExperiment.id))
                .where(PlxExperiment.group_id == group.id)
                .group_by(PlxExperiment.last_status)
            ).all()
        )
    )
    body: dict[str, Any] = {
        "id": group.id,
        "uuid": group.uuid,
        "name": group.name,
        "unique_name": group_unique_name(session, group),
        "user": username(session, group.user_id),
        "project": project_unique_name(session, project),
        "description": group.description,
        "readme": group.readme,
        "content": group.content,
        "group_type": group.group_type,
        "search_algorithm": group.search_algorithm,
        "tags": group.tags,
        "concurrency": group.concurrency,
        "created_at": iso(group.created_at),
        "updated_at": iso(group.updated_at),
        "started_at": iso(group.started_at),
        "finished_at": iso(group.finished_at),
        "last_status": group.last_status,
        "num_experiments": sum(statuses.values()),
    }
    for key, members in GROUP_COUNTERS.items():
        body[key] = sum(statuses[status] for status in members)
    body.update(
        {
            "has_tensorboard": False,
            "backend": group.backend,
            "is_managed": group.is_managed,
            "bookmarked": is_bookmarked(session, viewer_id, "group", group.id),
        }
    )
    return body


def experiment_status_body(row: PlxExperimentStatus) -> dict[str, Any]:
    return {
        "id": row.id,
        "uuid": row.uuid,
        "experiment": row.experiment_id,
        "created_at": iso(row.created_at),
        "status": row.status,
        "message": row.message,
        "traceback": row.traceback,
    }


def group_status_body(row: PlxGroupStatus) -> dict[str, Any]:
    return {
        "id": row.id,
        "uuid": row.uuid,
        "experiment_group": row.group_id,
        "created_at": iso(row.created_at),
        "status": row.status,
        "message": row.message,
        "details": None,
    }


def job_status_body(row: PlxJobStatus) -> dict[str, Any]:
    return {
        "id": row.id,
        "uuid": row.uuid,
        "job": row.job_id,
        "created_at": iso(row.created_at),
        "status": row.status,
        "message": row.message,
        "details": row.details,
    }


def metric_body(record: MetricRecord, experiment_id: int) -> dict[str, Any]:
    return {
        "id": record.id,
        "uuid": record.uuid,
        "experiment": experiment_id,
        "created_at": iso(record.created_at),
        "values": record.values,
    }


def job_body(session: Session, job: PlxJob, experiment: PlxExperiment) -> dict[str, Any]:
    experiment_name = experiment_unique_name(session, experiment)
    return {
        "id": job.id,
        "uuid": job.uuid,
        "unique_name": f"{experiment_name}.{job.id}.{job.role}",
        "role": job.role,
        # No `experiment_name`: the client's schema declares it but its Config refuses it (TypeError in
        # schema_response mode), and the strict-schema rule of spec §2 wins over §3.4's field list.
        "experiment": experiment.id,
        "pod_id": job.pod_id,
        "node_scheduled": job.node_scheduled,
        "last_status": job.last_status,
        "created_at": iso(job.created_at),
        "updated_at": iso(job.updated_at),
        "started_at": iso(job.started_at),
        "finished_at": iso(job.finished_at),
        "resources": job.resources,
        "definition": {},
    }
