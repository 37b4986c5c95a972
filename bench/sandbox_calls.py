"""Micro-benchmark: a trivial sandbox call (a 3-line hook making one request to the server) against a
bare round trip to a persistent child over the same kind of socket, with no sandboxing at all.

Run alone: `.venv/bin/python bench/sandbox_calls.py` (about 20 s). Prints a table and writes it into
docs/benchmarks.md between the `bench:sandbox_calls` markers. This file is also the runtime module the
sandbox runs (`run(ctx)` below), so the benchmark needs nothing from the tests.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from crucible.engines.sandbox import Policy, SandboxConfig, SandboxPool  # noqa: E402
from crucible.engines.sandbox.channel import Channel, encode_message  # noqa: E402

RUNTIME = "sandbox_calls"
HOOK = "x = box.read('a')\ny = x + 1\nbox.result = y\n"

# ---------------------------------------------------------------- runtime (runs inside the worker)


class _Box:
    def __init__(self, ctx: Any) -> None:
        self._ctx = ctx
        self.result: Any = None

    def read(self, key: str) -> Any:
        return self._ctx.request({"op": "read", "key": key})


def run(ctx: Any) -> Any:
    box = _Box(ctx)
    ctx.execute(ctx.code, {"box": box}, filename="<hook>")
    return box.result


# ---------------------------------------------------------------- baseline child (no sandbox)

_CHILD = """
import socket, sys
sys.path[:0] = [sys.argv[2]]
from crucible.engines.sandbox.channel import Channel
channel = Channel(socket.socket(fileno=int(sys.argv[1])))
while True:
    call = channel.recv()
    if call is None:
        break
    channel.send({"t": "rpc", "body": {"op": "read", "key": "a"}})
    reply = channel.recv()
    channel.send({"t": "done", "ok": True, "value": reply["body"] + 1, "output": ""})
