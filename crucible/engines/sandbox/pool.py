"""Server side of the sandbox: starts the host, keeps a pool of pre-forked workers, runs calls.

Two entry points share the worker bookkeeping: `run_sync` talks to the worker with blocking I/O (tests,
CLI, threads) and `run` talks to it on the caller's event loop, moving only blocking parts (waiting for
a worker, plain request handlers) to threads. Every limit that protects the server (wall clock, queue
timeout, concurrency, message size) is enforced here, never trusted to the child.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import inspect
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from crucible.engines.sandbox.channel import Channel, ProtocolError, encode_message
from crucible.engines.sandbox.host import CONTROL_MESSAGE_BYTES, bootstrap_command
from crucible.engines.sandbox.outcomes import (
    JSON,
    CallResult,
    SandboxBusy,
    SandboxError,
    SandboxUnavailable,
    SandboxViolation,
    TimeLimitExceeded,
    WorkerDied,
    error_from_wire,
)
from crucible.engines.sandbox.policy import Policy

log = logging.getLogger(__name__)

DEFAULT_PRELOAD = (
    "numpy",
    "numpy.random",
    "numpy.linalg",
    "scipy",
    "scipy.stats",
    "scipy.special",
    "scipy.optimize",
    "scipy.linalg",
    "scipy.integrate",
    "scipy.interpolate",
    "random",
    "math",
)
"""Modules imported once in the host, before any worker is forked."""

RequestHandler = Callable[[JSON], JSON | Awaitable[JSON]]
"""Answers a worker's request during a call; raise `SandboxViolation` to refuse it."""

_HOST_STDERR_CAP = 64 * 1024
_RESTART_INTERVAL = 5.0
_OUTPUT_CAP = 64 * 1024
_EXIT_REPORT_WAIT = 2.0
_NOBODY = 65534


@dataclass(frozen=True)
class Limits:
    """Per-call time limits (the memory limit is per worker: see `SandboxConfig.memory_mb`)."""

    cpu_seconds: float = 5.0
    wall_seconds: float = 10.0


@dataclass(frozen=True)
class SandboxConfig:
    """Everything the pool needs; `runtimes` maps each runtime module's dotted name to its policy."""

    runtimes: Mapping[str, Policy]
    preload: tuple[str, ...] = DEFAULT_PRELOAD
    memory_mb: int = 512
    limits: Limits = field(default_factory=Limits)
    max_concurrency: int = 2 * (os.cpu_count() or 1)
    queue_timeout: float = 5.0
    max_calls_per_worker: int = 1000
    prefork: int | None = None
    """Fresh (not yet owned) workers kept ready; default `max_concurrency`."""
    max_workers: int | None = None
    """Cap on live workers, idle ones included; default `max(16, 4 * max_concurrency)`."""
    worker_uid: int | None = None
    """User id workers switch to when the server runs as root; default `nobody` (65534)."""
    seccomp: bool = True
    network_namespace: bool = True
    reseed_each_call: bool = False
    """Reseed `random` and NumPy from os.urandom before every call; by default a worker reseeds when
    it starts and after a call that passed `seed` (workers never cross owners, so this is enough to
    keep owners' random streams independent and unpredictable), saving ~45 µs a call."""
    python: str = sys.executable
    start_timeout: float = 60.0


@dataclass
class _Worker:
    pid: int
    channel: Channel
    pidfd: int
    generation: int
    owner: str | None = None
    calls: int = 0


