"""The one metrics store: records of named numeric values over time, per stream, for every dialect.

A *stream* is whatever a dialect reports metrics about (a Polyaxon experiment, a Bonsai brain version,
a Morpheo algo on a problem). A *record* is one report: a mapping of metric names to numbers (or
null), a time, an optional step, and optional text tags. The dashboard reads series out of records,
and subscribers (live charts, websockets) are told about new records as they are committed.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import threading
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint, delete, func, insert, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from crucible.core.db import Base, JSONType, UTCDateTime, utcnow


class MetricStream(Base):
    __tablename__ = "metric_streams"
    __table_args__ = (UniqueConstraint("dialect", "kind", "ref"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    dialect: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(32))
    ref: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class MetricRecord(Base):
    __tablename__ = "metric_records"
    __table_args__ = (Index("ix_metric_records_stream_created", "stream_id", "created_at", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uuid: Mapped[str] = mapped_column(String(32), unique=True)
    stream_id: Mapped[int] = mapped_column(ForeignKey("metric_streams.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    step: Mapped[int | None] = mapped_column(Integer)
    values: Mapped[dict[str, float | None]] = mapped_column(JSONType)
    tags: Mapped[dict[str, str] | None] = mapped_column(JSONType)


@dataclass(frozen=True)
class StoredRecord:
    """A record as `append` stored it: the row's values, without an ORM object per row (batches of
    thousands are a hot path)."""

    id: int
    uuid: str
    stream_id: int
    created_at: datetime
    step: int | None
    values: dict[str, float | None]
    tags: dict[str, str] | None


@dataclass(frozen=True)
class NewRecord:
    values: dict[str, float | None]
    created_at: datetime | None = None
    step: int | None = None
    tags: dict[str, str] | None = None


def clean_values(values: dict[str, Any]) -> dict[str, float | None]:
    """Numbers stay numbers (bools become 0/1); NaN and infinities become null."""
    cleaned: dict[str, float | None] = {}
    for name, value in values.items():
        if value is None:
            cleaned[name] = None
        elif isinstance(value, bool):
            cleaned[name] = int(value)
        elif isinstance(value, int | float):
            cleaned[name] = value if math.isfinite(value) else None
        else:
            raise ValueError(f"metric {name!r} is not a number: {value!r}")
    return cleaned


def ensure_stream(
    session: Session, *, owner_id: int | None, dialect: str, kind: str, ref: str, label: str = ""
) -> int:
    """The id of the stream for (dialect, kind, ref), created on first use."""
    found = session.scalar(
        select(MetricStream.id).where(
            MetricStream.dialect == dialect, MetricStream.kind == kind, MetricStream.ref == ref
        )
    )
    if found is not None:
        return found
    stream = MetricStream(owner_id=owner_id, dialect=dialect, kind=kind, ref=ref, label=label)
    session.add(stream)
    session.flush()
    return stream.id


def append(session: Session, stream_id: int, records: Sequence[NewRecord]) -> list[StoredRecord]:
    """Store records in order, in the caller's transaction (all or nothing).

    Ingestion of large batches is a hot path, so this is one multi-row insert rather than ORM units of
    work, and no ORM object per row."""
    if not records:
        return []
    now = utcnow()
    random_bytes = os.urandom(16 * len(records))  # one system call for every uuid of the batch
    rows = [
        {
            "uuid": random_bytes[16 * i : 16 * i + 16].hex(),
            "stream_id": stream_id,
            "created_at": record.created_at or now,
            "step": record.step,
            "values": record.values,
            "tags": record.tags,
        }
        for i, record in enumerate(records)
    ]
    connection = session.connection()
    if connection.dialect.name == "sqlite" and connection.get_execution_options().get("write_lock"):
        first_id = _append_sqlite(connection, rows)
        return [StoredRecord(id=first_id + i, **row) for i, row in enumerate(rows)]
    table = MetricRecord.__table__
    # Returned rows are matched back by uuid: asking for them in parameter order makes SQLAlchemy fall
    # back to one INSERT per row.
    returned = session.execute(insert(table).returning(table.c.id, table.c.uuid), rows)
    ids = {row_uuid: row_id for row_id, row_uuid in returned}
    return [StoredRecord(id=ids[row["uuid"]], **row) for row in rows]


def _append_sqlite(connection: Any, rows: list[dict[str, Any]]) -> int:
    """The driver's executemany: several times faster than SQLAlchemy's per-row processing. Ids are
    known without RETURNING because this transaction holds SQLite's write lock (BEGIN IMMEDIATE): rowids
    are assigned max + 1, max + 2, ... in insertion order. Returns the first id."""
    first_id = int(
        connection.exec_driver_sql("SELECT coalesce(max(id), 0) + 1 FROM metric_records").scalar_one()
    )
    stored_at = UTCDateTime().process_bind_param  # naive UTC, in SQLAlchemy's SQLite text layout
    connection.exec_driver_sql(
        'INSERT INTO metric_records (id, uuid, stream_id, created_at, step, "values", tags) '
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            (
                first_id + i,
                row["uuid"],
                row["stream_id"],
                stored_at(row["created_at"], None).strftime("%Y-%m-%d %H:%M:%S.%f"),  # type: ignore[union-attr]
                row["step"],
                json.dumps(row["values"]),
                json.dumps(row["tags"]) if row["tags"] is not None else None,
            )
            for i, row in enumerate(rows)
        ],
    )
    return first_id


def list_records(
    session: Session, stream_id: int, *, offset: int = 0, limit: int = 1000
) -> tuple[list[MetricRecord], int]:
    query = select(MetricRecord).where(MetricRecord.stream_id == stream_id)
    count = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(MetricRecord.created_at, MetricRecord.id).offset(offset).limit(limit)
    ).all()
    return list(rows), count


def delete_stream(session: Session, *, dialect: str, kind: str, ref: str) -> None:
    session.execute(
        delete(MetricStream).where(
            MetricStream.dialect == dialect, MetricStream.kind == kind, MetricStream.ref == ref
        )
    )


@dataclass(frozen=True)
class Point:
    x: float  # step when every point has one, else seconds since the epoch
    y: float


def series(session: Session, stream_id: int, name: str, *, max_points: int = 2000) -> list[Point]:
    """One metric of a stream as points, downsampled to at most `max_points` (min/max per bucket, so
    spikes survive) for charts of long histories."""
    rows = session.execute(
        select(MetricRecord.step, MetricRecord.created_at, MetricRecord.values[name].as_float())
        .where(MetricRecord.stream_id == stream_id)
        .order_by(MetricRecord.created_at, MetricRecord.id)
    ).all()
    use_steps = all(step is not None for step, _, _ in rows)
    points = [
        Point(float(step) if use_steps else created.timestamp(), float(value))
        for step, created, value in rows
        if value is not None
    ]
    return downsample(points, max_points)


def downsample(points: list[Point], max_points: int) -> list[Point]:
    if len(points) <= max_points:
        return points
    buckets = max(1, max_points // 2)
    size = math.ceil(len(points) / buckets)
    result: list[Point] = []
    for start in range(0, len(points), size):
        bucket = points[start : start + size]
        low = min(bucket, key=lambda p: p.y)
        high = max(bucket, key=lambda p: p.y)
        result.extend(sorted({id(low): low, id(high): high}.values(), key=lambda p: p.x))
    return result


class MetricsHub:
    """In-process fan-out of newly committed records to live subscribers (asyncio queues).

    Publishers may be threads (request handlers run in a thread pool); each subscriber's queue is fed
    through its own event loop."""

    def __init__(self) -> None:
        self._subscribers: dict[int, set[tuple[asyncio.AbstractEventLoop, asyncio.Queue[dict[str, Any]]]]] = (
            defaultdict(set)
        )
        self._lock = threading.Lock()

    def subscribe(self, stream_id: int, maxsize: int = 1000) -> asyncio.Queue[dict[str, Any]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=maxsize)
        with self._lock:
            self._subscribers[stream_id].add((asyncio.get_running_loop(), queue))
        return queue

    def unsubscribe(self, stream_id: int, queue: asyncio.Queue[dict[str, Any]]) -> None:
        with self._lock:
            self._subscribers[stream_id] = {
                entry for entry in self._subscribers[stream_id] if entry[1] is not queue
            }

    def publish(self, stream_id: int, records: Iterable[MetricRecord | StoredRecord]) -> None:
        """Call after the transaction that stored the records has committed."""
        with self._lock:
            targets = list(self._subscribers.get(stream_id, ()))
        if not targets:
            return
        payloads = [record_payload(record) for record in records]
        for loop, queue in targets:
            for payload in payloads:
                loop.call_soon_threadsafe(_offer, queue, payload)


def _offer(queue: asyncio.Queue[dict[str, Any]], payload: dict[str, Any]) -> None:
    if not queue.full():  # a slow subscriber loses points rather than stalling publishers
        queue.put_nowait(payload)


def record_payload(record: MetricRecord | StoredRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "stream_id": record.stream_id,
        "created_at": record.created_at.isoformat(),
        "step": record.step,
        "values": record.values,
        "tags": record.tags,
    }
