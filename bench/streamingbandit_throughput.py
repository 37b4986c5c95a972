"""StreamingBandit getaction + setreward round trips over HTTP against a bare endpoint, in the same run.

Ours: a real server process (`crucible serve`, one uvicorn worker, SQLite, default settings) running the
Thompson Sampling K-Armed Bernoulli default; each round trip is GET /getaction then GET /setreward with
the returned action, both through the sandbox. Baseline: a bare FastAPI endpoint returning a constant,
served by the same uvicorn in its own process, driven by the same client with two GETs per round trip.

The load generator is a small asyncio HTTP/1.1 keep-alive client (much cheaper per request than a
general-purpose client, so it does not hide the server's cost):
* closed loop: C connections each run round trips back to back for T seconds → round trips per second;
* open loop: round trips start at a fixed arrival rate (1,000 requests per second), latency counted from
  each request's scheduled start, so a stalled server cannot hide queueing (no coordinated omission).
Targets (issue 3): at least half the bare endpoint's throughput; p99 under 10 ms at 1,000 requests/s.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.report import markdown_table, percentile_ms, write_section

PASSWORD = "bench-password-1"
THOMPSON = 11
CONNECTIONS = 8
SECONDS = 10.0
PACED_RATE = 1000.0
"""Requests per second in the open-loop run (round trips start at half this rate)."""
PACED_SECONDS = 10.0
ANALYSIS = """Where the time goes: every setreward holds its experiment's theta lock for the whole sandbox call
and commit (spec §4.6), so one experiment's setrewards run one at a time and the round-trip rate is
bounded by that critical section (worker round trip plus a SQLite write), whatever the number of
connections. Per request the server also pays FastAPI's thread-pool hop (plain `def` handlers keep
database and sandbox waits off the event loop), one sandbox round trip (JSON over a socketpair to a
pre-forked worker, which must be scheduled) and one SQLite write transaction (the action or reward log,
theta with a conditional version bump). Reads cost nothing on SQLite: the experiment row and the theta
are cached in process (a single process sees every change). A bare endpoint does none of this."""
BARE_APP = """
from fastapi import FastAPI
app = FastAPI()

@app.get("/bare")
async def bare():
    return {"action": {"treatment": "1", "propensity": 0.5}, "context": {}}
