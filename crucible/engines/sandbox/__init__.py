"""Sandbox engine: runs untrusted user Python code in isolated, resource-limited worker processes.

Generic: a dialect registers a *runtime module* (its code, run inside the worker: `run(ctx) -> JSON`)
with a `Policy`, then calls `await pool.run(runtime, owner, code=..., payload=..., handler=...)`.
Requires Linux. Design, lock-down layers and outcomes: docs/sandbox.md.
"""

from crucible.engines.sandbox.json_values import to_json
from crucible.engines.sandbox.outcomes import (
    JSON,
    CallResult,
    CodeError,
    MemoryLimitExceeded,
    ResultNotSerializable,
    SandboxBusy,
    SandboxError,
    SandboxUnavailable,
    SandboxViolation,
    TimeLimitExceeded,
    WorkerDied,
)
from crucible.engines.sandbox.policy import Policy, check_code
from crucible.engines.sandbox.pool import DEFAULT_PRELOAD, Limits, RequestHandler, SandboxConfig, SandboxPool
from crucible.engines.sandbox.worker import CallContext

__all__ = [
    "DEFAULT_PRELOAD",
    "JSON",
    "CallContext",
    "CallResult",
    "CodeError",
    "Limits",
    "MemoryLimitExceeded",
    "Policy",
    "RequestHandler",
    "ResultNotSerializable",
    "SandboxBusy",
    "SandboxConfig",
    "SandboxError",
    "SandboxPool",
    "SandboxUnavailable",
    "SandboxViolation",
    "TimeLimitExceeded",
    "WorkerDied",
    "check_code",
    "to_json",
]
