"""Running experiment code through the sandbox and committing what it buffered, only on success
(spec §4.2, §4.5–§4.8).

One sandbox call per getaction, setreward, expiring advice or simulate. The worker asks this side for
what it may see (other experiments of the same owner, theta too large to ship, logs) and returns the
theta writes and log rows it buffered; they are committed atomically with the call's own rows (action
log, reward log, advice) after the theta versions it read are re-checked. A call that read stale theta is
run again (up to 5 times, jittered backoff), then answered 409. Everything here is synchronous: routes
call it from worker threads, the background jobs from theirs.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import bindparam, delete, insert, select
from sqlalchemy.engine import Connection

from crucible.core.db import Database, utcnow
from crucible.dialects.streamingbandit import experiments, stats, theta_text
from crucible.dialects.streamingbandit.errors import ADVICE_GONE, CONFLICT, NOT_VALIDATED_EXPERIMENT, SbError
from crucible.dialects.streamingbandit.experiments import Experiment
from crucible.dialects.streamingbandit.models import SbAdvice
from crucible.dialects.streamingbandit.sandbox_runtime import LOOPBACK_KEY, MAX_KEY_CHARS, MAX_VALUE_BYTES
from crucible.dialects.streamingbandit.stats import LogRow, dumps, iso
from crucible.dialects.streamingbandit.theta_store import (
    Change,
    Hash,
    HeldLock,
    LockTimeout,
    Snapshot,
    SqlThetaStore,
    ThetaConflict,
    ThetaStore,
)
from crucible.engines.sandbox import (
    CodeError,
    Limits,
    MemoryLimitExceeded,
    Policy,
    ResultNotSerializable,
    SandboxBusy,
    SandboxError,
    SandboxPool,
    SandboxUnavailable,
    SandboxViolation,
    TimeLimitExceeded,
    WorkerDied,
)
from crucible.settings import Settings

RUNTIME = "crucible.dialects.streamingbandit.sandbox_runtime"
CHECK_RUNTIME = "crucible.dialects.streamingbandit.code_check_runtime"
POLICY = Policy(imports=frozenset({"numpy", "scipy", "random"}))
CHECK_POLICY = dataclasses.replace(POLICY, check_imports=False)

ATTEMPTS = 5
RESULT_CAP = 1 << 20
"""Each of action, context, reward and every log row (spec §4.2)."""
MAX_OPENED = 64
"""Distinct experiments one call may open (nesting is limited to 8 levels; this bounds fan-out)."""
EXP_ID = re.compile(r"^[A-Za-z0-9_]{1,64}$")
HOOK_FILE = re.compile(r"^<([A-Za-z0-9_]+):(get_context|get_action|get_reward|set_reward)>$")
HOOK_NAMES = ("get_context", "get_action", "get_reward", "set_reward")

T = TypeVar("T")
log = logging.getLogger(__name__)

ADVICES = SbAdvice.__table__
ADVICE_INSERT = insert(ADVICES)
ADVICE_MATCH = (ADVICES.c.advice_id == bindparam("advice_id")) & (ADVICES.c.exp_id == bindparam("exp_id"))
ADVICE_SELECT = select(ADVICES.c.context, ADVICES.c.action, ADVICES.c.created_at, ADVICES.c.failures).where(
    ADVICE_MATCH
)
ADVICE_DELETE = delete(ADVICES).where(ADVICE_MATCH)


class AdviceGone(Exception):
    """The advice was consumed (or dropped) by someone else before this call could commit."""


@dataclass(frozen=True)
class Advice:
    advice_id: str
    exp_id: str
    context: Any
    action: Any
    created_at: datetime
    failures: int


class CallRequests:
    """Answers one sandbox call's requests, deciding what its owner may see, and remembers which
    experiments it opened and the theta version each was read at."""

    def __init__(
        self, executor: Executor, primary: Experiment, snapshot: Snapshot, held: HeldLock | None
    ) -> None:
        self.executor = executor
        self.owner_id = primary.owner_id
        self.held = held
        self.seen: dict[str, int] = {primary.id: snapshot.version}
        self.bases: dict[str, dict[str, Hash] | None] = {primary.id: snapshot.hashes}
        """The whole theta each opened experiment had at its seen version, when it was shipped."""
        self.primary_info = self.info(primary, snapshot)

    @staticmethod
    def info(experiment: Experiment, snapshot: Snapshot) -> dict[str, Any]:
        return {
            "exp_id": experiment.id,
            "properties": experiment.properties,
            "theta": snapshot.hashes,
            "theta_size": snapshot.size,
        }

    def __call__(self, body: Any) -> Any:
        if not isinstance(body, dict):
            raise SandboxViolation("sandbox protocol error: malformed request")
        op = body.get("op")
        if op == "open":
            return self.open(body.get("exp_id"))
        exp_id = body.get("exp_id")
        if not isinstance(exp_id, str) or exp_id not in self.seen:
            raise SandboxViolation(NOT_VALIDATED_EXPERIMENT)
        if op == "read":
            return self.read(exp_id, body.get("prefix"), body.get("exact"))
        if op == "log":
            kind, limit = body.get("kind"), body.get("limit")
            if kind not in stats.LOG_KINDS or not isinstance(limit, int) or limit < 0:
                raise SandboxViolation("sandbox protocol error: malformed log request")
            with self.executor.db.connect() as connection:
                return stats.read_values(connection, exp_id, kind, limit)
        if op == "summary":
            with self.executor.db.connect() as connection:
                return stats.summary(connection, exp_id)
        raise SandboxViolation(f"sandbox protocol error: unknown request {op!r}")

    def open(self, exp_id: Any) -> dict[str, Any]:
        """`Experiment(exp_id)`: only a live experiment of the same owner."""
        if not isinstance(exp_id, str) or not EXP_ID.match(exp_id):
            raise SandboxViolation(NOT_VALIDATED_EXPERIMENT)
        if len(self.seen) >= MAX_OPENED:
            raise SandboxViolation(f"a call may open at most {MAX_OPENED} experiments")
        experiment = self.executor.experiments.load(exp_id)
        if experiment is None or experiment.owner_id != self.owner_id:
            raise SandboxViolation(NOT_VALIDATED_EXPERIMENT)
        snapshot = self.executor.snapshot(experiment, fresh=False)
        self.seen[experiment.id] = snapshot.version
        self.bases[experiment.id] = snapshot.hashes
        return self.info(experiment, snapshot)

    def read(self, exp_id: str, prefix: Any, exact: Any) -> dict[str, Any]:
        """Theta too large to ship, read at the version the call has seen (else the call is re-run)."""
        if (
            not isinstance(prefix, str)
            or not prefix.startswith(f"exp:{exp_id}:")
            or len(prefix) > MAX_KEY_CHARS
        ):
            raise SandboxViolation("sandbox protocol error: malformed theta read")
        hashes, version = self.executor.store.read(exp_id, prefix, bool(exact))
        if version != self.seen[exp_id]:
            raise ThetaConflict(exp_id)
        return hashes

    # --- what the worker returned -----------------------------------------------------------------------

    def changes(self, value: Mapping[str, Any]) -> dict[str, list[Change]]:
        """The theta writes, checked: only opened experiments, keys in their namespace, text values."""
        raw = value.get("changes")
        if not isinstance(raw, dict):
            raise SandboxViolation("sandbox protocol error: malformed result")
        checked: dict[str, list[Change]] = {}
        for exp_id, ops in raw.items():
            if exp_id not in self.seen or not isinstance(ops, list):
                raise SandboxViolation("sandbox protocol error: theta write outside the call")
            checked[exp_id] = [self._change(exp_id, op) for op in ops]
        return {exp_id: ops for exp_id, ops in checked.items() if ops}

    @staticmethod
    def _change(exp_id: str, op: Any) -> Change:
        if not (isinstance(op, list) and len(op) == 3):
            raise SandboxViolation("sandbox protocol error: malformed theta write")
        key, replaced, fields = op
        if (
            not isinstance(key, str)
            or not key.startswith(f"exp:{exp_id}:")
            or len(key) > MAX_KEY_CHARS
            or not isinstance(replaced, bool)
            or not isinstance(fields, dict)
            or not all(
                isinstance(k, str) and isinstance(v, str) and len(k) + len(v) <= MAX_VALUE_BYTES
                for k, v in fields.items()
            )
        ):
            raise SandboxViolation("sandbox protocol error: malformed theta write")
        return key, replaced, fields

    def logs(self, value: Mapping[str, Any]) -> list[tuple[str, str]]:
        """The rows given to `log_data`, as (exp_id, JSON text), checked: only opened experiments."""
        raw = value.get("logs")
        if not isinstance(raw, list):
            raise SandboxViolation("sandbox protocol error: malformed result")
        rows = []
        for entry in raw:
            if not (isinstance(entry, list) and len(entry) == 2 and entry[0] in self.seen):
                raise SandboxViolation("sandbox protocol error: log row outside the call")
            text = dumps(entry[1])
            if len(text) > RESULT_CAP:
                raise SbError(500, "A row given to log_data is larger than 1 MiB.")
            rows.append((entry[0], text))
        return rows


@dataclass(frozen=True)
class CallOutcome:
    """A finished sandbox call, checked: the runtime's result, its theta writes and its log rows."""

    value: dict[str, Any]
    changes: dict[str, list[Change]]
    logs: list[tuple[str, str]]

    def log_rows(self, now: datetime) -> list[LogRow]:
        return [LogRow(exp_id, "log", text, now) for exp_id, text in self.logs]


