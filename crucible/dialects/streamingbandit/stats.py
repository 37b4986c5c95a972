"""The logs behind `/stats/<id>/...` and `self.get_*_log_data` (spec §3.2): one table, one row per entry,
kept as the JSON text that is served, so NaN round-trips and reads need no re-encoding.

Kinds: `log` (self.log_data), `action` (getaction), `reward` (client setreward), `simulation`
(simulate with log_stats), `hourly` (theta snapshots).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.engine import Connection

from crucible.dialects.streamingbandit.models import SbLog

LOG_KINDS = ("log", "action", "reward", "simulation", "hourly")
ROUTE_KINDS = {
    "log": "log",
    "actionlog": "action",
    "rewardlog": "reward",
    "simulationlog": "simulation",
    "hourlytheta": "hourly",
}
"""`/stats/<id>/<name>` → log kind."""
LOG_TABLE = SbLog.__table__
LOG_INSERT = insert(LOG_TABLE)


def iso(moment: datetime) -> str:
    """UTC, ISO-8601 without offset, microseconds: `2020-01-08T21:20:01.123456`."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds")


def dumps(value: Any) -> str:
    """JSON text as Python's `json` writes it (NaN and Infinity tokens allowed)."""
    return json.dumps(value, allow_nan=True)


def loads(text: str) -> Any:
    return json.loads(text)


@dataclass(frozen=True)
class LogRow:
    exp_id: str
    kind: str
    data: str
    created_at: datetime


def add_rows(connection: Connection, rows: Iterable[LogRow]) -> None:
    values = [{"exp_id": r.exp_id, "kind": r.kind, "data": r.data, "created_at": r.created_at} for r in rows]
    if values:
        connection.execute(LOG_INSERT, values)


def read_texts(connection: Connection, exp_id: str, kind: str, limit: int) -> list[str]:
    """Rows of one log, newest first; `limit` 0 means all."""
    query = (
        select(LOG_TABLE.c.data)
        .where(LOG_TABLE.c.exp_id == exp_id, LOG_TABLE.c.kind == kind)
        .order_by(LOG_TABLE.c.id.desc())
    )
    if limit > 0:
        query = query.limit(limit)
    return list(connection.execute(query).scalars())


def read_values(connection: Connection, exp_id: str, kind: str, limit: int) -> list[Any]:
    return [json.loads(text) for text in read_texts(connection, exp_id, kind, limit)]


def summary(connection: Connection, exp_id: str) -> dict[str, Any]:
    """Counts and last dates of getaction and setreward calls, computed in SQL."""
    found = {
        kind: (count, last)
        for kind, count, last in connection.execute(
            select(LOG_TABLE.c.kind, func.count(), func.max(LOG_TABLE.c.id))
            .where(LOG_TABLE.c.exp_id == exp_id, LOG_TABLE.c.kind.in_(("action", "reward")))
            .group_by(LOG_TABLE.c.kind)
        ).all()
    }
    dates: dict[str, str] = {}
    last_ids = [last for _, last in found.values()]
    if last_ids:
        for kind, created_at in connection.execute(
            select(LOG_TABLE.c.kind, LOG_TABLE.c.created_at).where(LOG_TABLE.c.id.in_(last_ids))
        ).all():
            dates[kind] = iso(created_at)
    return {
        "last_added_get_action": dates.get("action", "No get_action calls yet."),
        "get_action_calls": int(found.get("action", (0, None))[0]),
        "last_added_set_reward": dates.get("reward", "No set_reward calls yet."),
        "set_reward_calls": int(found.get("reward", (0, None))[0]),
    }
