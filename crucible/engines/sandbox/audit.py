"""Worker lock-down at the interpreter and process level: the audit hook, resource limits, CPU timer.

The audit hook is default-deny: besides a few harmless events, everything the interpreter reports (files,
processes, sockets, ctypes, imports, frames, code objects, ...) is refused, and `compile`/`exec` pass only
when the sandbox itself asked for them.
"""

from __future__ import annotations

import resource
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import CodeType
from typing import Any

from crucible.engines.sandbox.proxies import VIOLATIONS

HARMLESS_EVENTS = frozenset(
    {
        "builtins.id",
        "object.__setattr__",
        "object.__delattr__",
        "time.sleep",
        "array.__new__",
        "sys.excepthook",
        "sys.unraisablehook",
    }
)
"""Events allowed at any time; reported by ordinary NumPy/SciPy and user code."""

FRAME_ATTRIBUTES = frozenset({"gi_frame", "cr_frame", "ag_frame", "tb_frame", "f_back", "f_globals"})
"""`object.__getattr__` events refused outside trusted blocks (library code may read `__code__` and
`__defaults__` to inspect a callable; nothing may walk frames)."""


class AuditGate:
    """Lets the sandbox's own `compile`, `exec` and `setrlimit` through the hook, once each."""

    def __init__(self) -> None:
        self._trusted = 0
        self._exec_code: CodeType | None = None
        self._setrlimit = False

    @contextmanager
    def trusted(self) -> Iterator[None]:
        """Allow every event inside the block; only for sandbox code that runs no user code."""
        self._trusted += 1
        try:
            yield
        finally:
            self._trusted -= 1

    def allow_exec(self, code: CodeType) -> None:
        self._exec_code = code

    def allow_setrlimit(self) -> None:
        self._setrlimit = True

    def decide(self, event: str, args: tuple[Any, ...]) -> str | None:
        """Return None to allow the event, else the refusal detail."""
        if event in HARMLESS_EVENTS or self._trusted:
            return None
        if event == "object.__getattr__":
            name = args[1] if len(args) > 1 else ""
            return None if name not in FRAME_ATTRIBUTES else f"access to attribute '{name}' is not allowed"
        if event == "exec" and self._exec_code is not None and args and args[0] is self._exec_code:
            self._exec_code = None
            return None
        if event == "resource.setrlimit" and self._setrlimit:
            self._setrlimit = False
            return None
        return describe_event(event, args)


def describe_event(event: str, args: tuple[Any, ...]) -> str:
    """A refusal message a user can read, e.g. `import of 'os' is not allowed`."""
    if event == "import" and args:
        return f"import of '{args[0]}' is not allowed"
    if event == "open" and args:
        return f"open({args[0]!r}) is not allowed"
    return f"operation '{event}' is not allowed"


def install_audit_hook(gate: AuditGate) -> None:
    """Install the (irremovable) hook; call in the worker after all preloading is done."""

    def hook(event: str, args: tuple[Any, ...]) -> None:
        detail = gate.decide(event, args)
        if detail is not None:
            VIOLATIONS.refuse(detail)

    sys.addaudithook(hook)


def address_space_bytes() -> int:
    """Current virtual size of this process (read before lock-down: it opens /proc)."""
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[0])
    return pages * resource.getpagesize()


def apply_rlimits(memory_mb: int, cpu_seconds: float) -> None:
    """Set the limits that hold for the worker's whole life (CPU is re-armed per call)."""
    address_space = address_space_bytes() + memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    resource.setrlimit(resource.RLIMIT_NOFILE, (16, 16))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_MEMLOCK, (0, 0))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_limit_for(cpu_seconds), resource.RLIM_INFINITY))


def forbid_forking() -> None:
    """RLIMIT_NPROC 0: fork fails for an unprivileged user (root ignores it; seccomp covers that case)."""
    resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))


def cpu_limit_for(cpu_seconds: float) -> int:
    """Soft RLIMIT_CPU value that allows `cpu_seconds` more CPU time than used so far (whole seconds)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    used = usage.ru_utime + usage.ru_stime
    return int(used + cpu_seconds + 0.999)


def arm_cpu_limit(gate: AuditGate, cpu_seconds: float) -> None:
    """Give the next call `cpu_seconds` of CPU time: a profiling timer ends the worker (SIGPROF) on
    time, and RLIMIT_CPU (whole seconds, rounded up) ends it with SIGXCPU should the timer not."""
    gate.allow_setrlimit()
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_limit_for(cpu_seconds), resource.RLIM_INFINITY))
    signal.setitimer(signal.ITIMER_PROF, cpu_seconds)


def disarm_cpu_limit() -> None:
    """Stop the per-call timer between calls (an idle worker uses no CPU, but be exact)."""
    signal.setitimer(signal.ITIMER_PROF, 0)