class Executor:
    """Runs the calls of spec §4.2 for one server process."""

    def __init__(
        self, settings: Settings, db: Database, store: ThetaStore, pool: Callable[[], SandboxPool]
    ) -> None:
        self.settings = settings
        self.db = db
        self.store = store
        self.pool = pool
        self.limits = Limits(settings.sb_sandbox_cpu_seconds, settings.sb_sandbox_wall_seconds)
        self.simulate_limits = Limits(settings.sb_simulate_seconds, settings.sb_simulate_seconds)
        self.theta_max_bytes = settings.sb_theta_max_mb << 20
        self.experiments = experiments.ExperimentCache(db, enabled=store.single_process)

    # --- the calls --------------------------------------------------------------------------------------

    def get_action(self, experiment: Experiment, key: str, context: Any) -> dict[str, Any]:
        def attempt(first: bool) -> dict[str, Any]:
            snapshot = self.snapshot(experiment, fresh=not first)
            requests = CallRequests(self, experiment, snapshot, None)
            payload = {"call": "get_action", "key": key, "context": context}
            outcome = self.run(experiment, "get_action", requests, payload, self.limits)
            value = outcome.value
            result = {"action": value.get("action"), "context": value.get("context")}
            capped("get_action", result)
            now = utcnow()
            advice_id = secrets.token_hex(12) if experiment.advice_on else None
            action_row = dumps({"context": result["context"], "action": result["action"], "date": iso(now)})

            def write_rows(connection: Connection) -> None:
                rows = [*outcome.log_rows(now), LogRow(experiment.id, "action", action_row, now)]
                stats.add_rows(connection, rows)
                if advice_id is not None:
                    connection.execute(
                        ADVICE_INSERT,
                        {
                            "advice_id": advice_id,
                            "exp_id": experiment.id,
                            "context": dumps(result["context"]),
                            "action": dumps(result["action"]),
                            "created_at": now,
                            "failures": 0,
                        },
                    )

            self.store.commit(outcome.changes, requests.seen, None, write_rows, requests.bases)
            if advice_id is not None:
                result["advice_id"] = advice_id
            return result

        return self.with_retries(attempt)

    def set_reward(
        self,
        experiment: Experiment,
        key: str,
        reward: Any,
        *,
        context: Any = None,
        action: Any = None,
        advice_id: str | None = None,
        from_expiry: bool = False,
    ) -> dict[str, Any]:
        """A client setreward (by context and action, or by advice id) or an expiring advice; holds the
        experiment's theta lock for the whole run. Expiry rewards are not written to the reward log."""

        def attempt(first: bool) -> dict[str, Any]:
            with self.store.primary(experiment.id, self.limits.wall_seconds, self.lease) as held:
                call_context, call_action = context, action
                if advice_id is not None:
                    advice = self.claim(experiment, advice_id, expired_ok=from_expiry)
                    call_context, call_action = advice.context, advice.action
                snapshot = self.snapshot(experiment, version=held.version)
                requests = CallRequests(self, experiment, snapshot, held)
                payload = {
                    "call": "set_reward",
                    "key": key,
                    "context": call_context,
                    "action": call_action,
                    "reward": reward,
                }
                outcome = self.run(experiment, "set_reward", requests, payload, self.limits)
                value = outcome.value
                result = {
                    "status": "success",
                    "action": value.get("action"),
                    "context": value.get("context"),
                    "reward": value.get("reward"),
                }
                capped("set_reward", result)
                now = utcnow()

                def write_rows(connection: Connection) -> None:
                    rows = outcome.log_rows(now)
                    if not from_expiry:
                        logged = {k: result[k] for k in ("context", "action", "reward")}
                        rows.append(LogRow(experiment.id, "reward", dumps({**logged, "date": iso(now)}), now))
                    stats.add_rows(connection, rows)
                    if advice_id is not None:
                        consumed = connection.execute(
                            ADVICE_DELETE, {"advice_id": advice_id, "exp_id": experiment.id}
                        )
                        if consumed.rowcount != 1:
                            raise AdviceGone(advice_id)

                self.store.commit(outcome.changes, requests.seen, held, write_rows, requests.bases)
                return result

        try:
            return self.with_retries(attempt)
        except AdviceGone:
            raise SbError(400, ADVICE_GONE) from None

    def simulate(
        self, experiment: Experiment, n: int, seed: int | None, log_stats: bool, verbose: bool
    ) -> dict[str, Any]:
        """N closed loops in one sandbox call holding the lock; all writes commit at the end (§4.8)."""

        def attempt(first: bool) -> dict[str, Any]:
            with self.store.primary(experiment.id, self.limits.wall_seconds, self.simulate_lease) as held:
                snapshot = self.snapshot(experiment, version=held.version)
                requests = CallRequests(self, experiment, snapshot, held)
                payload = {"call": "simulate", "n": n, "keep_data": verbose or log_stats}
                outcome = self.run(experiment, "simulate", requests, payload, self.simulate_limits, seed)
                value = outcome.value
                now = utcnow()

                def write_rows(connection: Connection) -> None:
                    rows = outcome.log_rows(now)
                    if log_stats:
                        rows.append(LogRow(experiment.id, "simulation", dumps(value.get("data")), now))
                    stats.add_rows(connection, rows)

                self.store.commit(outcome.changes, requests.seen, held, write_rows, requests.bases)
            if verbose:
                return {"simulate": "success", "experiment": experiment.id, "data": value.get("data")}
            return {"simulate": "success", "experiment": experiment.id, "theta": value.get("theta")}

        return self.with_retries(attempt)

    def reset(self, experiment: Experiment, key: str | None, value: str | None) -> bool:
        """`resetexperiment`: delete what `get_theta(key, value)` reads, under the lock; a full reset of an
        experiment with advice ids also drops its pending advices. False when nothing was deleted."""
        full = key is None and value is None
        prefix = theta_text.theta_key(experiment.id, key, value)
        exact = theta_text.is_exact(value)

        def attempt(first: bool) -> bool:
            with self.store.primary(experiment.id, self.limits.wall_seconds, self.lease) as held:
                hashes, version = self.store.read(experiment.id, prefix, exact)
                changes = {experiment.id: [(k, True, {}) for k in hashes]} if hashes else {}
                dropped = [0]

                def write_rows(connection: Connection) -> None:
                    if full and experiment.advice_on:
                        table = SbAdvice.__table__
                        dropped[0] = connection.execute(
                            delete(table).where(table.c.exp_id == experiment.id)
                        ).rowcount

                self.store.commit(changes, {experiment.id: version}, held, write_rows)
                return bool(hashes) or dropped[0] > 0

        return self.with_retries(attempt)

    def expire(self, experiment: Experiment, advice: Advice) -> None:
        """Give an expired advice its default reward (background job)."""
        self.set_reward(
            experiment,
            LOOPBACK_KEY,
            experiment.default_reward,
            advice_id=advice.advice_id,
            from_expiry=True,
        )

    # --- helpers ----------------------------------------------------------------------------------------

    @property
    def lease(self) -> float:
        return self.limits.wall_seconds + 5.0

    @property
    def simulate_lease(self) -> float:
        return self.simulate_limits.wall_seconds + 5.0

    def snapshot(
        self, experiment: Experiment, *, fresh: bool = False, version: int | None = None
    ) -> Snapshot:
        """The experiment's committed theta: at `version` (known under the lock), else at the version its
        row was loaded with (SQL store, first attempt), else at the current one."""
        if (
            version is None
            and not fresh
            and isinstance(self.store, SqlThetaStore)
            and not self.store.single_process
        ):
            version = experiment.theta_version  # read with the row a moment ago
        return self.store.snapshot(experiment.id, version)

    def claim(self, experiment: Experiment, advice_id: str, *, expired_ok: bool) -> Advice:
        """The pending advice for this experiment (read under the experiment's lock); it is deleted in the
        same commit as the reward, so a failed run leaves it usable."""
        with self.db.connect() as connection:
            row = connection.execute(ADVICE_SELECT, {"advice_id": advice_id, "exp_id": experiment.id}).first()
        if row is None:
            raise AdviceGone(advice_id)
        advice = Advice(
            advice_id,
            experiment.id,
            stats.loads(row.context),
            stats.loads(row.action),
            row.created_at,
            row.failures,
        )
        if not expired_ok and utcnow() - advice.created_at > timedelta(hours=experiment.delta_hours):
            raise AdviceGone(advice_id)
        return advice

    def run(
        self,
        experiment: Experiment,
        trigger: str,
        requests: CallRequests,
        payload: dict[str, Any],
        limits: Limits,
        seed: int | None = None,
    ) -> CallOutcome:
        """One sandbox call of the runtime; its failures become wire errors (spec §4.5)."""
        payload = {**payload, "exp": requests.primary_info, "theta_max_bytes": self.theta_max_bytes}
        try:
            result = self.pool().run_sync(
                RUNTIME,
                str(experiment.owner_id),
                payload=payload,
                handler=requests,
                limits=limits,
                seed=seed,
            )
        except SandboxError as error:
            log_output(experiment.id, error.output)
            raise wire_error(error, trigger, experiment.id, self.settings.sb_debug) from None
        log_output(experiment.id, result.output)
        try:
            if not isinstance(result.value, dict):
                raise SandboxViolation("sandbox protocol error: malformed result")
            return CallOutcome(result.value, requests.changes(result.value), requests.logs(result.value))
        except SandboxViolation as error:  # a worker returning what no runtime would: refuse it all
            raise wire_error(error, trigger, experiment.id) from None

    def with_retries(self, attempt: Callable[[bool], T]) -> T:
        for number in range(ATTEMPTS):
            try:
                return attempt(number == 0)
            except ThetaConflict:
                if number + 1 < ATTEMPTS:
                    time.sleep(random.uniform(0.0, 0.005 * 2**number))
            except LockTimeout:
                break
        raise SbError(409, CONFLICT)


