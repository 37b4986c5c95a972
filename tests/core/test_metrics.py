"""The shared metrics store: streams, records, series, live subscribers."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta

import pytest

from crucible.core import metrics
from crucible.core.services import Services


def test_records_are_stored_in_order_with_their_times(services: Services) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with services.db.write() as session:
        stream = metrics.ensure_stream(session, owner_id=None, dialect="polyaxon", kind="experiment", ref="7")
        assert (
            metrics.ensure_stream(session, owner_id=None, dialect="polyaxon", kind="experiment", ref="7")
            == stream
        )
        metrics.append(
            session,
            stream,
            [
                metrics.NewRecord({"loss": 1.0 / (i + 1), "step": i}, created_at=start + timedelta(seconds=i))
                for i in range(5)
            ],
        )
    with services.db.read() as session:
        rows, count = metrics.list_records(session, stream, offset=1, limit=2)
    assert count == 5
    assert [row.values["step"] for row in rows] == [1, 2]
    assert rows[0].created_at == start + timedelta(seconds=1)
    assert len(rows[0].uuid) == 32


def test_clean_values() -> None:
    assert metrics.clean_values({"a": 1, "b": True, "c": float("nan"), "d": None}) == {
        "a": 1,
        "b": 1,
        "c": None,
        "d": None,
    }
    with pytest.raises(ValueError):
        metrics.clean_values({"a": "x"})


def test_series_uses_steps_and_downsamples_keeping_extremes(services: Services) -> None:
    with services.db.write() as session:
        stream = metrics.ensure_stream(session, owner_id=None, dialect="bonsai", kind="version", ref="b/1")
        values = [float(i % 10) for i in range(5000)]
        values[2500] = 1000.0
        metrics.append(
            session, stream, [metrics.NewRecord({"reward": v}, step=i) for i, v in enumerate(values)]
        )
        metrics.append(session, stream, [metrics.NewRecord({"other": 1.0}, step=5000)])
    with services.db.read() as session:
        full = metrics.series(session, stream, "reward", max_points=10_000)
        small = metrics.series(session, stream, "reward", max_points=200)
    assert len(full) == 5000 and full[3].x == 3.0
    assert len(small) <= 200
    assert max(point.y for point in small) == 1000.0
    assert min(point.y for point in small) == 0.0


def test_live_subscribers_receive_published_records(services: Services) -> None:
    with services.db.write() as session:
        stream = metrics.ensure_stream(session, owner_id=None, dialect="polyaxon", kind="experiment", ref="9")
        rows = metrics.append(session, stream, [metrics.NewRecord({"loss": 0.5})])
    hub = metrics.MetricsHub()

    async def listen() -> dict:
        queue = hub.subscribe(stream)
        publisher = threading.Thread(target=hub.publish, args=(stream, rows))
        publisher.start()
        payload = await asyncio.wait_for(queue.get(), timeout=5)
        publisher.join()
        hub.unsubscribe(stream, queue)
        return payload

    payload = asyncio.run(listen())
    assert payload["values"] == {"loss": 0.5} and payload["stream_id"] == stream