"""


# --- a minimal keep-alive HTTP/1.1 client --------------------------------------------------------------------


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str) -> None:
        self.reader, self.writer, self.host = reader, writer, host

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer, f"127.0.0.1:{port}")

    async def get(self, target: str) -> tuple[int, bytes]:
        self.writer.write(f"GET {target} HTTP/1.1\r\nHost: {self.host}\r\n\r\n".encode())
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        body = await self.reader.readexactly(length) if length else b""
        return status, body

    def close(self) -> None:
        self.writer.close()


@dataclass
class Run:
    round_trips: int = 0
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    elapsed: float = 0.0

    @property
    def rate(self) -> float:
        return self.round_trips / self.elapsed if self.elapsed else 0.0


def bandit_round_trip(exp_id: str, key: str):  # type: ignore[no-untyped-def]
    getaction = f"/getaction/{exp_id}?key={key}&context=%7B%7D"

    async def round_trip(connection: Connection, run: Run, scheduled: float) -> None:
        status, body = await connection.get(getaction)
        got = time.perf_counter()
        run.latencies.append(got - scheduled)
        if status != 200:
            run.errors += 1
            return
        action = json.loads(body)["action"]
        reward = 1 if action["treatment"] == "4" else 0
        target = (
            f"/setreward/{exp_id}?key={key}&context=%7B%7D&action={quote(json.dumps(action))}"
            f"&reward={quote(json.dumps({'value': reward}))}"
        )
        status, _ = await connection.get(target)
        run.latencies.append(time.perf_counter() - got)
        run.errors += status != 200
        run.round_trips += 1

    return round_trip


def bare_round_trip():  # type: ignore[no-untyped-def]
    async def round_trip(connection: Connection, run: Run, scheduled: float) -> None:
        status, body = await connection.get("/bare")
        got = time.perf_counter()
        run.latencies.append(got - scheduled)
        json.loads(body)
        status2, _ = await connection.get("/bare")
        run.latencies.append(time.perf_counter() - got)
        run.errors += (status != 200) + (status2 != 200)
        run.round_trips += 1

    return round_trip


async def closed_loop(port: int, round_trip, seconds: float, connections: int = CONNECTIONS) -> Run:  # type: ignore[no-untyped-def]
    run = Run()
    pool = [await Connection.open(port) for _ in range(connections)]
    stop = time.perf_counter() + seconds

    async def worker(connection: Connection) -> None:
        while time.perf_counter() < stop:
            await round_trip(connection, run, time.perf_counter())

    started = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in pool))
    run.elapsed = time.perf_counter() - started
    for connection in pool:
        connection.close()
    return run


async def open_loop(port: int, round_trip, rate: float, seconds: float) -> Run:  # type: ignore[no-untyped-def]
    """Round trips start every 2/rate seconds (two requests each), whatever the server does."""
    run = Run()
    idle: asyncio.Queue[Connection] = asyncio.Queue()
    for _ in range(64):
        idle.put_nowait(await Connection.open(port))
    interval = 2.0 / rate
    count = int(seconds / interval)
    started = time.perf_counter()
    tasks = []

    async def one(scheduled: float) -> None:
        connection = await idle.get()
        try:
            await round_trip(connection, run, scheduled)
        finally:
            idle.put_nowait(connection)

    for i in range(count):
        scheduled = started + i * interval
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(scheduled)))
    await asyncio.gather(*tasks)
    run.elapsed = time.perf_counter() - started
    while not idle.empty():
        idle.get_nowait().close()
    return run


# --- servers ---------------------------------------------------------------------------------------------------


def wait_for(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("server did not start")


def start_crucible(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "CRUCIBLE_DATA_DIR": str(data_dir),
        "CRUCIBLE_PORT": str(port),
        "CRUCIBLE_LOG_LEVEL": "WARNING",
    }
    env.pop("CRUCIBLE_DATABASE_URL", None)
    cli = [sys.executable, "-m", "crucible.cli"]
    subprocess.run([*cli, "db", "upgrade"], env=env, check=True, capture_output=True)
    subprocess.run(
        [
            *cli,
            "user",
            "create",
            "--username",
            "bench",
            "--email",
            "bench@example.org",
            "--password",
            PASSWORD,
        ],
        env=env,
        check=True,
        capture_output=True,
    )
    server = subprocess.Popen([*cli, "serve"], env=env, stdout=subprocess.DEVNULL)
    wait_for(f"http://127.0.0.1:{port}/healthz", server)
    return server


def start_bare(directory: Path, port: int) -> subprocess.Popen[bytes]:
    (directory / "bare_app.py").write_text(BARE_APP)
    command = [sys.executable, "-m", "uvicorn", "bare_app:app", "--port", str(port), "--log-level", "warning"]
    server = subprocess.Popen(
        command, cwd=directory, stdout=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": str(directory)}
    )
    wait_for(f"http://127.0.0.1:{port}/bare", server)
    return server


def create_experiment(port: int) -> tuple[str, str]:
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
        assert client.post("/login", json={"username": "bench", "password": PASSWORD}).status_code == 200
        code = client.get(f"/exp/defaults/{THOMPSON}").json()
        created = client.post("/exp", json=code).json()
        return created["id"], created["key"]


def row(name: str, run: Run) -> list[str]:
    return [
        name,
        f"{run.rate:,.0f}",
        f"{2 * run.rate:,.0f}",
        f"{percentile_ms(run.latencies, 50):.2f}",
        f"{percentile_ms(run.latencies, 99):.2f}",
        str(run.errors),
    ]


def cpu_seconds(pid: int) -> float:
    """CPU time so far of a process and all its descendants (the server, its sandbox host, the workers)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total, pending = 0.0, [pid]
    while pending:
        current = pending.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks
        for task in Path(f"/proc/{current}/task").glob("*"):
            children = task / "children"
            if children.exists():
                pending += [int(child) for child in children.read_text().split()]
    return total


