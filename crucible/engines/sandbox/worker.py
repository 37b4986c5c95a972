"""The sandbox worker: runs in a child forked by the host, locks itself down, then serves calls.

A runtime module (dialect code, preloaded in the host) defines `run(ctx: CallContext) -> JSON`; the
worker gives it a `CallContext` to execute user code, reach proxies and ask the server for data.
"""

from __future__ import annotations

import ctypes
import importlib
import os
import random
import signal
import socket
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from types import CodeType, ModuleType
from typing import Any, NoReturn

from crucible.engines.sandbox import seccomp
from crucible.engines.sandbox.audit import (
    AuditGate,
    apply_rlimits,
    arm_cpu_limit,
    disarm_cpu_limit,
    forbid_forking,
    install_audit_hook,
)
from crucible.engines.sandbox.builtins_guard import make_builtins
from crucible.engines.sandbox.channel import Channel, MessageTooLarge, encode_message
from crucible.engines.sandbox.json_values import to_json
from crucible.engines.sandbox.outcomes import (
    JSON,
    CodeError,
    MemoryLimitExceeded,
    ResultNotSerializable,
    SandboxError,
    SandboxViolation,
    error_to_wire,
)
from crucible.engines.sandbox.policy import Policy, compile_code
from crucible.engines.sandbox.proxies import VIOLATIONS, ModuleGate, ModuleProxy

OUTPUT_CAP = 64 * 1024
_WARM_UP_CODE = "def f(x):\n    return [x, {'k': (x, 1.5)}]\nclass C:\n    pass\nresult = f(C.__name__)\n"
MESSAGE_CAP = 4096
_COMPILE_CACHE_SIZE = 256
_PR_SET_PDEATHSIG = 1
_PR_SET_DUMPABLE = 4


@dataclass
class LoadedRuntime:
    """A runtime module with its policy, module gate and base builtins, prepared in the host."""

    name: str
    module: ModuleType
    policy: Policy
    gate: ModuleGate
    builtins: dict[str, Any]

    @classmethod
    def load(cls, name: str, policy: Policy) -> LoadedRuntime:
        module = importlib.import_module(name)
        if not callable(getattr(module, "run", None)):
            raise TypeError(f"sandbox runtime {name} has no run(ctx) function")
        gate = ModuleGate(policy)
        gate.resolve_denied()
        return cls(name, module, policy, gate, make_builtins(policy, gate))


@dataclass(frozen=True)
class WorkerSettings:
    """What a worker needs to lock itself down; decided by the server, passed through the host."""

    memory_mb: int
    cpu_seconds: float
    uid: int | None
    gid: int | None
    seccomp: bool
    reseed_each_call: bool = False


class _CappedOutput:
    """Stand-in for sys.stdout/stderr: keeps the first 64 KiB of what the code prints."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.size = 0

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError("write() argument must be str")
        if self.size < OUTPUT_CAP:
            kept = text[: OUTPUT_CAP - self.size]
            self.parts.append(kept)
            self.size += len(kept)
        return len(text)

    def flush(self) -> None:
        return None

    def text(self) -> str:
        return "".join(self.parts)


class CallContext:
    """The runtime module's view of one call: input, user-code execution, proxies and server requests."""

    def __init__(self, worker: Worker, runtime: LoadedRuntime, owner: str, code: str, payload: JSON) -> None:
        self._worker = worker
        self._runtime = runtime
        self.owner = owner
        self.code = code
        self.payload = payload
        self.policy = runtime.policy

    def request(self, body: JSON) -> JSON:
        """Ask the server (its request handler) for something; raises `SandboxViolation` if refused."""
        return self._worker.request(body)

    def execute(self, code: str, names: Mapping[str, Any], *, filename: str = "<user>") -> dict[str, Any]:
        """Check and run user code with fresh globals; `names` join the builtins, so they are visible
        everywhere (inside functions and classes too). Returns the globals the code left behind.
        `filename` is what a `CodeError` reports: give each distinct piece of code its own."""
        compiled = self._worker.compile(code, self._runtime.policy, filename)
        visible = dict(self._runtime.builtins)
        visible.update(names)
        namespace: dict[str, Any] = {"__builtins__": visible, "__name__": "__sandbox__"}
        self._worker.audit.allow_exec(compiled)
        exec(compiled, namespace)
        return namespace

    def module(self, name: str) -> ModuleProxy:
        """The read-only proxy of a preloaded module, e.g. `ctx.module("numpy")`."""
        module = sys.modules.get(name)
        if module is None:
            raise LookupError(f"module {name} is not preloaded in the sandbox")
        return self._runtime.gate.proxy(module)

    def proxy(self, module: ModuleType) -> ModuleProxy:
        """The read-only proxy of a module object the runtime decides to expose (e.g. its libraries)."""
        return self._runtime.gate.proxy(module)

    def refuse(self, detail: str) -> NoReturn:
        """Raise a `SandboxViolation` that fails the call even if the user code catches it."""
        VIOLATIONS.refuse(detail)