"""


class BareChild:
    """A persistent child answering the same message pattern as a sandbox call: call → request →
    reply → done, JSON over a stream socketpair, nothing else."""

    def __init__(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self.process = subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(theirs.fileno()), str(ROOT)], pass_fds=(theirs.fileno(),)
        )
        theirs.close()
        self.channel = Channel(ours)

    def call(self) -> Any:
        self.channel.sock.setblocking(True)
        self.channel.send({"t": "call", "code": HOOK, "payload": None})
        request = self.channel.recv()
        self.channel.send({"t": "reply", "body": _handler(request["body"])})
        return self.channel.recv()["value"]

    async def call_async(self) -> Any:
        loop = asyncio.get_running_loop()
        self.channel.sock.setblocking(False)
        await self.channel.send_async(loop, encode_message({"t": "call", "code": HOOK, "payload": None}))
        request = await self.channel.recv_async(loop)
        await self.channel.send_async(loop, encode_message({"t": "reply", "body": _handler(request["body"])}))
        return (await self.channel.recv_async(loop))["value"]

    def close(self) -> None:
        self.channel.close()
        self.process.wait()


def _handler(request: Any) -> Any:
    return 41 if request.get("key") == "a" else None


async def _async_handler(request: Any) -> Any:
    return _handler(request)


# ---------------------------------------------------------------- measurement


@dataclass
class Target:
    """What a scenario calls: `make_call(i)` gives caller i its call; `pids` are the child processes
    doing the work on the other side (their CPU time is read from /proc/<pid>/schedstat)."""

    make_call: Callable[[int], Callable[[], Any]]
    pids: set[int] = field(default_factory=set)


def child_cpu_seconds(pids: set[int]) -> float:
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError), open(f"/proc/{pid}/schedstat") as schedstat:
            total += int(schedstat.read().split()[0])
    return total / 1e9


def measure_threads(callers: int, calls_each: int, target: Target) -> dict[str, float]:
    """Each caller thread runs `calls_each` calls back to back; latency per call, throughput overall."""
    latencies: list[float] = []
    lock = threading.Lock()
    ready = threading.Barrier(callers + 1)
    go = threading.Barrier(callers + 1)

    def caller(index: int) -> None:
        call = target.make_call(index)
        for _ in range(max(20, calls_each // 10)):  # warm-up
            call()
        ready.wait()
        go.wait()
        mine = []
        for _ in range(calls_each):
            started = time.perf_counter()
            assert call() == 42
            mine.append(time.perf_counter() - started)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(callers)]
    for thread in threads:
        thread.start()
    ready.wait()
    cpu = (time.process_time(), child_cpu_seconds(target.pids))
    go.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    return _summary(latencies, time.perf_counter() - started, cpu, target)


def measure_async(callers: int, calls_each: int, target: Target) -> dict[str, float]:
    """The server's way: `callers` concurrent asyncio tasks awaiting calls back to back."""

    async def main() -> dict[str, float]:
        latencies: list[float] = []
        calls = [target.make_call(i) for i in range(callers)]

        async def caller(index: int, count: int, record: bool) -> None:
            call = calls[index]
            for _ in range(count):
                started = time.perf_counter()
                assert await call() == 42
                if record:
                    latencies.append(time.perf_counter() - started)

        await asyncio.gather(*(caller(i, max(20, calls_each // 10), False) for i in range(callers)))
        cpu = (time.process_time(), child_cpu_seconds(target.pids))
        started = time.perf_counter()
        await asyncio.gather(*(caller(i, calls_each, True) for i in range(callers)))
        return _summary(latencies, time.perf_counter() - started, cpu, target)

    return asyncio.run(main())


def _summary(
    latencies: list[float], elapsed: float, cpu_before: tuple[float, float], target: Target
) -> dict[str, float]:
    ordered = sorted(latencies)
    calls = len(ordered)
    return {
        "calls": calls,
        "per_second": calls / elapsed,
        "p50_us": statistics.median(ordered) * 1e6,
        "p99_us": ordered[min(calls - 1, int(calls * 0.99))] * 1e6,
        "server_cpu_us": (time.process_time() - cpu_before[0]) / calls * 1e6,
        "child_cpu_us": (child_cpu_seconds(target.pids) - cpu_before[1]) / calls * 1e6,
    }


def repeated(times: int, measure: Callable[[], dict[str, float]]) -> dict[str, float]:
    """The run with the median throughput out of `times` (the machine may be shared and noisy)."""
    runs = sorted((measure() for _ in range(times)), key=lambda stats: stats["per_second"])
    return runs[len(runs) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000, help="measured calls per caller and run")
    parser.add_argument("--repeat", type=int, default=3, help="runs per scenario (the median one is kept)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    options = parser.parse_args()
    calls, times = options.calls, options.repeat
    rows: list[tuple[str, int, dict[str, float], dict[str, float] | None]] = []

    children = [BareChild() for _ in range(4)]
    pids = {child.process.pid for child in children}
    try:
        blocking = Target(lambda i: children[i].call, pids)
        nonblocking = Target(lambda i: children[i].call_async, pids)
        sync_base = {n: repeated(times, lambda n=n: measure_threads(n, calls, blocking)) for n in (1, 4)}
        async_base = {n: repeated(times, lambda n=n: measure_async(n, calls, nonblocking)) for n in (1, 4)}
    finally:
        for child in children:
            child.close()
    for n in (1, 4):
        rows.append(("bare child, blocking I/O (baseline)", n, sync_base[n], None))
    for n in (1, 4):
        rows.append(("bare child, asyncio I/O (baseline)", n, async_base[n], None))

    config = SandboxConfig(
        runtimes={RUNTIME: Policy()},
        preload=("numpy", "numpy.random", "random", RUNTIME),
        max_concurrency=4,
        max_calls_per_worker=10**9,  # keep workers alive so their CPU time can be read
    )
    with SandboxPool(config) as pool:
        facts = pool.status()
        workers: set[int] = set()

        def sync_call(index: int) -> Callable[[], Any]:
            def call() -> Any:
                result = pool.run_sync(RUNTIME, f"sync-{index}", code=HOOK, handler=_handler)
                workers.add(result.worker_pid)
                return result.value

            return call

        def async_call(handler: Any) -> Callable[[int], Callable[[], Any]]:
            def make(index: int) -> Callable[[], Any]:
                async def call() -> Any:
                    result = await pool.run(RUNTIME, f"async-{index}", code=HOOK, handler=handler)
                    workers.add(result.worker_pid)
                    return result.value

                return call

            return make

        scenarios: list[tuple[str, Callable[[int], dict[str, float]], dict[int, dict[str, float]]]] = [
            (
                "sandbox, `run_sync` (threads)",
                lambda n: measure_threads(n, calls, Target(sync_call, workers)),
                sync_base,
            ),
            (
                "sandbox, `await run`, async handler",
                lambda n: measure_async(n, calls, Target(async_call(_async_handler), workers)),
                async_base,
            ),
            (
                "sandbox, `await run`, plain handler (on a thread)",
                lambda n: measure_async(n, calls, Target(async_call(_handler), workers)),
                async_base,
            ),
        ]
        for name, measure, base in scenarios:
            for n in (1, 4):
                rows.append((name, n, repeated(times, lambda measure=measure, n=n: measure(n)), base[n]))
        startup = measure_worker_start(pool)

    table = _table(rows, facts, startup)
    print(table)
    if not options.no_write:
        _write(table)


def measure_worker_start(pool: SandboxPool, samples: int = 10) -> float:
    """Median time to a first call on a new owner's worker, from a fresh pre-forked worker: the part
    of fork + lock-down cost that is not already off the request path."""
    timings = []
    for index in range(samples):
        started = time.perf_counter()
        pool.run_sync(RUNTIME, f"first-{index}", code=HOOK, handler=_handler)
        timings.append(time.perf_counter() - started)
        time.sleep(0.2)  # let the host re-fill the pre-forked pool, as between real requests
    return statistics.median(timings) * 1e6


def _table(
    rows: list[tuple[str, int, dict[str, float], dict[str, float] | None]],
    facts: dict[str, Any],
    startup_us: float,
) -> str:
    lines = [
        "Trivial call: a 3-line hook making one request to the server, warm worker, one owner per caller. "
        "Baselines: the same message pattern (call → request → reply → done, length-prefixed JSON over a "
        "socketpair) to a persistent child without any sandboxing, driven the same way (blocking or "
        "asyncio); each sandbox row is compared with the baseline of its kind. Each row is the median of "
        "several runs by throughput; CPU columns are CPU time per call in this process (server side, all "
        "threads) and in the child/worker processes, which are robust to a noisy shared machine. "
        f"Machine: {os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}, "
        f"load average {os.getloadavg()[0]:.1f} at the end; "
        f"seccomp {'on' if facts.get('seccomp') else 'off'}; "
        f"{time.strftime('%Y-%m-%d')}.",
        "",
        "| scenario | callers | calls/s | p50 µs | p99 µs | p50 vs base | calls/s vs base "
        "| server CPU µs/call | child CPU µs/call |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, callers, stats, base in rows:
        if base is None:
            ratio_latency = ratio_rate = "1.00×"
        else:
            ratio_latency = f"{stats['p50_us'] / base['p50_us']:.2f}×"
            ratio_rate = f"{stats['per_second'] / base['per_second']:.2f}×"
        cells = [
            name,
            str(callers),
            f"{stats['per_second']:.0f}",
            f"{stats['p50_us']:.0f}",
            f"{stats['p99_us']:.0f}",
            ratio_latency,
            ratio_rate,
            f"{stats['server_cpu_us']:.0f}",
            f"{stats['child_cpu_us']:.0f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        f"First call of a new owner (takes a pre-forked worker; fork and lock-down happen ahead of demand): "
        f"p50 {startup_us:.0f} µs.",
    ]
    return "\n".join(lines)


def _write(table: str) -> None:
    from bench.report import write_section  # here, not at the top: the sandbox host imports this module

    write_section("sandbox_calls", "Sandbox calls", table)
    print("\nwrote the sandbox_calls section of docs/benchmarks.md")


if __name__ == "__main__":
    main()
