"""Experiments: loading, ownership, field validation and the admin CRUD of `/exp` (spec §3.4, §4.1, §4.9).

Properties are the string map the wire shows; `advice_on` and `hourly_theta_on` mirror two of them as
columns so the background jobs can find their experiments with an index instead of parsing every row.
"""

from __future__ import annotations

import ast
import json
import math
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crucible.core.db import Database, utcnow
from crucible.dialects.streamingbandit.errors import NOT_VALIDATED_EXPERIMENT, SbError
from crucible.dialects.streamingbandit.models import SbExperiment

HOOKS = ("get_context", "get_action", "get_reward", "set_reward")
HOOK_ALIASES = {"getcontext": "get_context", "getaction": "get_action", "getreward": "get_reward"}
HOOK_ALIASES["setreward"] = "set_reward"
TRUE_TEXTS = frozenset({"true", "True", "y", "yes", "1"})
FALSE_TEXTS = frozenset({"false", "False", "n", "no", "0", ""})
MAX_DELTA_HOURS = 99999
DELTA_HOURS_MESSAGE = f"Supplied number for delta hours must be between 0 and {MAX_DELTA_HOURS}."
ID_ATTEMPTS = 10
CACHED_EXPERIMENTS = 10000

TABLE = SbExperiment.__table__
LOAD = select(
    TABLE.c.id,
    TABLE.c.owner_id,
    TABLE.c.key,
    TABLE.c.properties,
    TABLE.c.theta_version,
    TABLE.c.advice_on,
    TABLE.c.hourly_theta_on,
).where(TABLE.c.id == bindparam("exp_id"), TABLE.c.deleted_at.is_(None))
"""Built once: on SQLite, building a statement costs more than running it."""

CodeCheck = Callable[[str, str], None]
"""`check(hook, code)`: raises `SbError` (400) when the code fails the sandbox's static check."""


@dataclass(frozen=True)
class Experiment:
    """A live experiment as the routes and the executor need it."""

    id: str
    owner_id: int
    key: str
    properties: dict[str, str]
    theta_version: int
    advice_on: bool
    hourly_theta_on: bool

    @classmethod
    def from_row(cls, row: SbExperiment) -> Experiment:
        return cls(
            row.id,
            row.owner_id,
            row.key,
            dict(row.properties),
            row.theta_version,
            row.advice_on,
            row.hourly_theta_on,
        )

    @property
    def delta_hours(self) -> int:
        try:
            return int(self.properties.get("delta_hours", "0"))
        except ValueError:
            return 0

    @property
    def default_reward(self) -> Any:
        """The parsed `default_reward` (Python literal first, JSON second), `{}` if unreadable."""
        parsed = parse_reward_text(self.properties.get("default_reward", "{}"))
        return parsed if parsed is not None else {}


def load(session: Session | Connection, exp_id: str) -> Experiment | None:
    """The live (not deleted) experiment with this id (one indexed read: it is on every request)."""
    row = session.execute(LOAD, {"exp_id": exp_id}).first()
    return None if row is None else Experiment(*row)


class ExperimentCache:
    """Live experiments by id, for a server that sees every change (SQLite is single-process, §4.6):
    the process forgets an experiment when it edits or deletes it. Elsewhere every lookup reads the row.

    A lookup that raced with an edit never stores the row it read: `forget` moves a generation counter
    that the lookup checks before storing."""

    def __init__(self, db: Database, enabled: bool) -> None:
        self.db = db
        self.enabled = enabled
        self._entries: dict[str, Experiment] = {}
        self._generation = 0
        self._lock = threading.Lock()

    def load(self, exp_id: str) -> Experiment | None:
        if self.enabled:
            with self._lock:
                found = self._entries.get(exp_id)
                generation = self._generation
            if found is not None:
                return found
        with self.db.connect() as connection:
            experiment = load(connection, exp_id)
        if self.enabled and experiment is not None:
            with self._lock:
                if generation == self._generation:
                    if len(self._entries) >= CACHED_EXPERIMENTS:
                        self._entries.clear()
                    self._entries[exp_id] = experiment
        return experiment

    def forget(self, exp_id: str) -> None:
        with self._lock:
            self._generation += 1
            self._entries.pop(exp_id, None)


def load_owned(session: Session | Connection, exp_id: str, user_id: int) -> Experiment:
    """The caller's live experiment, else 401 (unknown, deleted and foreign look the same)."""
    experiment = load(session, exp_id)
    if experiment is None or experiment.owner_id != user_id:
        raise SbError(401, NOT_VALIDATED_EXPERIMENT)
    return experiment


def list_owned(session: Session, user_id: int) -> dict[str, dict[str, str]]:
    rows = session.scalars(
        select(SbExperiment)
        .where(SbExperiment.owner_id == user_id, SbExperiment.deleted_at.is_(None))
        .order_by(SbExperiment.created_at, SbExperiment.id)
    )
    return {row.id: dict(row.properties) for row in rows}


# --- validation -------------------------------------------------------------------------------------------


def parse_flag(data: dict[str, Any], name: str) -> bool:
    value = data.get(name)
    if value is None or value is False:
        return False
    if value is True:
        return True
    if isinstance(value, str) and value in TRUE_TEXTS:
        return True
    if isinstance(value, str) and value in FALSE_TEXTS:
        return False
    raise SbError(400, f"Invalid value for '{name}': use true or false.")