class Worker:
    """State of one locked-down worker process."""

    def __init__(self, channel: Channel, runtimes: Mapping[str, LoadedRuntime], settings: WorkerSettings):
        self.channel = channel
        self.runtimes = runtimes
        self.settings = settings
        self.audit = AuditGate()
        self.owner: str | None = None
        self._compiled: dict[tuple[str, str, int], CodeType] = {}
        self._sources: dict[str, str] = {}
        self._stale_rng = True

    def compile(self, code: str, policy: Policy, filename: str) -> CodeType:
        key = (code, filename, id(policy))
        compiled = self._compiled.get(key)
        if compiled is None:
            try:
                with self.audit.trusted():
                    compiled = compile_code(code, policy, filename)
            except SandboxViolation as exc:
                VIOLATIONS.refuse(exc.detail, exc.line)
            if len(self._compiled) >= _COMPILE_CACHE_SIZE:
                self._compiled.clear()
            self._compiled[key] = compiled
        self._sources[filename] = code
        return compiled

    def request(self, body: JSON) -> JSON:
        try:
            data = encode_message({"t": "rpc", "body": to_json(body)})
        except MessageTooLarge:
            raise ValueError("sandbox request larger than the 16 MiB message cap") from None
        self.channel.send_encoded(data)
        reply = self.channel.recv()
        if reply is None:
            os._exit(0)
        if reply.get("t") == "reply":
            return reply.get("body")
        if reply.get("t") == "refused":
            VIOLATIONS.refuse(str(reply.get("detail")))
        os._exit(2)

    def warm_up(self) -> None:
        """Touch what every call touches before the first call arrives: right after fork, the first
        call otherwise pays several milliseconds of copy-on-write page faults and lazy set-up.
        A runtime module may add its own `warm_up()` (e.g. build a sample `self` object)."""
        for runtime in self.runtimes.values():
            compiled = self.compile(_WARM_UP_CODE, runtime.policy, "<warm-up>")
            namespace = {"__builtins__": dict(runtime.builtins), "__name__": "__sandbox__"}
            self.audit.allow_exec(compiled)
            exec(compiled, namespace)
            encode_message({"t": "done", "ok": True, "value": to_json(namespace["result"]), "output": ""})
            hook = getattr(runtime.module, "warm_up", None)
            if callable(hook):
                hook()
        self._compiled.clear()
        self._sources.clear()
        self.reseed(None)
        VIOLATIONS.reset()

    def reseed(self, seed: JSON) -> None:
        """Seed from `seed` when given (reproducible runs), else from os.urandom when the state is stale:
        always in a new worker (forked workers share the host's RNG state), after a seeded call, and
        before every call when `reseed_each_call` is set (it costs ~45 µs a call)."""
        if isinstance(seed, int) and not isinstance(seed, bool):
            _reseed(seed)
            self._stale_rng = True
        elif self._stale_rng or self.settings.reseed_each_call:
            _reseed(None)
            self._stale_rng = False

    def serve(self) -> NoReturn:
        while True:
            message = self.channel.recv()
            if message is None or message.get("t") != "call":
                os._exit(0)
            owner = str(message.get("owner"))
            if self.owner is None:
                self.owner = owner
            elif owner != self.owner:
                os._exit(2)  # the server never does this; refuse to mix owners even if asked
            report, failed = self.run_call(message)
            try:
                self.channel.send_encoded(report)
            except OSError:
                os._exit(0)
            if failed:
                os._exit(0)

    def run_call(self, message: dict[str, Any]) -> tuple[bytes, bool]:
        """Run one call and return the encoded report and whether the worker must be discarded."""
        VIOLATIONS.reset()
        self._sources = {}
        output = _CappedOutput()
        sys.stdout = sys.stderr = output  # type: ignore[assignment]
        error: SandboxError | None = None
        value: JSON = None
        try:
            runtime = self.runtimes.get(str(message.get("runtime")))
            if runtime is None:
                raise SandboxViolation(f"unknown sandbox runtime {message.get('runtime')!r}")
            arm_cpu_limit(self.audit, float(message.get("cpu_seconds") or self.settings.cpu_seconds))
            self.reseed(message.get("seed"))
            context = CallContext(
                self, runtime, self.owner or "", str(message.get("code") or ""), message.get("payload")
            )
            if message.get("check"):
                self.compile(context.code, runtime.policy, str(message.get("filename") or "<user>"))
            else:
                value = to_json(runtime.module.run(context))
            if VIOLATIONS.first is None:
                report = encode_message({"t": "done", "ok": True, "value": value, "output": output.text()})
                return report, False
        except MemoryError:
            error = MemoryLimitExceeded(self.settings.memory_mb)
        except (SandboxViolation, ResultNotSerializable, CodeError) as exc:
            error = exc
        except MessageTooLarge:
            error = ResultNotSerializable(type(value).__name__, "larger than the 16 MiB message cap")
        except BaseException as exc:
            error = self.describe(exc)
        finally:
            disarm_cpu_limit()
            sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
        if VIOLATIONS.first is not None:
            error = VIOLATIONS.first
        assert error is not None
        report = encode_message(
            {"t": "done", "ok": False, "error": error_to_wire(error), "output": output.text()}
        )
        return report, True

    def describe(self, exc: BaseException) -> CodeError:
        """Type, message, user-code line and a traceback limited to user-code frames."""
        frames: list[tuple[str, int, str]] = []
        with self.audit.trusted():
            tb = exc.__traceback__
            while tb is not None:
                code = tb.tb_frame.f_code
                if code.co_filename in self._sources:
                    frames.append((code.co_filename, tb.tb_lineno, code.co_name))
                tb = tb.tb_next
        line = frames[-1][1] if frames else None
        filename = frames[-1][0] if frames else None
        if isinstance(exc, SyntaxError) and exc.filename in self._sources:
            line, filename = exc.lineno, exc.filename
        trace = []
        for name, number, function in frames:
            trace.append(f'  File "{name}", line {number}, in {function}')
            source = self._sources[name].splitlines()
            if 0 < number <= len(source):
                trace.append(f"    {source[number - 1].strip()}")
        return CodeError(type(exc).__name__, _message_of(exc), line, filename, trace)


