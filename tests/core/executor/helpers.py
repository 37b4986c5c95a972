"""Test helpers for the executor: an event recorder that can be waited on, process checks."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from crucible.core.executor import Finished, Logs, RunEvent


class Recorder:
    """A thread-safe EventCallback that keeps every event and lets a test wait for one."""

    def __init__(self) -> None:
        self.events: list[RunEvent] = []
        self.threads: set[int] = set()
        self._condition = threading.Condition()

    def __call__(self, event: RunEvent) -> None:
        with self._condition:
            self.events.append(event)
            self.threads.add(threading.get_ident())
            self._condition.notify_all()

    def of(self, run_id: str) -> list[RunEvent]:
        with self._condition:
            return [event for event in self.events if event.run_id == run_id]

    def kinds(self, run_id: str) -> list[str]:
        return [type(event).__name__ for event in self.of(run_id)]

    def wait_for(self, predicate: Callable[[RunEvent], bool], timeout: float = 10.0) -> RunEvent:
        deadline = time.monotonic() + timeout
        with self._condition:
            while True:
                for event in self.events:
                    if predicate(event):
                        return event
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"no matching event within {timeout} s; got {self.events!r}")
                self._condition.wait(remaining)

    def finished(self, run_id: str, timeout: float = 10.0) -> Finished:
        event = self.wait_for(lambda e: isinstance(e, Finished) and e.run_id == run_id, timeout)
        assert isinstance(event, Finished)
        return event

    def lines(self, run_id: str, stream: str | None = None) -> list[str]:
        return [
            line.text
            for event in self.of(run_id)
            if isinstance(event, Logs)
            for line in event.lines
            if stream is None or line.stream == stream
        ]


def pid_gone(pid: int) -> bool:
    """Gone, or a zombie waiting for a reaper we do not control (e.g. a container's init)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat[stat.rfind(")") + 2] == "Z"


def wait_until(condition: Callable[[], bool], timeout: float = 10.0, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()
