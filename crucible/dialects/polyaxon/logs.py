"""Experiment logs (spec §4.4): append-only lines in arrival order, capped at `logs.max_bytes` with the
oldest lines dropped behind a marker."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from crucible.dialects.polyaxon.errors import bad_request
from crucible.dialects.polyaxon.models import PlxExperiment, PlxLogChunk

NOT_LINES = "Logs must be a string or a list of strings."


def parse_lines(body: Any) -> list[str]:
    """A JSON string (split on newlines) or a list of strings."""
    if isinstance(body, str):
        return body.split("\n")
    if isinstance(body, list) and all(isinstance(item, str) for item in body):
        lines: list[str] = []
        for item in body:
            lines.extend(item.split("\n"))
        return lines
    raise bad_request(NOT_LINES)


def append(session: Session, experiment_id: int, lines: list[str], max_bytes: int) -> None:
    if not lines:
        return
    text = "\n".join(lines).replace("\0", "\ufffd")  # PostgreSQL text cannot hold NUL
    size = len(text.encode("utf-8")) + 1
    session.add(PlxLogChunk(experiment_id=experiment_id, text=text, lines=len(lines), size=size))
    session.execute(
        update(PlxExperiment)
        .where(PlxExperiment.id == experiment_id)
        .values(log_bytes=PlxExperiment.log_bytes + size)
    )
    session.flush()
    total = session.scalar(select(PlxExperiment.log_bytes).where(PlxExperiment.id == experiment_id)) or 0
    if total > max_bytes:
        _trim(session, experiment_id, total, max_bytes)


def _trim(session: Session, experiment_id: int, total: int, max_bytes: int) -> None:
    """Drop the oldest chunks until the log fits (keeping at least the newest chunk)."""
    dropped_bytes = dropped_lines = 0
    chunks = session.execute(
        select(PlxLogChunk.id, PlxLogChunk.size, PlxLogChunk.lines)
        .where(PlxLogChunk.experiment_id == experiment_id)
        .order_by(PlxLogChunk.id)
    ).all()
    doomed = []
    for chunk_id, size, lines in chunks[:-1]:
        if total - dropped_bytes <= max_bytes:
            break
        doomed.append(chunk_id)
        dropped_bytes += size
        dropped_lines += lines
    if not doomed:
        return
    session.execute(PlxLogChunk.__table__.delete().where(PlxLogChunk.id.in_(doomed)))
    session.execute(
        update(PlxExperiment)
        .where(PlxExperiment.id == experiment_id)
        .values(
            log_bytes=PlxExperiment.log_bytes - dropped_bytes,
            log_truncated_lines=PlxExperiment.log_truncated_lines + dropped_lines,
        )
    )


def read(session: Session, experiment: PlxExperiment) -> str:
    texts = list(
        session.scalars(
            select(PlxLogChunk.text)
            .where(PlxLogChunk.experiment_id == experiment.id)
            .order_by(PlxLogChunk.id)
        )
    )
    if experiment.log_truncated_lines:
        texts.insert(0, f"[polyaxon] ... {experiment.log_truncated_lines} lines truncated")
    return "\n".join(texts)


def line_count(session: Session, experiment_id: int) -> int:
    return (
        session.scalar(select(func.sum(PlxLogChunk.lines)).where(PlxLogChunk.experiment_id == experiment_id))
        or 0
    )
