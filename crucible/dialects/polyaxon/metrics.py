"""Experiment metrics (spec §4.4), stored as records in the one core metrics store, one stream per
experiment, and `last_metric`, which always reflects the latest `created_at` per key (decision D4)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from crucible.core import metrics as metrics_store
from crucible.core.metrics import MetricRecord, NewRecord
from crucible.dialects.polyaxon.errors import PolyaxonProblem, field_error, too_large
from crucible.dialects.polyaxon.models import PlxExperiment
from crucible.dialects.polyaxon.statuses import lock_experiment
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


def stream_id(session: Session, experiment: PlxExperiment, label: str = "", *, create: bool) -> int | None:
    if create:
        return metrics_store.ensure_stream(
            session,
            owner_id=experiment.user_id,
            dialect=DIALECT,
            kind=KIND,
            ref=str(experiment.id),
            label=label,
        )
    from sqlalchemy import select

    return session.scalar(
        select(metrics_store.MetricStream.id).where(
            metrics_store.MetricStream.dialect == DIALECT,
            metrics_store.MetricStream.kind == KIND,
            metrics_store.MetricStream.ref == str(experiment.id),
        )
    )


def store(
    session: Session, experiment_id: int, points: Sequence[NewRecord], label: str = ""
) -> tuple[int, list[MetricRecord]]:
    """Append the points in order and fold them into `last_metric`, holding the experiment's row lock."""
    experiment = lock_experiment(session, experiment_id)
    assert experiment is not None
    stream = stream_id(session, experiment, label, create=True)
    assert stream is not None
    rows = metrics_store.append(session, stream, points)
    fold_last_metric(experiment, rows)
    return stream, rows


def fold_last_metric(experiment: PlxExperiment, rows: Sequence[MetricRecord]) -> None:
    """Each key takes the value of the record with the greatest (created_at, id) that holds it."""
    last = dict(experiment.last_metric or {})
    sources = dict(experiment.last_metric_sources or {})
    changed = False
    for row in rows:
        stamp = [iso(row.created_at), row.id]
        for key, value in row.values.items():
            current = sources.get(key)
            if current is None or (current[0], current[1]) <= (stamp[0], stamp[1]):
                last[key] = value
                sources[key] = stamp
                changed = True
    if changed:
        experiment.last_metric = last
        experiment.last_metric_sources = sources
