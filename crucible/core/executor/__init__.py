"""Run a command somewhere: local subprocesses by default, a Ray cluster (Jobs API) for scale-out.

One executor instance is shared by every dialect, so its `max_concurrent` FIFO limit is global.
The executor knows nothing of dialects: it takes a generic RunSpec and reports generic events;
the caller maps them to its own statuses, logs and storage. What a dialect writes:

    executor = create_executor("local", max_concurrent=2, stop_grace_s=10)  # once, at start-up

    def on_event(event: RunEvent) -> None:  # on the executor's thread: blocking DB writes are fine
        match event:
            case Starting():
                transition(experiment, "starting")
            case Running(handle=handle):
                remember_handle(experiment, handle)  # for reattach after a restart
                transition(experiment, "running")
            case Logs(lines=lines):
                append_logs(experiment, [line.text for line in lines])
            case Finished(state=state, message=message, traceback=traceback):
                transition(experiment, state.value, message, traceback)

    executor.submit(
        RunSpec(
            run_id=f"polyaxon-{experiment.uuid}",
            steps=[*build_steps, cmd],
            working_dir=working_copy,
            outputs_dir=outputs,
            env={"PYTHONUNBUFFERED": "1", **dialect_env},
            resources=Resources(cpus=1),
            labels={"dialect": "polyaxon", "experiment": str(experiment.id)},
            python_bin_dir=runner_venv / "bin",
        ),
        on_event,
    )
    executor.stop(f"polyaxon-{experiment.uuid}")  # returns at once, safe from an async route

    # after a restart, for each run the database still has as running:
    executor.reattach(run_id, stored_handle, on_event, lines_seen=stored_line_count)
    # (local: the orphan is killed and reported failed; Ray: the job is followed again)
"""

from __future__ import annotations

from typing import Literal

from crucible.core.executor.local import LocalExecutor
from crucible.core.executor.queueing import default_max_concurrent
from crucible.core.executor.ray import RayExecutor
from crucible.core.executor.runs import (
    EventCallback,
    Executor,
    Finished,
    LogLine,
    Logs,
    LogStream,
    Queued,
    Resources,
    RunEvent,
    Running,
    RunSpec,
    RunState,
    Starting,
    asyncio_queue_callback,
)

__all__ = [
    "EventCallback",
    "Executor",
    "Finished",
    "LocalExecutor",
    "LogLine",
    "LogStream",
    "Logs",
    "Queued",
    "RayExecutor",
    "Resources",
    "RunEvent",
    "RunSpec",
    "RunState",
    "Running",
    "Starting",
    "asyncio_queue_callback",
    "create_executor",
    "default_max_concurrent",
]


def create_executor(
    kind: Literal["local", "ray"] = "local",
    *,
    ray_address: str | None = None,
    max_concurrent: int | None = None,
    stop_grace_s: float = 10.0,
) -> LocalExecutor | RayExecutor:
    """The executor the settings ask for; `max_concurrent` None means max(1, cpu_count // 2)."""
    if kind == "local":
        return LocalExecutor(max_concurrent=max_concurrent, stop_grace_s=stop_grace_s)
    if kind == "ray":
        if not ray_address:
            raise ValueError("the ray executor needs ray_address (the dashboard's http URL)")
        if not ray_address.startswith(("http://", "https://")):
            raise ValueError(f"ray_address must be an http(s) URL, got {ray_address!r}")
        return RayExecutor(ray_address, max_concurrent=max_concurrent, stop_grace_s=stop_grace_s)
    raise ValueError(f"unknown executor kind {kind!r}; expected 'local' or 'ray'")