async def measure(port: int, round_trip, pid: int) -> dict[str, object]:  # type: ignore[no-untyped-def]
    """Closed loop (capacity), open loop at the target rate, and open loop at half the capacity."""
    await closed_loop(port, round_trip, 2.0)  # warm up: workers forked, caches filled
    before = cpu_seconds(pid)
    closed = await closed_loop(port, round_trip, SECONDS)
    cpu = (cpu_seconds(pid) - before) / max(1, closed.round_trips)
    paced = await open_loop(port, round_trip, PACED_RATE, PACED_SECONDS)
    half_rate = max(2.0, closed.rate)  # requests/s = 2 x round trips/s; half the capacity in requests
    half = await open_loop(port, round_trip, half_rate, PACED_SECONDS)
    return {"closed": closed, "paced": paced, "half": half, "half_rate": half_rate, "cpu": cpu}


def main() -> None:
    from tests.conftest import free_port

    with tempfile.TemporaryDirectory() as directory:
        ours_port, bare_port = free_port(), free_port()
        server = start_crucible(Path(directory) / "data", ours_port)
        bare = start_bare(Path(directory), bare_port)
        try:
            exp_id, key = create_experiment(ours_port)
            load = os.getloadavg()[0]
            ours = asyncio.run(measure(ours_port, bandit_round_trip(exp_id, key), server.pid))
            base = asyncio.run(measure(bare_port, bare_round_trip(), bare.pid))
            load = max(load, os.getloadavg()[0])
        finally:
            for process in (server, bare):
                process.terminate()
                process.wait(timeout=30)
    ratio = ours["closed"].rate / base["closed"].rate
    headers = ["run", "round trips/s", "requests/s", "p50 ms", "p99 ms", "errors"]
    rows = [
        row(f"Thompson getaction+setreward, closed loop ({CONNECTIONS} connections)", ours["closed"]),
        row(f"bare endpoint x2, closed loop ({CONNECTIONS} connections)", base["closed"]),
        row(f"Thompson getaction+setreward, open loop at {PACED_RATE:,.0f} requests/s", ours["paced"]),
        row(f"bare endpoint x2, open loop at {PACED_RATE:,.0f} requests/s", base["paced"]),
        row(
            f"Thompson getaction+setreward, open loop at {ours['half_rate']:,.0f} requests/s (half its capacity)",
            ours["half"],
        ),
    ]
    for line in rows:
        print(" | ".join(line), flush=True)
    p99 = percentile_ms(ours["paced"].latencies, 99)
    body = (
        "Round trips of GET /getaction + GET /setreward on the Thompson Sampling K-Armed Bernoulli default, "
        "one server process (`crucible serve`, SQLite, default sandbox settings), against a bare FastAPI "
        "endpoint returning a constant under the same uvicorn, two requests per round trip, same client, "
        f"same run. Closed loop: {CONNECTIONS} keep-alive connections for {SECONDS:.0f} s. Open loop: round "
        f"trips start at a fixed rate for {PACED_SECONDS:.0f} s, latency counted from the scheduled start "
        "(queueing included). Latencies are per request. Load generator, server, sandbox workers and other "
        f"users' jobs share the machine (load average {load:.1f} during the run).\n\n"
        + markdown_table(headers, rows)
        + f"\n\nThroughput: {ratio:.2f}x the bare endpoint's (target ≥ 0.5x: {'met' if ratio >= 0.5 else 'not met'}). "
        f"p99 at {PACED_RATE:,.0f} requests/s: {p99:.2f} ms (target < 10 ms: {'met' if p99 < 10 else 'not met'}). "
        f"CPU per round trip, server with its sandbox processes: {ours['cpu'] * 1000:.2f} ms; bare endpoint: "
        f"{base['cpu'] * 1000:.2f} ms.\n\n" + ANALYSIS
    )
    write_section("streamingbandit_throughput", "StreamingBandit getaction + setreward throughput", body)


if __name__ == "__main__":
    main()
