"""Live feeds inside one server process: status events per brain (`/ws`), simulator log lines per
version (`/logs`, `/logs/ws`) and simulator transitions (`/state/ws`).

Publishers may run on the event loop or in worker threads; each subscriber is an asyncio queue fed
through its own loop. A slow status subscriber loses its oldest ADD_DATA_POINTs (REST keeps every
point); a slow state subscriber loses messages beyond 50 per second.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select

from crucible.core.db import Database, utcnow
from crucible.dialects.bonsai.models import SimLogLine, Version

STATUS_BACKLOG = 1000
STATE_MESSAGES_PER_SECOND = 50


def rfc3339(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(eq=False)
class Subscriber:
    loop: asyncio.AbstractEventLoop
    queue: deque[Any] = field(default_factory=deque)
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    closed: bool = False

    async def next(self) -> Any:
        while not self.queue:
            if self.closed:
                return None
            self.wakeup.clear()
            await self.wakeup.wait()
        return self.queue.popleft()


class StatusEvents:
    """`/v1/{u}/{b}/ws` subscribers, per brain id."""

    def __init__(self) -> None:
        self._subscribers: dict[int, set[Subscriber]] = defaultdict(set)
        self._lock = threading.Lock()

    def subscribe(self, brain_id: int) -> Subscriber:
        subscriber = Subscriber(asyncio.get_running_loop())
        with self._lock:
            self._subscribers[brain_id].add(subscriber)
        return subscriber

    def unsubscribe(self, brain_id: int, subscriber: Subscriber) -> None:
        with self._lock:
            self._subscribers[brain_id].discard(subscriber)

    def publish(self, brain_id: int, *events: dict[str, Any]) -> None:
        with self._lock:
            targets = list(self._subscribers.get(brain_id, ()))
        for subscriber in targets:
            subscriber.loop.call_soon_threadsafe(_offer_status, subscriber, events)


def _offer_status(subscriber: Subscriber, events: tuple[dict[str, Any], ...]) -> None:
    subscriber.queue.extend(events)
    while len(subscriber.queue) > STATUS_BACKLOG:
        oldest = next((item for item in subscriber.queue if item.get("type") == "ADD_DATA_POINT"), None)
        if oldest is None:
            break
        subscriber.queue.remove(oldest)
    subscriber.wakeup.set()


class LogBook:
    """Server-written lines per simulator connection (`time sim_id message\\n`): buffered, written to
    the database in batches, and streamed to `/logs/ws` subscribers as they are written."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._buffer: list[SimLogLine] = []
        self._subscribers: dict[int, set[Subscriber]] = defaultdict(set)
        self._lock = threading.Lock()

    def write(self, version_id: int, sim_id: int, message: str) -> None:
        now = utcnow()
        line = f"{rfc3339(now)} {sim_id} {message}\n"
        with self._lock:
            self._buffer.append(SimLogLine(version_id=version_id, sim_id=sim_id, created_at=now, line=line))
            targets = list(self._subscribers.get(version_id, ()))
        for subscriber in targets:
            subscriber.loop.call_soon_threadsafe(_offer_line, subscriber, (sim_id, line))

    def flush(self) -> None:
        """Write buffered lines (called from a worker thread)."""
        with self._lock:
            lines, self._buffer = self._buffer, []
        if lines:
            with self.db.write() as session:
                wanted = {line.version_id for line in lines}
                alive = set(session.scalars(select(Version.id).where(Version.id.in_(wanted))))
                session.add_all(
                    [line for line in lines if line.version_id in alive]
                )  # deleted brains: dropped

    def lines(self, version_id: int, sim_id: int | None) -> list[str]:
        """Every line of the version (or of one connection), in time order, unflushed ones included."""
        with self.db.read() as session:
            query = select(SimLogLine.line).where(SimLogLine.version_id == version_id)
            if sim_id is not None:
                query = query.where(SimLogLine.sim_id == sim_id)
            stored = list(session.scalars(query.order_by(SimLogLine.id)))
        with self._lock:
            stored.extend(
                item.line
                for item in self._buffer
                if item.version_id == version_id and (sim_id is None or item.sim_id == sim_id)
            )
        return stored

    def subscribe(self, version_id: int) -> Subscriber:
        subscriber = Subscriber(asyncio.get_running_loop())
        with self._lock:
            self._subscribers[version_id].add(subscriber)
        return subscriber

    def unsubscribe(self, version_id: int, subscriber: Subscriber) -> None:
        with self._lock:
            self._subscribers[version_id].discard(subscriber)

    def close_version(self, version_id: int) -> None:
        """The version stopped training: end its live log streams."""
        with self._lock:
            targets = list(self._subscribers.pop(version_id, ()))
        for subscriber in targets:
            subscriber.loop.call_soon_threadsafe(_close, subscriber)


def _offer_line(subscriber: Subscriber, item: tuple[int, str]) -> None:
    subscriber.queue.append(item)
    subscriber.wakeup.set()


def _close(subscriber: Subscriber) -> None:
    subscriber.closed = True
    subscriber.wakeup.set()


class StateFeed:
    """Training transitions per version for `/state/ws`, at most 50 messages per second per subscriber."""

    def __init__(self) -> None:
        self._subscribers: dict[int, dict[Subscriber, Callable[[int], bool]]] = defaultdict(dict)
        self._sent: dict[Subscriber, deque[float]] = {}

    def subscribe(self, version_id: int, wants: Callable[[int], bool]) -> Subscriber:
        subscriber = Subscriber(asyncio.get_running_loop())
        self._subscribers[version_id][subscriber] = wants
        self._sent[subscriber] = deque()
        return subscriber

    def unsubscribe(self, version_id: int, subscriber: Subscriber) -> None:
        self._subscribers[version_id].pop(subscriber, None)
        self._sent.pop(subscriber, None)

    def has_subscribers(self, version_id: int) -> bool:
        return bool(self._subscribers.get(version_id))

    def publish(self, version_id: int, sim_id: int, message: dict[str, Any]) -> None:
        """Called on the event loop by the training socket of `sim_id`."""
        now = time.monotonic()
        for subscriber, wants in list(self._subscribers.get(version_id, {}).items()):
            if not wants(sim_id):
                continue
            sent = self._sent[subscriber]
            while sent and sent[0] < now - 1.0:
                sent.popleft()
            if len(sent) >= STATE_MESSAGES_PER_SECOND:
                continue
            sent.append(now)
            subscriber.queue.append(message)
            subscriber.wakeup.set()
