"""Typed outcomes of a sandbox call: the result of a success and one exception type per failure.

The same exception types are raised inside the worker (e.g. `SandboxViolation` by a guard) and on the
server side (rebuilt from the worker's JSON report), so a dialect maps exactly one set of types to its
wire errors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

JSON = Any
"""A value that `json.dumps` accepts (NaN and infinities included)."""


@dataclass(frozen=True)
class CallResult:
    """What a successful call produced: the runtime's JSON value and what the code printed."""

    value: JSON
    output: str = ""
    worker_pid: int = 0


class SandboxError(Exception):
    """Base of every failure a sandbox call can end with."""

    output: str = ""
    """What the code printed before failing (first 64 KiB), when the worker could report it."""


class SandboxViolation(SandboxError):
    """The code tried something the sandbox refuses (import, private attribute, file, audit event, ...)."""

    def __init__(self, detail: str, line: int | None = None) -> None:
        super().__init__(detail if line is None else f"{detail} (line {line})")
        self.detail = detail
        self.line = line


@dataclass
class CodeError(SandboxError):
    """The user code raised an exception (or did not compile)."""

    type_name: str
    message: str
    line: int | None = None
    filename: str | None = None
    traceback: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        text = f"{self.type_name}: {self.message}"
        super().__init__(text if self.line is None else f"{text} (line {self.line})")


class TimeLimitExceeded(SandboxError):
    """The call used more CPU (`kind="cpu"`) or wall-clock (`kind="wall"`) time than allowed."""

    def __init__(self, seconds: float, kind: str) -> None:
        super().__init__(f"exceeded the {kind} time limit ({seconds:g} s)")
        self.seconds = seconds
        self.kind = kind


class MemoryLimitExceeded(SandboxError):
    """The code ran out of its address-space budget (`MemoryError` in the worker)."""

    def __init__(self, megabytes: int) -> None:
        super().__init__(f"exceeded the memory limit ({megabytes} MiB)")
        self.megabytes = megabytes


class WorkerDied(SandboxError):
    """The worker process ended without reporting (killed by a signal, or exited)."""

    def __init__(self, signal: int | None, exit_code: int | None = None) -> None:
        what = f"signal {signal}" if signal is not None else f"exit code {exit_code}"
        super().__init__(f"Sandbox process died ({what}).")
        self.signal = signal
        self.exit_code = exit_code


class SandboxBusy(SandboxError):
    """No worker became free within the queue timeout."""

    def __init__(self, waited: float) -> None:
        super().__init__(f"Sandbox busy, retry (waited {waited:.1f} s).")
        self.waited = waited


class SandboxUnavailable(SandboxError):
    """The pool is closed or its host process is gone."""


class ResultNotSerializable(SandboxError):
    """The runtime returned a value that cannot be sent as JSON (or is larger than the message cap)."""

    def __init__(self, type_name: str, reason: str = "not JSON serializable") -> None:
        super().__init__(f"value of type {type_name} is {reason}")
        self.type_name = type_name
        self.reason = reason


def error_to_wire(error: SandboxError) -> dict[str, JSON]:
    """Encode a worker-side failure for the trip to the server."""
    if isinstance(error, SandboxViolation):
        return {"kind": "violation", "detail": error.detail, "line": error.line}
    if isinstance(error, CodeError):
        return {
            "kind": "code",
            "type": error.type_name,
            "message": error.message,
            "line": error.line,
            "filename": error.filename,
            "traceback": error.traceback,
        }
    if isinstance(error, MemoryLimitExceeded):
        return {"kind": "memory", "megabytes": error.megabytes}
    if isinstance(error, ResultNotSerializable):
        return {"kind": "not_json", "type": error.type_name, "reason": error.reason}
    if isinstance(error, TimeLimitExceeded):
        return {"kind": "time", "seconds": error.seconds, "time_kind": error.kind}
    return {"kind": "code", "type": type(error).__name__, "message": str(error)}


def error_from_wire(data: dict[str, JSON]) -> SandboxError:
    """Rebuild a failure reported by a worker; unknown shapes become a violation (never trusted)."""
    kind = data.get("kind")
    if kind == "violation":
        return SandboxViolation(str(data.get("detail")), _int_or_none(data.get("line")))
    if kind == "code":
        trace = data.get("traceback")
        return CodeError(
            type_name=str(data.get("type")),
            message=str(data.get("message")),
            line=_int_or_none(data.get("line")),
            filename=None if data.get("filename") is None else str(data.get("filename")),
            traceback=[str(x) for x in trace] if isinstance(trace, list) else [],
        )
    if kind == "memory":
        return MemoryLimitExceeded(int(data.get("megabytes") or 0))
    if kind == "not_json":
        return ResultNotSerializable(str(data.get("type")), str(data.get("reason")))
    if kind == "time":
        return TimeLimitExceeded(float(data.get("seconds") or 0), str(data.get("time_kind")))
    return SandboxViolation(f"malformed report from the sandbox worker: {kind!r}")


def _int_or_none(value: JSON) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