class SandboxPool:
    """A sandbox host with its workers. Use `with SandboxPool(config) as pool:` or `start()`/`close()`."""

    def __init__(self, config: SandboxConfig) -> None:
        if not sys.platform.startswith("linux"):
            raise RuntimeError("the sandbox requires Linux (fork, pidfd, setrlimit, seccomp)")
        self.config = config
        self.prefork = config.prefork if config.prefork is not None else config.max_concurrency
        self.max_workers = config.max_workers or max(16, 4 * config.max_concurrency)
        if config.max_concurrency < 1 or self.prefork < 0 or self.max_workers < config.max_concurrency:
            raise ValueError("need max_concurrency >= 1, prefork >= 0 and max_workers >= max_concurrency")
        self.facts: dict[str, Any] = {}
        self._cond = threading.Condition()
        self._slots = threading.BoundedSemaphore(config.max_concurrency)
        self._fresh: deque[_Worker] = deque()
        self._idle: OrderedDict[str, list[_Worker]] = OrderedDict()
        self._busy = 0
        self._pending = 0
        self._exits: dict[int, int] = {}
        self._control: socket.socket | None = None
        self._control_lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._workdir: str | None = None
        self._threads: list[threading.Thread] = []
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._closed = False
        self._broken: str | None = None
        self._generation = 0
        self._restart_lock = threading.Lock()
        self._restart_after = 0.0

    # ----------------------------------------------------------------- life cycle

    def start(self) -> SandboxPool:
        """Launch the host, wait until it has preloaded everything, and pre-fork workers."""
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=4 * self.config.max_concurrency + 4, thread_name_prefix="sandbox-call"
        )
        try:
            self._start_host()
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        """Kill every worker and the host, and wait for them; safe to call twice."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._cond.notify_all()
        self._stop_host()
        for thread in self._threads:
            thread.join(timeout=5)
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)

    def _start_host(self) -> None:
        config = self.config
        server_end, host_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._workdir = tempfile.mkdtemp(prefix="crucible-sandbox-")
        os.chmod(self._workdir, 0o711)
        env = {
            "PATH": "/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "OPENBLAS_NUM_THREADS": "1",
            "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        command = bootstrap_command(
            config.python, host_end.fileno(), [os.path.abspath(p or os.curdir) for p in sys.path]
        )
        process = subprocess.Popen(
            command,
            env=env,
            cwd=self._workdir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            pass_fds=(host_end.fileno(),),
            start_new_session=True,
        )
        host_end.close()
        self._process, self._control = process, server_end
        self._spawn_thread(self._drain_host_stderr, "sandbox-host-stderr", process)
        uid = config.worker_uid if config.worker_uid is not None else _NOBODY
        server_end.send(
            json.dumps(
                {
                    "preload": list(config.preload),
                    "runtimes": {name: policy.to_wire() for name, policy in config.runtimes.items()},
                    "memory_mb": config.memory_mb,
                    "cpu_seconds": config.limits.cpu_seconds,
                    "worker_uid": uid if os.geteuid() == 0 else None,
                    "worker_gid": uid if os.geteuid() == 0 else None,
                    "seccomp": config.seccomp,
                    "network_namespace": config.network_namespace,
                    "reseed_each_call": config.reseed_each_call,
                    "pdeathsig": threading.current_thread() is threading.main_thread(),
                    "server_pid": os.getpid(),
                }
            ).encode()
        )
        server_end.settimeout(config.start_timeout)
        try:
            first = server_end.recv(CONTROL_MESSAGE_BYTES)
        except OSError as exc:
            raise SandboxUnavailable(f"sandbox host did not start: {exc}") from None
        server_end.settimeout(None)
        message = json.loads(first) if first else {"ev": "error", "message": "host exited"}
        if message.get("ev") != "ready":
            raise SandboxUnavailable(f"sandbox host failed to start: {message.get('message')}")
        with self._cond:
            self.facts = {key: value for key, value in message.items() if key != "ev"}
            self._generation += 1
            self._broken = None
            self._pending = 0
            self._spawn_thread(self._read_control, "sandbox-host-events", server_end, self._generation)
            self._replenish()

    def _stop_host(self) -> None:
        """Kill the idle and fresh workers, then the host (which kills the rest), and wait for it."""
        with self._cond:
            workers = list(self._fresh) + [w for ws in self._idle.values() for w in ws]
            self._fresh.clear()
            self._idle.clear()
        for worker in workers:
            self._kill(worker)
        if self._control is not None:
            with contextlib.suppress(OSError):
                self._control.shutdown(socket.SHUT_RDWR)
            self._control.close()
        if self._process is not None:
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)

    def _restart_host(self) -> None:
        """Replace a host that died (at most once every few seconds), so the server keeps serving."""
        with self._restart_lock:
            with self._cond:
                if not self._broken or self._closed:
                    return
            if time.monotonic() < self._restart_after:
                raise SandboxUnavailable(f"sandbox pool is not available ({self._broken})")
            self._restart_after = time.monotonic() + _RESTART_INTERVAL
            log.warning("restarting the sandbox host (%s)", self._broken)
            self._stop_host()
            self._start_host()

    def __enter__(self) -> SandboxPool:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def status(self) -> dict[str, Any]:
        """Counts and lock-down facts, for health checks and logs."""
        with self._cond:
            return {
                **self.facts,
                "fresh": len(self._fresh),
                "idle": sum(len(ws) for ws in self._idle.values()),
                "busy": self._busy,
                "pending": self._pending,
                "broken": self._broken,
            }

    # ----------------------------------------------------------------- calls

    async def run(
        self,
        runtime: str,
        owner: str,
        *,
        code: str = "",
        payload: JSON = None,
        handler: RequestHandler | None = None,
        limits: Limits | None = None,
        seed: int | None = None,
    ) -> CallResult:
        """`run_sync` for an asyncio server, never blocking the event loop: worker I/O runs on the loop;
        waiting for a free worker runs on a thread; an async `handler` is awaited on the loop, a plain
        one runs on a thread (it may block, e.g. on a database)."""
        fields = {"runtime": runtime, "owner": owner, "code": code, "payload": payload, "seed": seed}
        return await self._run_async(fields, handler, limits)

    def run_sync(
        self,
        runtime: str,
        owner: str,
        *,
        code: str = "",
        payload: JSON = None,
        handler: RequestHandler | None = None,
        limits: Limits | None = None,
        seed: int | None = None,
    ) -> CallResult:
        """Run one call of `runtime` for `owner`: the runtime module's `run(ctx)` in a worker, with
        `code` and `payload` in `ctx`, and `handler` answering its requests. Returns the result or
        raises a `SandboxError` subclass (or, unchanged, whatever `handler` raised)."""
        fields = {"runtime": runtime, "owner": owner, "code": code, "payload": payload, "seed": seed}
        return self._run(fields, handler, limits, time.monotonic() + self.config.queue_timeout, None)

    async def check(self, runtime: str, owner: str, code: str, *, filename: str = "<user>") -> None:
        """Async form of `check_sync`."""
        fields = {"runtime": runtime, "owner": owner, "code": code, "check": True, "filename": filename}
        await self._run_async(fields, None, None)

    def check_sync(self, runtime: str, owner: str, code: str, *, filename: str = "<user>") -> None:
        """The static check (`check_code` under the runtime's policy) run inside a worker, so parsing
        hostile source cannot hurt the server; raises `CodeError` (syntax) or `SandboxViolation`."""
        fields = {"runtime": runtime, "owner": owner, "code": code, "check": True, "filename": filename}
        self._run(fields, None, None, time.monotonic() + self.config.queue_timeout, None)

    async def _run_async(
        self, fields: dict[str, JSON], handler: RequestHandler | None, limits: Limits | None
    ) -> CallResult:
        if self._executor is None:
            raise SandboxUnavailable("sandbox pool is not started")
        if fields["runtime"] not in self.config.runtimes:
            raise ValueError(f"sandbox runtime {fields['runtime']!r} is not registered")
        loop = asyncio.get_running_loop()
        limits = limits or self.config.limits
        message = encode_message({"t": "call", "cpu_seconds": limits.cpu_seconds, **fields})
        owner = str(fields["owner"])
        worker = self._try_acquire(owner)
        if worker is None:
            deadline = time.monotonic() + self.config.queue_timeout
            acquiring = self._executor.submit(self._acquire, owner, deadline)
            try:
                worker = await asyncio.wrap_future(acquiring)
            except asyncio.CancelledError:
                acquiring.add_done_callback(self._release_abandoned)
                raise
        reusable = False
        try:
            result = await self._converse_async(worker, message, handler, limits, loop)
            reusable = True
            return result
        finally:
            self._release(worker, reusable)

    def _run(
        self,
        fields: dict[str, JSON],
        handler: RequestHandler | None,
        limits: Limits | None,
        queue_deadline: float,
        loop: asyncio.AbstractEventLoop | None,
    ) -> CallResult:
        if fields["runtime"] not in self.config.runtimes:
            raise ValueError(f"sandbox runtime {fields['runtime']!r} is not registered")
        limits = limits or self.config.limits
        message = encode_message({"t": "call", "cpu_seconds": limits.cpu_seconds, **fields})
        worker = self._acquire(str(fields["owner"]), queue_deadline)
        reusable = False
        try:
            result = self._converse(worker, message, handler, limits, loop)
            reusable = True
            return result
        finally:
            self._release(worker, reusable)

    def _converse(
        self,
        worker: _Worker,
        message: bytes,
        handler: RequestHandler | None,
        limits: Limits,
        loop: asyncio.AbstractEventLoop | None,
    ) -> CallResult:
        deadline = time.monotonic() + limits.wall_seconds
        channel = worker.channel
        try:
            channel.sock.settimeout(limits.wall_seconds)
            channel.send_encoded(message)
            while True:
                reply = channel.recv(deadline)
                if reply is None:
                    raise self._death_of(worker, limits)
                if not isinstance(reply, dict):
                    raise ProtocolError("message is not an object")
                kind = reply.get("t")
                if kind == "rpc":
                    channel.send_encoded(self._answer(reply.get("body"), handler, loop, deadline))
                elif kind == "done":
                    break
                else:
                    raise ProtocolError(f"unexpected message {kind!r}")
        except _HandlerFailure as failure:
            self._kill(worker)
            raise failure.error from None
        except TimeoutError:
            self._kill(worker)
            raise TimeLimitExceeded(limits.wall_seconds, "wall") from None
        except (ProtocolError, OSError) as exc:
            self._kill(worker)
            if isinstance(exc, OSError) and not isinstance(exc, ProtocolError):
                raise self._death_of(worker, limits) from None
            raise SandboxViolation(f"sandbox protocol error: {exc}") from None
        return self._outcome(worker, reply, limits)

    def _outcome(self, worker: _Worker, reply: dict[str, JSON], limits: Limits) -> CallResult:
        """The result of a `done` report, or the failure it reports, raised."""
        output = reply.get("output")
        output = output[:_OUTPUT_CAP] if isinstance(output, str) else ""
        if reply.get("ok") is True:
            worker.calls += 1
            return CallResult(value=reply.get("value"), output=output, worker_pid=worker.pid)
        error_data = reply.get("error")
        error = error_from_wire(error_data if isinstance(error_data, dict) else {})
        error.output = output
        if isinstance(error, TimeLimitExceeded):
            error = TimeLimitExceeded(limits.cpu_seconds, "cpu")
        raise error

    async def _converse_async(
        self,
        worker: _Worker,
        message: bytes,
        handler: RequestHandler | None,
        limits: Limits,
        loop: asyncio.AbstractEventLoop,
    ) -> CallResult:
        channel = worker.channel
        channel.sock.setblocking(False)
        try:
            async with asyncio.timeout(limits.wall_seconds):
                await channel.send_async(loop, message)
                while True:
                    reply = await channel.recv_async(loop)
                    if reply is None:
                        raise await loop.run_in_executor(self._executor, self._death_of, worker, limits)
                    if not isinstance(reply, dict):
                        raise ProtocolError("message is not an object")
                    kind = reply.get("t")
                    if kind == "rpc":
                        answer = await self._answer_async(reply.get("body"), handler, loop)
                        await channel.send_async(loop, answer)
                    elif kind == "done":
                        break
                    else:
                        raise ProtocolError(f"unexpected message {kind!r}")
        except _HandlerFailure as failure:
            self._kill(worker)
            raise failure.error from None
        except TimeoutError:
            self._kill(worker)
            raise TimeLimitExceeded(limits.wall_seconds, "wall") from None
        except ProtocolError as exc:
            self._kill(worker)
            raise SandboxViolation(f"sandbox protocol error: {exc}") from None
        except OSError:
            raise await loop.run_in_executor(self._executor, self._death_of, worker, limits) from None
        return self._outcome(worker, reply, limits)

    async def _answer_async(
        self, body: JSON, handler: RequestHandler | None, loop: asyncio.AbstractEventLoop
    ) -> bytes:
        if handler is None:
            return encode_message({"t": "refused", "detail": "this call accepts no requests"})
        try:
            if inspect.iscoroutinefunction(handler):
                answer = await handler(body)
            else:
                answer = await loop.run_in_executor(self._executor, handler, body)
                if inspect.isawaitable(answer):
                    answer = await answer
            return encode_message({"t": "reply", "body": answer})
        except SandboxViolation as exc:
            return encode_message({"t": "refused", "detail": exc.detail})
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            raise _HandlerFailure(exc) from exc

    def _answer(
        self,
        body: JSON,
        handler: RequestHandler | None,
        loop: asyncio.AbstractEventLoop | None,
        deadline: float,
    ) -> bytes:
        if handler is None:
            return encode_message({"t": "refused", "detail": "this call accepts no requests"})
        try:
            answer = handler(body)
            if inspect.isawaitable(answer):
                answer = _wait_awaitable(answer, loop, deadline)
            return encode_message({"t": "reply", "body": answer})
        except SandboxViolation as exc:
            return encode_message({"t": "refused", "detail": exc.detail})
        except BaseException as exc:
            raise _HandlerFailure(exc) from exc

    def _death_of(self, worker: _Worker, limits: Limits) -> SandboxError:
        """Why a worker went away: the host reports its wait status."""
        self._kill(worker)
        status = self._wait_exit(worker.pid)
        if status is None:
            return WorkerDied(None, None)
        if os.WIFSIGNALED(status):
            number = os.WTERMSIG(status)
            if number in (signal.SIGXCPU, signal.SIGPROF):
                return TimeLimitExceeded(limits.cpu_seconds, "cpu")
            return WorkerDied(number)
        return WorkerDied(None, os.WEXITSTATUS(status))

    def _wait_exit(self, pid: int) -> int | None:
        deadline = time.monotonic() + _EXIT_REPORT_WAIT
        with self._cond:
            while pid not in self._exits:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._broken:
                    return None
                self._cond.wait(remaining)
            return self._exits.pop(pid)

    # ----------------------------------------------------------------- workers

    def _try_acquire(self, owner: str) -> _Worker | None:
        """A worker for `owner` if one is ready right now (never waits: safe on the event loop)."""
        if self._broken or not self._slots.acquire(blocking=False):
            return None
        try:
            with self._cond:
                worker = self._take_locked(owner)
        except BaseException:
            self._slots.release()
            raise
        if worker is None:
            self._slots.release()
        return worker

    def _acquire(self, owner: str, deadline: float) -> _Worker:
        """A worker for `owner`, waiting (blocking) until `deadline` for a slot and a worker."""
        if self._broken and not self._closed:
            self._restart_host()
        started = time.monotonic()
        if not self._slots.acquire(timeout=max(0.0, deadline - started)):
            raise SandboxBusy(time.monotonic() - started)
        try:
            with self._cond:
                while True:
                    worker = self._take_locked(owner)
                    if worker is not None:
                        return worker
                    self._replenish(extra=1)
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise SandboxBusy(time.monotonic() - started)
                    self._cond.wait(remaining)
        except BaseException:
            self._slots.release()
            raise

    def _take_locked(self, owner: str) -> _Worker | None:
        """Pop an idle worker of `owner`, else a fresh one (lock held); None if there is neither."""
        if self._closed or self._broken:
            raise SandboxUnavailable(f"sandbox pool is not available ({self._broken or 'closed'})")
        owned = self._idle.get(owner)
        if owned:
            worker = owned.pop()
            if not owned:
                del self._idle[owner]
        elif self._fresh:
            worker = self._fresh.popleft()
            worker.owner = owner
        else:
            return None
        self._busy += 1  # the replacement is requested at release: forking now would compete for CPU
        return worker

    def _release(self, worker: _Worker, reusable: bool) -> None:
        with self._cond:
            self._busy -= 1
            keep = (
                reusable
                and not self._closed
                and worker.generation == self._generation
                and worker.calls < self.config.max_calls_per_worker
            )
            if keep:
                assert worker.owner is not None
                self._idle.setdefault(worker.owner, []).append(worker)
                self._idle.move_to_end(worker.owner)
            self._replenish()
        if not keep:
            self._kill(worker)
        self._slots.release()

    def _release_abandoned(self, acquiring: concurrent.futures.Future[_Worker]) -> None:
        """A caller was cancelled while a thread was still getting it a worker: hand the worker back."""
        if not acquiring.cancelled() and acquiring.exception() is None:
            self._release(acquiring.result(), reusable=True)

    def _replenish(self, extra: int = 0) -> None:
        """Ask the host for workers until `prefork` fresh ones exist (lock held), evicting idle workers
        of other owners when the `max_workers` cap is reached."""
        if self._closed or self._broken or self._control is None:
            return
        wanted = self.prefork + extra - len(self._fresh) - self._pending
        if wanted <= 0:
            return
        live = len(self._fresh) + self._pending + self._busy + sum(len(ws) for ws in self._idle.values())
        while live + wanted > self.max_workers and self._idle:
            owner, workers = next(iter(self._idle.items()))
            victim = workers.pop(0)
            if not workers:
                del self._idle[owner]
            self._kill(victim)
            live -= 1
        wanted = min(wanted, self.max_workers - live)
        if wanted <= 0:
            return
        self._pending += wanted
        try:
            with self._control_lock:
                self._control.send(json.dumps({"op": "spawn", "n": wanted}).encode())
        except OSError as exc:
            self._broken = f"host unreachable: {exc}"
            self._cond.notify_all()

    def _kill(self, worker: _Worker) -> None:
        if worker.pidfd < 0:
            return
        with contextlib.suppress(ProcessLookupError):
            signal.pidfd_send_signal(worker.pidfd, signal.SIGKILL)
        os.close(worker.pidfd)
        worker.pidfd = -1
        worker.channel.close()

    # ----------------------------------------------------------------- host events

    def _read_control(self, control: socket.socket, generation: int) -> None:
        while True:
            try:
                data, fds, _, _ = socket.recv_fds(control, CONTROL_MESSAGE_BYTES, 2)
            except OSError:
                data, fds = b"", []
            if not data:
                with self._cond:
                    current = generation == self._generation
                    if current and not self._closed:
                        self._broken = "sandbox host exited"
                        log.error("sandbox host exited unexpectedly")
                    process = self._process
                    self._cond.notify_all()
                if current and process is not None:
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        process.wait(timeout=5)  # reap it: no zombie host
                return
            message = json.loads(data)
            with self._cond:
                if message.get("ev") == "spawned" and len(fds) == 2:
                    sock = socket.socket(fileno=fds[0])
                    worker = _Worker(int(message["pid"]), Channel(sock), fds[1], generation)
                    if generation == self._generation:
                        self._pending = max(0, self._pending - 1)
                    if self._closed or generation != self._generation:
                        self._kill(worker)
                    else:
                        self._fresh.append(worker)
                elif message.get("ev") == "spawn_failed":
                    if generation == self._generation:
                        self._pending = max(0, self._pending - 1)
                elif message.get("ev") == "exited":
                    self._exits[int(message["pid"])] = int(message["status"])
                    if len(self._exits) > 4096:  # reports nobody waited for (normal retirements)
                        for pid in list(self._exits)[:2048]:
                            del self._exits[pid]
                else:
                    for fd in fds:
                        os.close(fd)
                self._cond.notify_all()

    def _drain_host_stderr(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stderr is not None
        logged = 0
        for line in process.stderr:
            if logged < _HOST_STDERR_CAP:
                log.warning("sandbox host: %s", line.decode(errors="replace").rstrip())
                logged += len(line)

    def _spawn_thread(self, target: Callable[..., None], name: str, *args: Any) -> None:
        thread = threading.Thread(target=target, name=name, args=args, daemon=True)
        thread.start()
        self._threads.append(thread)


class _HandlerFailure(Exception):
    """The server's own request handler failed (or answered with an unsendable value): a server
    error, re-raised to the caller as it was, never reported as the user's fault."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


def _wait_awaitable(answer: Awaitable[JSON], loop: asyncio.AbstractEventLoop | None, deadline: float) -> JSON:
    if loop is None:
        return asyncio.run(_as_coroutine(answer))
    future = asyncio.run_coroutine_threadsafe(_as_coroutine(answer), loop)
    return future.result(timeout=max(0.0, deadline - time.monotonic()))


async def _as_coroutine(answer: Awaitable[JSON]) -> JSON:
    return await answer
