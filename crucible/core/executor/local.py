"""Local executor: each step is `/bin/sh -c <step>` as the leader of its own session and process group.

A new session per process means stop can signal everything the command started (killpg), and
a run's children never receive the server's terminal signals. Output is read by the run's thread
with a selector, so lines reach the caller while the process runs, not only at the end.
"""

from __future__ import annotations

import codecs
import contextlib
import logging
import os
import selectors
import signal
import socket
import subprocess
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from crucible.core.executor.environment import run_env
from crucible.core.executor.queueing import ActiveRun, Outcome, QueueingExecutor
from crucible.core.executor.runs import LogLine, Logs, LogStream, Running, RunState

logger = logging.getLogger(__name__)

READ_SIZE = 64 * 1024
MAX_LINE_CHARS = 64 * 1024
PARTIAL_LINE_FLUSH_S = 1.0  # the log contract: every byte reaches the caller within 1 s
POLL_INTERVAL_S = 0.1
LEFTOVER_DRAIN_S = 2.0  # how long to keep reading after the leader exited, for escaped processes
TRACEBACK_LINES = 20
SERVER_RESTARTED = "Server restarted during execution"
SERVER_SHUT_DOWN = "Server shut down during execution"


class LocalExecutor(QueueingExecutor):
    """Runs on this machine. `server_env` is where the allow-listed variables come from (the
    server's own environment by default; tests pass their own)."""

    def __init__(
        self,
        *,
        max_concurrent: int | None = None,
        stop_grace_s: float = 10.0,
        server_env: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(max_concurrent=max_concurrent, stop_grace_s=stop_grace_s, name="local-executor")
        self._server_env = dict(os.environ if server_env is None else server_env)
        self._host = socket.gethostname()
        self._groups_lock = threading.Lock()
        self._groups: dict[str, _ProcessGroup] = {}

    # --- QueueingExecutor hooks -----------------------------------------------------------------

    def _execute(self, run: ActiveRun) -> Outcome:
        spec = run.spec
        assert spec is not None
        if not spec.working_dir.is_dir():
            return Outcome(RunState.FAILED, f"Working directory {spec.working_dir} does not exist")
        try:
            spec.outputs_dir.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            return Outcome(RunState.FAILED, f"Cannot create outputs directory: {error}")
        env = run_env(self._server_env, spec.env, spec.python_bin_dir)
        deadline = None if spec.timeout_s is None else time.monotonic() + spec.timeout_s
        for number, command in enumerate(spec.steps, start=1):
            if _interrupted(run):
                return _interrupted_outcome(run, None, None)
            is_main = number == len(spec.steps)
            result = self._run_process(run, command, spec.working_dir, env, deadline, is_main)
            if result.error is not None:
                return Outcome(RunState.FAILED, result.error)
            code = result.returncode
            traceback = "\n".join(result.stderr_tail) or None
            if _interrupted(run):
                return _interrupted_outcome(run, code, traceback)
            if result.timed_out:
                return Outcome(RunState.FAILED, f"timeout after {spec.timeout_s:g} s", code, traceback)
            if code == 0 and not is_main:
                continue
            if code == 0:
                return Outcome(RunState.SUCCEEDED, "Process exited with code 0", 0)
            what = "Process" if is_main else f"build step {number}"
            if code > 0:
                return Outcome(RunState.FAILED, f"{what} exited with code {code}", code, traceback)
            return Outcome(RunState.FAILED, f"{what} killed by signal {_signal_name(-code)}", code, traceback)
        raise AssertionError("unreachable: the last step always returns")

    def _reattach(self, run: ActiveRun, handle: str, lines_seen: int) -> Outcome:
        """A local run cannot outlive its server's pipes usefully: kill what is left of it (only
        if the handle still designates the very same process) and report it failed."""
        leader = _ProcessIdentity.parse(handle)
        if leader is not None and leader.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(leader.pid, signal.SIGTERM)
            deadline = time.monotonic() + self.stop_grace_s
            while leader.alive() and time.monotonic() < deadline:
                time.sleep(POLL_INTERVAL_S)
            if leader.alive():
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(leader.pid, signal.SIGKILL)
        return Outcome(RunState.FAILED, SERVER_RESTARTED)

    def _request_stop(self, run: ActiveRun) -> None:
        with self._groups_lock:
            group = self._groups.get(run.run_id)
        if group is not None:
            group.terminate(self.stop_grace_s)

    def _shutdown(self, runs: list[ActiveRun]) -> None:
        for run in runs:
            self._request_stop(run)

    # --- one process ----------------------------------------------------------------------------

    def _run_process(
        self,
        run: ActiveRun,
        command: str,
        cwd: Path,
        env: dict[str, str],
        deadline: float | None,
        is_main: bool,
    ) -> _ProcessResult:
        try:
            popen = subprocess.Popen(
                ["/bin/sh", "-c", command],
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as error:
            return _ProcessResult(error=f"Could not start process: {error}")
        group = _ProcessGroup(popen)
        with self._groups_lock:
            self._groups[run.run_id] = group
        try:
            # A stop that arrived before the group was registered did not signal anything.
            if _interrupted(run):
                group.terminate(self.stop_grace_s)
            if is_main:
                self._set_state(run, RunState.RUNNING)
                identity = _ProcessIdentity.of(popen.pid)
                self._emit(
                    run,
                    Running(
                        run_id=run.run_id,
                        host=self._host,
                        handle=identity.handle if identity else f"local:unknown:{popen.pid}:0",
                        pid=popen.pid,
                    ),
                )
            return self._pump(run, group, deadline)
        finally:
            with self._groups_lock:
                self._groups.pop(run.run_id, None)
            for pipe in (popen.stdout, popen.stderr):
                if pipe is not None:
                    pipe.close()

    def _pump(self, run: ActiveRun, group: _ProcessGroup, deadline: float | None) -> _ProcessResult:
        """Forward output line by line until the leader exited and its pipes are drained."""
        result = _ProcessResult()
        selector = selectors.DefaultSelector()
        pipes: list[tuple[LogStream, IO[bytes] | None]] = [
            ("stdout", group.popen.stdout),
            ("stderr", group.popen.stderr),
        ]
        for stream, pipe in pipes:
            assert pipe is not None
            os.set_blocking(pipe.fileno(), False)
            selector.register(pipe, selectors.EVENT_READ, _LineSplitter(stream))
        leader_exited_at: float | None = None
        try:
            while True:
                lines: list[LogLine] = []
                for key, _ in selector.select(POLL_INTERVAL_S):
                    splitter: _LineSplitter = key.data
                    try:
                        chunk = os.read(key.fd, READ_SIZE)
                    except BlockingIOError:
                        continue
                    if chunk:
                        texts = splitter.feed(chunk, time.monotonic())
                    else:
                        selector.unregister(key.fileobj)
                        texts = splitter.finish()
                    lines.extend(LogLine(splitter.stream, text) for text in texts)
                now = time.monotonic()
                for key in list(selector.get_map().values()):
                    splitter = key.data
                    lines.extend(LogLine(splitter.stream, text) for text in splitter.flush_stale(now))
                self._forward(run, lines, result)

                if deadline is not None and not result.timed_out and now >= deadline:
                    result.timed_out = True
                    group.terminate(self.stop_grace_s)
                group.kill_if_due(now)
                if leader_exited_at is None and group.leader_exited():
                    leader_exited_at = now
                    # The run ends with its main process; whatever it left in its group goes too.
                    # The unreaped leader keeps the group id reserved, so this cannot hit a stranger.
                    group.signal(signal.SIGKILL)
                if leader_exited_at is not None and (
                    not selector.get_map() or now - leader_exited_at > LEFTOVER_DRAIN_S
                ):
                    break
            # Pipes still open here belong to processes that left the group (setsid): stop reading.
            lines = []
            for key in list(selector.get_map().values()):
                splitter = key.data
                lines.extend(LogLine(splitter.stream, text) for text in splitter.finish())
            self._forward(run, lines, result)
        finally:
            selector.close()
        result.returncode = group.reap()
        return result

    def _forward(self, run: ActiveRun, lines: list[LogLine], result: _ProcessResult) -> None:
        if not lines:
            return
        result.stderr_tail.extend(line.text for line in lines if line.stream == "stderr")
        self._emit(run, Logs(run_id=run.run_id, lines=tuple(lines)))


@dataclass
class _ProcessResult:
    returncode: int = 0
    stderr_tail: deque[str] = field(default_factory=lambda: deque(maxlen=TRACEBACK_LINES))
    timed_out: bool = False
    error: str | None = None


class _ProcessGroup:
    """A spawned session leader and its group. Signals and the final reap share one lock, so no
    signal is ever sent to a group id after the leader was reaped (when the id could be reused)."""

    def __init__(self, popen: subprocess.Popen[bytes]) -> None:
        self.popen = popen
        self._lock = threading.Lock()
        self._reaped = False
        self._kill_at: float | None = None

    def signal(self, signum: int) -> None:
        with self._lock:
            if self._reaped:
                return
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signum)

    def terminate(self, grace_s: float) -> None:
        """SIGTERM now, SIGKILL once the grace period is over (see kill_if_due)."""
        with self._lock:
            if self._kill_at is None:
                self._kill_at = time.monotonic() + grace_s
        self.signal(signal.SIGTERM)

    def kill_if_due(self, now: float) -> None:
        with self._lock:
            due = self._kill_at is not None and now >= self._kill_at
        if due:
            self.signal(signal.SIGKILL)

    def leader_exited(self) -> bool:
        """Without reaping it (WNOWAIT): the zombie keeps the process group id reserved."""
        try:
            return os.waitid(os.P_PID, self.popen.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
        except ChildProcessError:
            return True

    def reap(self) -> int:
        with self._lock:
            code = self.popen.wait()
            self._reaped = True
            return code


class _LineSplitter:
    """Bytes to lines: UTF-8 with replacement (multi-byte characters may straddle reads), CRLF
    trimmed, over-long lines cut, and a partial line released after PARTIAL_LINE_FLUSH_S."""

    def __init__(self, stream: LogStream) -> None:
        self.stream = stream
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._partial = ""
        self._partial_since = 0.0

    def feed(self, data: bytes, now: float) -> list[str]:
        if not self._partial:
            self._partial_since = now
        text = self._partial + self._decoder.decode(data)
        *complete, self._partial = text.split("\n")
        lines = [piece for line in complete for piece in _cut(line.removesuffix("\r"))]
        while len(self._partial) > MAX_LINE_CHARS:
            lines.append(self._partial[:MAX_LINE_CHARS])
            self._partial = self._partial[MAX_LINE_CHARS:]
        return lines

    def flush_stale(self, now: float) -> list[str]:
        if self._partial and now - self._partial_since >= PARTIAL_LINE_FLUSH_S:
            line, self._partial = self._partial, ""
            return [line]
        return []

    def finish(self) -> list[str]:
        text = self._partial + self._decoder.decode(b"", final=True)
        self._partial = ""
        if not text:
            return []
        *complete, last = text.split("\n")
        lines = [piece for line in complete for piece in _cut(line.removesuffix("\r"))]
        return lines + (_cut(last) if last else [])


def _cut(line: str) -> list[str]:
    if len(line) <= MAX_LINE_CHARS:
        return [line]
    return [line[start : start + MAX_LINE_CHARS] for start in range(0, len(line), MAX_LINE_CHARS)]


@dataclass(frozen=True)
class _ProcessIdentity:
    """A pid is reused; (boot id, pid, start time) is not. This is the local reattach handle."""

    boot_id: str
    pid: int
    start_ticks: int

    @property
    def handle(self) -> str:
        return f"local:{self.boot_id}:{self.pid}:{self.start_ticks}"

    @classmethod
    def parse(cls, handle: str) -> _ProcessIdentity | None:
        parts = handle.split(":")
        if len(parts) != 4 or parts[0] != "local" or not parts[2].isdigit() or not parts[3].isdigit():
            return None
        return cls(parts[1], int(parts[2]), int(parts[3]))

    @classmethod
    def of(cls, pid: int) -> _ProcessIdentity | None:
        boot_id, start_ticks = _boot_id(), _start_ticks(pid)
        if boot_id is None or start_ticks is None:
            return None
        return cls(boot_id, pid, start_ticks)

    def alive(self) -> bool:
        """Still the same process, and not a zombie."""
        return _boot_id() == self.boot_id and _start_ticks(self.pid) == self.start_ticks


def _boot_id() -> str | None:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None


def _start_ticks(pid: int) -> int | None:
    """Field 22 of /proc/<pid>/stat (start time since boot); None if gone or a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2 :].split()
    if fields[0] == "Z":
        return None
    return int(fields[19])


def _interrupted(run: ActiveRun) -> bool:
    return run.stop_requested.is_set() or run.shutting_down.is_set()


def _interrupted_outcome(run: ActiveRun, code: int | None, traceback: str | None) -> Outcome:
    if run.stop_requested.is_set():
        return Outcome(RunState.STOPPED, "Stopped", code)
    return Outcome(RunState.FAILED, SERVER_SHUT_DOWN, code, traceback)


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)
