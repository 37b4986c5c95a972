"""What a caller hands the executor (RunSpec) and what it gets back (events, states).

Everything here is generic: a dialect maps these to its own statuses and storage. Events are plain
frozen dataclasses so a caller can `match` on them and pass them across threads safely.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Literal, Protocol


class RunState(StrEnum):
    QUEUED = "queued"
    STARTING = "starting"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    STOPPED = "stopped"

    @property
    def done(self) -> bool:
        return self in (RunState.SUCCEEDED, RunState.FAILED, RunState.STOPPED)


@dataclass(frozen=True, kw_only=True)
class Resources:
    """Hints: the local executor cannot enforce them; Ray reserves them for the entrypoint."""

    cpus: float | None = None
    gpus: float | None = None


@dataclass(frozen=True, kw_only=True)
class RunSpec:
    """One run: shell steps executed in order in `working_dir`; the last step is the main command.

    `run_id` must be unique for the lifetime of the deployment (the Ray executor uses it as the
    Jobs API submission id, which Ray never lets you reuse). `env` is the whole environment the
    caller wants; the local executor adds only an allow-list of server variables (see environment.py).
    `timeout_s` counts from the moment the run gets its slot; on expiry the run is terminated
    like a stop and ends failed with `timeout after <n> s`.
    """

    run_id: str
    steps: Sequence[str]
    working_dir: Path
    outputs_dir: Path
    env: Mapping[str, str] = field(default_factory=dict)
    resources: Resources = field(default_factory=Resources)
    labels: Mapping[str, str] = field(default_factory=dict)
    python_bin_dir: Path | None = None
    timeout_s: float | None = None

    def __post_init__(self) -> None:
        if not self.run_id:
            raise ValueError("run_id must not be empty")
        if isinstance(self.steps, str) or not self.steps:
            raise ValueError("steps must be a non-empty list of shell commands")
        if any(not isinstance(step, str) or not step.strip() for step in self.steps):
            raise ValueError("every step must be a non-empty shell command")
        if self.timeout_s is not None and self.timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        # Freeze the mutable inputs so a caller changing its dict later cannot affect a queued run.
        object.__setattr__(self, "steps", tuple(self.steps))
        object.__setattr__(self, "env", dict(self.env))
        object.__setattr__(self, "labels", dict(self.labels))

    @property
    def build_steps(self) -> tuple[str, ...]:
        return tuple(self.steps[:-1])

    @property
    def command(self) -> str:
        return self.steps[-1]


LogStream = Literal["stdout", "stderr", "output"]
"""`output` is a merged stdout+stderr stream (Ray keeps one driver log per job)."""


@dataclass(frozen=True)
class LogLine:
    stream: LogStream
    text: str


@dataclass(frozen=True, kw_only=True)
class Queued:
    run_id: str
    at: float = field(default_factory=time.time)


@dataclass(frozen=True, kw_only=True)
class Starting:
    """The run got a slot; build steps (if any) run next."""

    run_id: str
    at: float = field(default_factory=time.time)


@dataclass(frozen=True, kw_only=True)
class Running:
    """The main command is running. `handle` is what `Executor.reattach` needs after a restart:
    persist it if you want recovery."""

    run_id: str
    host: str
    handle: str
    pid: int | None = None
    submission_id: str | None = None
    at: float = field(default_factory=time.time)


@dataclass(frozen=True, kw_only=True)
class Logs:
    run_id: str
    lines: tuple[LogLine, ...]
    at: float = field(default_factory=time.time)


@dataclass(frozen=True, kw_only=True)
class Finished:
    """Always the last event of a run. `exit_code` is negative when a signal killed the process
    (as in `subprocess`) and None when no process ever ran."""

    run_id: str
    state: RunState
    message: str
    exit_code: int | None = None
    traceback: str | None = None
    at: float = field(default_factory=time.time)


RunEvent = Queued | Starting | Running | Logs | Finished
EventCallback = Callable[[RunEvent], None]
"""Called on the executor's own dispatcher thread, one event at a time, in order for each run.
It may block (e.g. write to a database); it must never call back into the executor's `close()`."""


class Executor(Protocol):
    """Runs commands somewhere. All methods return quickly and never wait on a run; events arrive
    on the callback given to `submit` or `reattach`."""

    def submit(self, spec: RunSpec, on_event: EventCallback) -> None:
        """Queue a run (FIFO behind `max_concurrent`). Raises ValueError for an active duplicate
        run_id and RuntimeError after close()."""
        ...

    def stop(self, run_id: str) -> bool:
        """Stop a queued or running run; False if it is unknown or already done."""
        ...

    def status(self, run_id: str) -> RunState | None:
        """The executor's view of a run (recently finished runs included), None if unknown."""
        ...

    def wait(self, run_id: str, timeout: float | None = None) -> RunState | None:
        """Block until the run's Finished event has been delivered (not for the event loop thread)."""
        ...

    def reattach(self, run_id: str, handle: str, on_event: EventCallback, *, lines_seen: int = 0) -> None:
        """After a server restart: take over a run that a previous server started (`handle` from
        its Running event). `lines_seen` log lines already stored are not delivered again."""
        ...

    def close(self, timeout: float | None = None) -> None:
        """Stop accepting runs and release threads; see each implementation for running runs."""
        ...


def asyncio_queue_callback(loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[RunEvent]) -> EventCallback:
    """An EventCallback that hands events to an asyncio queue, for callers living on an event loop."""

    def deliver(event: RunEvent) -> None:
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody is listening any more
            loop.call_soon_threadsafe(queue.put_nowait, event)

    return deliver
