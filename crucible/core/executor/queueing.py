"""What every executor shares: the FIFO queue behind `max_concurrent`, one thread per active run,
and one dispatcher thread that delivers events.

Events of all runs go through one dispatcher thread so that (a) a caller's callback never runs on
its event loop, (b) events of one run arrive in order, Finished last, and (c) a slow callback
(a database write) never delays reading a process's output or signalling it.
"""

from __future__ import annotations

import functools
import logging
import os
import queue
import threading
import time
from abc import ABC, abstractmethod
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass

from crucible.core.executor.runs import (
    EventCallback,
    Finished,
    Queued,
    RunEvent,
    RunSpec,
    RunState,
    Starting,
)

logger = logging.getLogger(__name__)

FINISHED_STATES_KEPT = 10_000


def default_max_concurrent() -> int:
    return max(1, (os.cpu_count() or 1) // 2)


@dataclass(frozen=True)
class Outcome:
    state: RunState
    message: str
    exit_code: int | None = None
    traceback: str | None = None


_Body = Callable[[], Outcome | None]


class ActiveRun:
    """A queued or running run. `state` and `holds_slot` are guarded by the executor's lock."""

    def __init__(self, run_id: str, spec: RunSpec | None, on_event: EventCallback) -> None:
        self.run_id = run_id
        self.spec = spec  # None for a re-attached run: only its handle is known
        self.on_event = on_event
        self.state = RunState.QUEUED
        self.holds_slot = False
        self.stop_requested = threading.Event()
        self.shutting_down = threading.Event()
        self.wake = threading.Event()  # nudges a polling run thread (stop, close)
        self.delivered = threading.Event()  # set once Finished went through the callback


class QueueingExecutor(ABC):
    def __init__(self, *, max_concurrent: int | None, stop_grace_s: float, name: str) -> None:
        if max_concurrent is not None and max_concurrent < 1:
            raise ValueError("max_concurrent must be at least 1")
        if stop_grace_s < 0:
            raise ValueError("stop_grace_s must not be negative")
        self.max_concurrent = max_concurrent or default_max_concurrent()
        self.stop_grace_s = stop_grace_s
        self._name = name
        self._lock = threading.Lock()
        self._pending: deque[ActiveRun] = deque()
        self._active: dict[str, ActiveRun] = {}
        self._slots_used = 0
        self._finished: OrderedDict[str, RunState] = OrderedDict()
        self._threads: set[threading.Thread] = set()
        self._closing = threading.Event()
        self._events: queue.SimpleQueue[tuple[ActiveRun, RunEvent] | None] = queue.SimpleQueue()
        self._dispatcher = threading.Thread(target=self._dispatch_loop, name=f"{name}-events", daemon=True)
        self._dispatcher.start()

    # --- public API (see runs.Executor) ---------------------------------------------------------

    def submit(self, spec: RunSpec, on_event: EventCallback) -> None:
        with self._lock:
            self._check_new_run_locked(spec.run_id)
            run = ActiveRun(spec.run_id, spec, on_event)
            self._active[run.run_id] = run
            self._pending.append(run)
            self._emit(run, Queued(run_id=run.run_id))
            self._start_pending_locked()

    def stop(self, run_id: str) -> bool:
        with self._lock:
            run = self._active.get(run_id)
            if run is None:
                return False
            if run.state is RunState.QUEUED:
                self._pending.remove(run)
                del self._active[run_id]
                self._finish_locked(run, Outcome(RunState.STOPPED, "Stopped before it started"))
                return True
            if run.stop_requested.is_set():
                return True
            run.stop_requested.set()
        self._request_stop(run)
        run.wake.set()
        return True

    def status(self, run_id: str) -> RunState | None:
        with self._lock:
            run = self._active.get(run_id)
            return run.state if run is not None else self._finished.get(run_id)

    def wait(self, run_id: str, timeout: float | None = None) -> RunState | None:
        with self._lock:
            run = self._active.get(run_id)
            if run is None:
                return self._finished.get(run_id)
        run.delivered.wait(timeout)
        return self.status(run_id)

    def reattach(self, run_id: str, handle: str, on_event: EventCallback, *, lines_seen: int = 0) -> None:
        with self._lock:
            self._check_new_run_locked(run_id)
            run = ActiveRun(run_id, None, on_event)
            run.state = RunState.RUNNING
            # It is already running somewhere, so it takes a slot at once, even past the limit.
            run.holds_slot = True
            self._slots_used += 1
            self._active[run_id] = run
            self._spawn_locked(run, lambda: self._reattach(run, handle, lines_seen))

    def close(self, timeout: float | None = None) -> None:
        """Queued runs are dropped without events (a restarted server re-submits them); what
        happens to running runs is up to the implementation (`_shutdown`)."""
        with self._lock:
            if self._closing.is_set():
                return
            self._closing.set()
            for run in self._pending:
                del self._active[run.run_id]
            self._pending.clear()
            running = list(self._active.values())
            threads = list(self._threads)
        for run in running:
            run.shutting_down.set()
        self._shutdown(running)
        for run in running:
            run.wake.set()
        budget = self.stop_grace_s + 10.0 if timeout is None else timeout
        deadline = time.monotonic() + budget
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._events.put(None)
        self._dispatcher.join(max(0.0, deadline - time.monotonic()))

    @property
    def active_count(self) -> int:
        with self._lock:
            return len(self._active)

    # --- for implementations --------------------------------------------------------------------

    @abstractmethod
    def _execute(self, run: ActiveRun) -> Outcome | None:
        """Run `run.spec` to completion on this thread; None means detached (no Finished event)."""

    @abstractmethod
    def _reattach(self, run: ActiveRun, handle: str, lines_seen: int) -> Outcome | None:
        """Take over a run started by a previous server."""

    @abstractmethod
    def _request_stop(self, run: ActiveRun) -> None:
        """Begin stopping a running run; must return quickly."""

    @abstractmethod
    def _shutdown(self, runs: list[ActiveRun]) -> None:
        """close() was called while these runs were active."""

    def _emit(self, run: ActiveRun, event: RunEvent) -> None:
        self._events.put((run, event))

    def _set_state(self, run: ActiveRun, state: RunState) -> None:
        with self._lock:
            run.state = state

    # --- internals ------------------------------------------------------------------------------

    def _check_new_run_locked(self, run_id: str) -> None:
        if self._closing.is_set():
            raise RuntimeError(f"{self._name} is closed")
        if run_id in self._active:
            raise ValueError(f"run {run_id!r} is already queued or running")

    def _start_pending_locked(self) -> None:
        while self._pending and self._slots_used < self.max_concurrent and not self._closing.is_set():
            run = self._pending.popleft()
            run.state = RunState.STARTING
            run.holds_slot = True
            self._slots_used += 1
            self._emit(run, Starting(run_id=run.run_id))
            self._spawn_locked(run, functools.partial(self._execute, run))

    def _spawn_locked(self, run: ActiveRun, body: _Body) -> None:
        thread = threading.Thread(
            target=self._run_thread, args=(run, body), name=f"{self._name}-run-{run.run_id}", daemon=True
        )
        self._threads.add(thread)
        thread.start()

    def _run_thread(self, run: ActiveRun, body: _Body) -> None:
        try:
            outcome = body()
        except Exception as error:
            logger.exception("executor error in run %s", run.run_id)
            outcome = Outcome(RunState.FAILED, f"Executor error: {error}")
        with self._lock:
            self._active.pop(run.run_id, None)
            self._threads.discard(threading.current_thread())
            if run.holds_slot:
                self._slots_used -= 1
            if outcome is None:
                run.delivered.set()
            else:
                self._finish_locked(run, outcome)
            self._start_pending_locked()

    def _finish_locked(self, run: ActiveRun, outcome: Outcome) -> None:
        run.state = outcome.state
        self._finished[run.run_id] = outcome.state
        self._finished.move_to_end(run.run_id)
        while len(self._finished) > FINISHED_STATES_KEPT:
            self._finished.popitem(last=False)
        self._emit(
            run,
            Finished(
                run_id=run.run_id,
                state=outcome.state,
                message=outcome.message,
                exit_code=outcome.exit_code,
                traceback=outcome.traceback,
            ),
        )

    def _dispatch_loop(self) -> None:
        while (item := self._events.get()) is not None:
            run, event = item
            try:
                run.on_event(event)
            except Exception:
                logger.exception("event callback failed for run %s", run.run_id)
            if isinstance(event, Finished):
                run.delivered.set()