def _message_of(exc: BaseException) -> str:
    try:
        text = str(exc)
    except BaseException:
        text = "<exception message could not be rendered>"
    if not isinstance(text, str):
        text = "<exception message could not be rendered>"
    return text[:MESSAGE_CAP]


def _reseed(seed: int | None) -> None:
    """Seed stdlib `random` and NumPy's legacy global generator (from os.urandom when `seed` is None)."""
    numpy_random = sys.modules.get("numpy.random")  # never import it here: the audit hook would refuse
    if seed is not None:
        random.seed(seed)
        if numpy_random is not None:
            numpy_random.seed(seed % 2**32)
        return
    random.seed(os.urandom(32))
    if numpy_random is not None:
        numpy_random.seed(int.from_bytes(os.urandom(4), "little"))


def main(
    channel_fd: int,
    null_fd: int,
    host_pid: int,
    runtimes: Mapping[str, LoadedRuntime],
    settings: WorkerSettings,
) -> NoReturn:
    """Entry point in the freshly forked child; never returns."""
    try:
        worker = _lock_down(channel_fd, null_fd, host_pid, runtimes, settings)
    except BaseException:
        os._exit(3)
    try:
        worker.serve()
    except BaseException:
        os._exit(4)


def _lock_down(
    channel_fd: int,
    null_fd: int,
    host_pid: int,
    runtimes: Mapping[str, LoadedRuntime],
    settings: WorkerSettings,
) -> Worker:
    libc = ctypes.CDLL(None, use_errno=True)
    for number in (0, 1, 2):
        os.dup2(null_fd, number)
    if channel_fd != 3:
        os.dup2(channel_fd, 3)
    os.closerange(4, 1 << 20)
    channel = Channel(socket.socket(fileno=3))
    for number in (signal.SIGINT, signal.SIGTERM, signal.SIGPROF, signal.SIGXCPU):
        signal.signal(number, signal.SIG_DFL)
    os.environ.clear()
    apply_rlimits(settings.memory_mb, settings.cpu_seconds)
    if settings.uid is not None and os.geteuid() == 0:
        os.setgroups([])
        os.setgid(settings.gid if settings.gid is not None else settings.uid)
        os.setuid(settings.uid)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # after setuid, which clears it
    libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)
    if os.getppid() != host_pid:
        os._exit(0)  # the host is already gone
    forbid_forking()
    if settings.seccomp:
        seccomp.install()
    worker = Worker(channel, runtimes, settings)
    install_audit_hook(worker.audit)
    worker.warm_up()
    return worker
