"""A minimal runtime module for the sandbox tests: runs `ctx.code` with an injected `box` object.

`box.read(key)` asks the server (read-your-writes over buffered writes), `box.write(key, value)` buffers,
and the result carries `box.result` plus the buffered writes, which the caller commits only on success.
Payload `{"mode": ...}` selects a trusted probe instead, to test lock-down below the Python guards.
"""

from __future__ import annotations

import _posixsubprocess  # type: ignore[import-not-found]  # preloaded: a fork path with no audit event
import faulthandler
import os
import random
import sys
from typing import Any

import numpy

from crucible.engines.sandbox.proxies import VIOLATIONS
from crucible.engines.sandbox.worker import CallContext


class Box:
    """The injected object: what user code sees as `box`."""

    def __init__(self, ctx: CallContext) -> None:
        self._ctx = ctx
        self._writes: dict[str, Any] = {}
        self.result: Any = None
        self.payload = ctx.payload

    def read(self, key: str) -> Any:
        if key in self._writes:
            return self._writes[key]
        return self._ctx.request({"op": "read", "key": key})

    def write(self, key: str, value: Any) -> None:
        self._writes[key] = value

    def ask(self, body: Any) -> Any:
        return self._ctx.request(body)

    def run_other(self, code: str) -> Any:
        """Run more user code in the same call (like a nested experiment)."""
        namespace = self._ctx.execute(code, {"box": self}, filename="<other>")
        return namespace.get("answer")


def run(ctx: CallContext) -> Any:
    mode = ctx.payload.get("mode") if isinstance(ctx.payload, dict) else None
    if mode == "garbage":  # a worker gone rogue: not JSON, then an absurd length
        ctx._worker.channel.send_encoded(b"\x00\x00\x00\x05hello")
    if mode == "huge":
        ctx._worker.channel.send_encoded(b"\x7f\xff\xff\xff")
    if mode == "big_request":
        return ctx.request("x" * (17 * 2**20))
    if mode is not None:
        return _probe(mode)
    box = Box(ctx)
    names = {"box": box, "np": ctx.module("numpy"), "random": ctx.module("random")}
    if "scipy" in sys.modules:  # light test pools preload numpy only
        names["sp"] = ctx.module("scipy")
    ctx.execute(ctx.code, names, filename="<code>")
    return {"result": box.result, "writes": box._writes}


def _probe(mode: str) -> Any:
    """Trusted code doing what user code cannot reach, to check the layers below the guards."""
    if mode == "identity":
        return {"uid": os.getuid(), "env": dict(os.environ)}
    if mode == "listdir":
        return _try(lambda: os.listdir("/"))
    if mode == "posix_fork":
        return _try(lambda: _posixsubprocess.fork_exec(*_fork_exec_args()))
    if mode == "os_fork":
        return _try(os.fork)
    if mode == "fds":
        return [fd for fd in range(64) if _is_open(fd)]
    if mode == "segfault":
        faulthandler._read_null()
    if mode == "random":
        return [random.random(), float(numpy.random.random())]
    raise ValueError(mode)


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def _try(action: Any) -> str:
    """Run a trusted probe and describe how it ended; a refusal by the audit hook is forgiven here
    (it would otherwise fail the call) because the probe wants to see the layers below it too."""
    try:
        return f"succeeded: {action()!r}"
    except BaseException as exc:
        return f"{type(exc).__name__}: {exc}"
    finally:
        VIOLATIONS.reset()


def _fork_exec_args() -> tuple[Any, ...]:
    # Python 3.11 signature: args, executables, close_fds, pass_fds, cwd, env, p2cread, p2cwrite,
    # c2pread, c2pwrite, errread, errwrite, errpipe_read, errpipe_write, restore_signals, call_setsid,
    # pgid_to_set, gid, extra_groups, uid, child_umask, preexec_fn, allow_vfork
    pipes = (-1, -1, -1, -1, -1, -1, 5, 6)
    ids = (-1, None, None, None, -1)
    return ([b"/bin/true"], [b"/bin/true"], True, (), None, None, *pipes, True, False, *ids, None, False)