def log_output(exp_id: str, output: str) -> None:
    """What experiment code printed (the first 64 KiB) goes to the server log, never to the client."""
    if output:
        log.info("experiment %s printed: %s", exp_id, output)


def capped(hook: str, result: Mapping[str, Any]) -> None:
    for name in ("action", "context", "reward"):
        if name in result and len(dumps(result[name])) > RESULT_CAP:
            raise SbError(500, f"{hook} produced a value larger than 1 MiB ({name}).")


def wire_error(error: SandboxError, trigger: str, exp_id: str, debug: bool = False) -> SbError:
    """The wire error for a failed sandbox call (spec §4.5 table)."""
    hook, failing = trigger, exp_id
    filename = getattr(error, "filename", None)
    found = HOOK_FILE.match(filename) if isinstance(filename, str) else None
    if found:
        failing, hook = found.group(1), found.group(2)
    if isinstance(error, CodeError):
        message = f"Error in {hook} code of experiment {failing}: {error.type_name}: {error.message}"
        if error.line is not None:
            message += f" (line {error.line})"
        return SbError(500, message, traceback=error.traceback if debug else None)
    if isinstance(error, SandboxViolation):
        return SbError(403, f"Sandbox violation in {hook} code: {error}")
    if isinstance(error, TimeLimitExceeded):
        return SbError(504, f"{hook} code exceeded the time limit ({error.seconds:g} s).")
    if isinstance(error, MemoryLimitExceeded):
        return SbError(500, f"{hook} code exceeded the memory limit ({error.megabytes} MiB).")
    if isinstance(error, WorkerDied):
        return SbError(500, str(error))
    if isinstance(error, SandboxBusy):
        return SbError(503, "Sandbox busy, retry.", headers={"Retry-After": "1"})
    if isinstance(error, SandboxUnavailable):
        return SbError(503, "Sandbox unavailable, retry.", headers={"Retry-After": "1"})
    if isinstance(error, ResultNotSerializable):
        if error.reason in HOOK_NAMES:
            return SbError(
                500, f"{error.reason} produced a value that is not JSON serializable ({error.type_name})."
            )
        return SbError(500, f"{trigger} produced a value that is {error.reason} ({error.type_name}).")
    return SbError(500, str(error))
