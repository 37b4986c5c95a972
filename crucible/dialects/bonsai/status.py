"""Read-only views: status JSON (spec §4.9), the sims map, metric points and version bodies (§3.2–§3.4)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crucible.core import metrics
from crucible.core.accounts import User
from crucible.core.blobs import BlobStore
from crucible.dialects.bonsai import brains
from crucible.dialects.bonsai.events import rfc3339
from crucible.dialects.bonsai.inkling import CompileResult
from crucible.dialects.bonsai.models import Brain, Version
from crucible.dialects.bonsai.runtime import SimRegistry, version_stream_ref

METRIC_NAMES = ("episode_value", "test_pass_value", "iterations")


def _program_summary(compiled: CompileResult) -> dict[str, Any]:
    curriculum = compiled.program.curriculum if compiled.program is not None else None
    if curriculum is None:
        return {"concept": None, "objective": "", "algorithm": "", "is_estimator": False, "lesson": ""}
    return {
        "concept": curriculum.concept.name,
        "objective": curriculum.objective,
        "algorithm": curriculum.algorithm.runs,
        "is_estimator": curriculum.concept.is_estimator,
        "lesson": curriculum.lessons[0].name if curriculum.lessons else "",
    }


_version_compiles: dict[tuple[int, str], CompileResult] = {}


def version_compile(
    session: Session, blobs: BlobStore, brain: Brain, version: Version | None
) -> CompileResult:
    """The compiled Inkling of a version (its files never change: cached by id) or of the current files."""
    if version is None:
        return brains.compile_files(brains.ink_files(session, blobs, brain))
    key = (version.id, version.created_at.isoformat())  # ids of deleted rows may be reused
    cached = _version_compiles.get(key)
    if cached is None:
        files = brains.read_file_rows(
            blobs, [item for item in version.files if item["path"].lower().endswith(".ink")]
        )
        cached = brains.compile_files(files)
        if len(_version_compiles) > 1024:
            _version_compiles.clear()
        _version_compiles[key] = cached
    return cached


def concepts(
    brain: Brain, version: Version | None, compiled: CompileResult, state: str
) -> list[dict[str, Any]]:
    summary = _program_summary(compiled)
    if summary["concept"] is None:
        return []
    return [
        {
            "concept_name": summary["concept"],
            "objective_name": summary["objective"],
            "state": state,
            "training_start": rfc3339(version.training_start) if version else None,
            "training_end": rfc3339(version.training_end) if version else None,
            "algorithm": summary["algorithm"],
            "lesson": (version.lesson if version and version.lesson else summary["lesson"]),
            "is_estimator": summary["is_estimator"],
        }
    ]


def status_body(
    session: Session, blobs: BlobStore, owner: User, brain: Brain, sims: SimRegistry
) -> dict[str, Any]:
    version = brains.latest_version(session, brain)
    state = brains.brain_state(brain, version)
    compiled = version_compile(session, blobs, brain, version)
    summary = _program_summary(compiled)
    body: dict[str, Any] = {
        "user": owner.username,
        "name": brain.name,
        "version": version.number if version else 0,
        "state": state,
        "episode": version.episode if version else 0,
        "iteration": version.iteration if version else 0,
        "objective_score": version.objective_score if version else 0.0,
        "objective_name": summary["objective"],
        "episode_length": version.episode_length if version else 0,
        "models": 1 if summary["concept"] else 0,
        "simulator_loaded": sims.training_count(brain.id) > 0,
        "training_start": rfc3339(version.training_start) if version else None,
        "training_end": rfc3339(version.training_end) if version else None,
        "concepts": concepts(brain, version, compiled, state),
        "lesson": (version.lesson if version and version.lesson else summary["lesson"]),
        "algorithm": summary["algorithm"],
        "test_pass_value": version.test_pass_value if version else None,
        "best_test_pass_value": version.best_test_pass_value if version else None,
        "checkpoint_iteration": version.checkpoint_iteration if version else 0,
        "error": version.error if version else None,
    }
    return body


def sims_body(session: Session, blobs: BlobStore, brain: Brain, sims: SimRegistry) -> dict[str, Any]:
    """Every simulator declared in the latest compiled Inkling, with its active and recent connections."""
    version = brains.latest_version(session, brain)
    compiled = version_compile(session, blobs, brain, version)
    if version is not None and not compiled.success:
        compiled = brains.compile_files(brains.ink_files(session, blobs, brain))
    names = [simulator.name for simulator in compiled.program.simulators] if compiled.program else []
    body: dict[str, Any] = {name: {"active": [], "inactive": []} for name in names}
    for connection in sims.active.get(brain.id, {}).values():
        body.setdefault(connection.simulator, {"active": [], "inactive": []})["active"].append(
            connection.to_json()
        )
    for connection in sims.inactive.get(brain.id, ()):
        body.setdefault(connection.simulator, {"active": [], "inactive": []})["inactive"].append(
            connection.to_json()
        )
    return body


def metric_points(session: Session, version: Version, name: str) -> list[dict[str, Any]]:
    stream_id = session.scalar(
        select(metrics.MetricStream.id).where(
            metrics.MetricStream.dialect == "bonsai",
            metrics.MetricStream.kind == "version",
            metrics.MetricStream.ref == version_stream_ref(version.id),
        )
    )
    if stream_id is None:
        return []
    rows = session.execute(
        select(
            metrics.MetricRecord.step,
            metrics.MetricRecord.created_at,
            metrics.MetricRecord.values,
            metrics.MetricRecord.tags,
        )
        .where(
            metrics.MetricRecord.stream_id == stream_id,
            metrics.MetricRecord.values[name].as_float().is_not(None),
        )
        .order_by(metrics.MetricRecord.step, metrics.MetricRecord.id)
    ).all()
    if name == "iterations":
        return [
            {"value": int(values[name]), "time": rfc3339(created)} for _step, created, values, _tags in rows
        ]
    return [
        {
            "episode": step,
            "value": values[name],
            "iteration": int((tags or {}).get("iteration", 0)),
            "concept": (tags or {}).get("concept", ""),
            "lesson": (tags or {}).get("lesson", ""),
            "time": rfc3339(created),
        }
        for step, created, values, tags in rows
    ]


def version_body(owner: User, brain: Brain, version: Version) -> dict[str, Any]:
    base = brains.brain_url(owner.username, brain.name)
    return {
        "version": version.number,
        "state": version.state,
        "url": f"{base}/{version.number}",
        "brain_url": base,
        "created": rfc3339(version.created_at),
        "files": sorted(item["path"] for item in version.files),
        "checkpoint_iteration": version.checkpoint_iteration,
    }


def brain_body(owner: User, brain: Brain, versions: list[Version], state: str) -> dict[str, Any]:
    base = brains.brain_url(owner.username, brain.name)
    return {
        "name": brain.name,
        "user": owner.username,
        "description": brain.description,
        "state": state,
        "versions": [{"url": f"{base}/{version.number}", "version": version.number} for version in versions],
    }
