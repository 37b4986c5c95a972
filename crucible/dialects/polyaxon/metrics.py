"""Experiment metrics (spec §4.4), stored as records in the one core metrics store, one stream per
experiment, and `last_metric`, which always reflects the latest `created_at` per key (decision D4)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from crucible.core import metrics as metrics_store
from crucible.core.accounts import User
from crucible.core.metrics import MetricStream, NewRecord, StoredRecord
from crucible.dialects.polyaxon.auth import KeyHolder
from crucible.dialects.polyaxon.errors import PolyaxonProblem, field_error, forbidden, not_found, too_large
from crucible.dialects.polyaxon.models import PlxExperiment, PlxProject
from crucible.dialects.polyaxon.wire import iso, parse_datetime

DIALECT = "polyaxon"
KIND = "experiment"
MAX_BATCH = 10_000
MAX_KEY_LENGTH = 128


def _values_error(message: str) -> PolyaxonProblem:
    return field_error("values", message)


def clean_point(item: Any) -> NewRecord:
    """One `{"values": {...}, "created_at"?}` item, checked and cleaned (numbers or null only)."""
    if not isinstance(item, dict):
        raise PolyaxonProblem(400, {"non_field_errors": ["Each metric must be an object."]})
    values = item.get("values")
    if not isinstance(values, dict) or not values:
        raise _values_error("Metric values must be a non-empty object.")
    for key, value in values.items():
        if not isinstance(key, str) or not 1 <= len(key) <= MAX_KEY_LENGTH:
            raise _values_error(f"Metric names must be 1 to {MAX_KEY_LENGTH} characters.")
        if value is not None and not isinstance(value, bool | int | float):
            raise _values_error(f"Metric `{key}` must be a number or null, not {type(value).__name__}.")
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**63:
            values[key] = float(value)
    cleaned = metrics_store.clean_values(values)
    created_at: datetime | None = None
    if item.get("created_at") is not None:
        created_at = parse_datetime(item["created_at"])
        if created_at is None:
            raise field_error("created_at", "Datetime has wrong format.")
    step = cleaned.get("step")
    step_int = (
        int(step) if isinstance(step, int | float) and math.isfinite(step) and step == int(step) else None
    )
    if step_int is not None and abs(step_int) >= 2**31:
        step_int = None
    return NewRecord(values=cleaned, created_at=created_at, step=step_int)


def parse_body(body: Any) -> tuple[list[NewRecord], bool]:
    """A dict is one point; a list is a batch (validated all-or-nothing). Returns (points, is_list)."""
    if isinstance(body, list):
        if len(body) > MAX_BATCH:
            raise too_large(f"At most {MAX_BATCH} metrics per request.")
        if not body:
            raise PolyaxonProblem(400, {"non_field_errors": ["Expected a non-empty list of metrics."]})
        return [clean_point(item) for item in body], True
    return [clean_point(body)], False


def stream_id(
    session: Session, experiment_id: int, owner_id: int | None = None, label: str = "", *, create: bool
) -> int | None:
    """The experiment's stream in the core metrics store (labelled for the dashboard when created)."""
    found = session.scalar(
        select(MetricStream.id).where(
            MetricStream.dialect == DIALECT, MetricStream.kind == KIND, MetricStream.ref == str(experiment_id)
        )
    )
    if found is not None or not create:
        return found
    return metrics_store.ensure_stream(
        session, owner_id=owner_id, dialect=DIALECT, kind=KIND, ref=str(experiment_id), label=label
    )


def find_writable_experiment(
    session: Session, holder: KeyHolder, username: str, project: str, experiment: str
) -> int:
    """The experiment id behind `u/p/experiments/<id>` if this caller may write to it, in one query;
    the same answers as the regular lookups: 404 when missing or private, 403 for someone else's public
    project."""
    if not experiment.isdigit() or int(experiment) >= 2**62:
        raise not_found()
    row = session.execute(
        select(PlxProject.id, PlxProject.owner_id, PlxProject.is_public)
        .join(User, User.id == PlxProject.owner_id)
        .join(PlxExperiment, PlxExperiment.project_id == PlxProject.id)
        .where(User.username == username, PlxProject.name == project, PlxExperiment.id == int(experiment))
    ).first()
    if row is None:
        raise not_found()
    project_id, owner_id, is_public = row
    if holder.project_id is not None:
        if holder.project_id != project_id:
            raise not_found()
    elif not (holder.is_superuser or owner_id == holder.user_id):
        raise forbidden() if is_public else not_found()
    return int(experiment)


def store(
    session: Session, experiment_id: int, points: Sequence[NewRecord], label: str = ""
) -> tuple[int, list[StoredRecord]]:
    """Append the points in order and fold them into `last_metric`, holding the experiment's row lock
    (FOR UPDATE on PostgreSQL; the write transaction itself on SQLite)."""
    current = session.execute(
        select(PlxExperiment.user_id, PlxExperiment.last_metric, PlxExperiment.last_metric_sources)
        .where(PlxExperiment.id == experiment_id)
        .with_for_update()
    ).one()
    stream = stream_id(session, experiment_id, current.user_id, label, create=True)
    assert stream is not None
    rows = metrics_store.append(session, stream, points)
    folded = fold_last_metric(current.last_metric or {}, current.last_metric_sources or {}, rows)
    if folded is not None:
        session.execute(
            update(PlxExperiment)
            .where(PlxExperiment.id == experiment_id)
            .values(last_metric=folded[0], last_metric_sources=folded[1])
        )
    return stream, rows


def fold_last_metric(
    last: dict[str, Any], sources: dict[str, Any], rows: Sequence[StoredRecord]
) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """Each key takes the value of the record with the greatest (created_at, id) that holds it;
    None when nothing changes. (ISO texts in one format compare like the datetimes.)"""
    last, sources = dict(last), dict(sources)
    changed = False
    texts: dict[Any, str | None] = {}
    for row in rows:
        if row.created_at not in texts:
            texts[row.created_at] = iso(row.created_at)
        stamp = [texts[row.created_at], row.id]
        for key, value in row.values.items():
            current = sources.get(key)
            if current is None or (current[0], current[1]) <= (stamp[0], stamp[1]):
                last[key] = value
                sources[key] = stamp
                changed = True
    return (last, sources) if changed else None


def metric_bodies(rows: Sequence[StoredRecord], experiment_id: int) -> list[dict[str, Any]]:
    """Wire bodies of freshly stored records (one ISO text per distinct time: batches share theirs)."""
    texts: dict[Any, str | None] = {}
    bodies = []
    for row in rows:
        if row.created_at not in texts:
            texts[row.created_at] = iso(row.created_at)
        bodies.append(
            {
                "id": row.id,
                "uuid": row.uuid,
                "experiment": experiment_id,
                "created_at": texts[row.created_at],
                "values": row.values,
            }
        )
    return bodies