def parse_delta_hours(value: Any) -> int:
    number: Any = value
    if isinstance(value, str):
        try:
            number = float(value.strip()) if value.strip() else None
        except ValueError:
            number = None
    if isinstance(number, bool) or not isinstance(number, int | float) or not math.isfinite(number):
        raise SbError(400, "Field 'delta_hours' must be an integer.")
    if number != int(number):
        raise SbError(400, "Field 'delta_hours' must be an integer.")
    if not 0 <= number <= MAX_DELTA_HOURS:
        raise SbError(400, DELTA_HOURS_MESSAGE)
    return int(number)


def parse_reward_text(text: str) -> Any:
    """A default reward written as text: a Python literal (the original's form), else JSON; None if neither."""
    try:
        return ast.literal_eval(text.strip())
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        pass
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def parse_default_reward(value: Any) -> str:
    parsed = parse_reward_text(value) if isinstance(value, str) else value
    if not isinstance(parsed, dict):
        raise SbError(400, "Field 'default_reward' must be a JSON object (or its text).")
    try:
        return repr(parsed)
    except RecursionError:
        raise SbError(400, "Field 'default_reward' is nested too deeply.") from None


def validated_properties(data: Any, check: CodeCheck) -> dict[str, str]:
    """The properties a POST or PUT body writes (§4.1), in the wire's order; raises 400 on bad input."""
    if not isinstance(data, dict):
        raise SbError(400, "The request body must be a JSON object.")
    name = data.get("name")
    if name is None:
        raise SbError(400, "Missing field 'name'.")
    if not isinstance(name, str):
        raise SbError(400, "Field 'name' must be a string.")
    properties: dict[str, str] = {"name": name}
    code = {hook: data.get(hook) for hook in HOOKS}
    for alias, hook in HOOK_ALIASES.items():
        if code[hook] is None and data.get(alias) is not None:
            code[hook] = data[alias]
    for hook in HOOKS:
        text = code[hook]
        if text is None:
            text = ""
        if not isinstance(text, str):
            raise SbError(400, f"Field '{hook}' must be a string.")
        properties[hook] = text
    hourly, advice = parse_flag(data, "hourly_theta"), parse_flag(data, "advice_id")
    properties["hourly_theta"] = str(hourly)
    properties["advice_id"] = str(advice)
    if data.get("delta_hours") is not None:
        properties["delta_hours"] = str(parse_delta_hours(data["delta_hours"]))
    elif advice:
        raise SbError(400, "Field 'delta_hours' is required when advice_id is on.")
    if data.get("default_reward") is not None:
        properties["default_reward"] = parse_default_reward(data["default_reward"])
    elif advice:
        raise SbError(400, "Field 'default_reward' is required when advice_id is on.")
    for hook in HOOKS:
        if properties[hook].strip():
            check(hook, properties[hook])
    return properties


# --- create, update, delete -------------------------------------------------------------------------------


def create(session: Session, user_id: int, written: dict[str, str]) -> Experiment:
    """A new experiment with a fresh id (never reused, deleted ones included) and key."""
    for _ in range(ID_ATTEMPTS):
        exp_id, key = secrets.token_hex(5), secrets.token_hex(8)
        taken = session.scalar(
            select(SbExperiment.id).where((SbExperiment.id == exp_id) | (SbExperiment.key == key))
        )
        if taken is not None:
            continue
        properties = {"user_id": str(user_id), **written, "key": key}
        properties = _ordered(properties)
        row = SbExperiment(
            id=exp_id,
            owner_id=user_id,
            key=key,
            properties=properties,
            advice_on=properties["advice_id"] == "True",
            hourly_theta_on=properties["hourly_theta"] == "True",
            theta_version=0,
            created_at=utcnow(),
        )
        try:
            with session.begin_nested():
                session.add(row)
        except IntegrityError:
            continue
        return Experiment.from_row(row)
    raise SbError(503, "Could not allocate an experiment id, retry.")


def update(session: Session, exp_id: str, written: dict[str, str]) -> None:
    """PUT: replace the written fields, keep the others (and the key), mark the experiment active."""
    row = session.get(SbExperiment, exp_id, with_for_update=True)
    if row is None or row.deleted_at is not None:
        raise SbError(401, NOT_VALIDATED_EXPERIMENT)
    properties = {**row.properties, **written, "key": row.key, "user_id": str(row.owner_id)}
    properties["active"] = "1"
    row.properties = _ordered(properties)
    row.advice_on = properties["advice_id"] == "True"
    row.hourly_theta_on = properties["hourly_theta"] == "True"


def soft_delete(session: Session, exp_id: str) -> None:
    """The experiment disappears from every route; its row (an archived copy of the properties), logs and
    theta stay, and its id is never reused."""
    row = session.get(SbExperiment, exp_id, with_for_update=True)
    if row is None or row.deleted_at is not None:
        raise SbError(401, NOT_VALIDATED_EXPERIMENT)
    row.deleted_at = utcnow()


_ORDER = (
    "user_id",
    "name",
    *HOOKS,
    "hourly_theta",
    "advice_id",
    "key",
    "delta_hours",
    "default_reward",
    "active",
)


def _ordered(properties: dict[str, str]) -> dict[str, str]:
    ordered = {name: properties[name] for name in _ORDER if name in properties}
    ordered.update({k: v for k, v in properties.items() if k not in ordered})
    return ordered
