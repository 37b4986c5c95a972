"""Morpheo task claim-and-complete throughput over HTTP against the same work done directly on the
database, with 1, 4 and 16 concurrent workers.

Ours: each worker thread has its own keep-alive connection to a real server process (uvicorn, one
process, SQLite) and, for each task, posts `POST /worker/learnuplet/<uuid>` (claim) then
`POST /learndone/<uuid>` (done, with perf maps), with HTTP Basic (access key) on every request.
Baseline: the same claim and report through the dialect's own functions (`tasks.claim`,
`tasks.report_learnuplet`, one write transaction each, propagation and metrics included) from the
same number of threads in this process, on the same database file, in the same run.
Tasks are handed out from a shared queue, so the figures measure the transitions, not polling.
The machine is shared and loaded, so each row interleaves HTTP and direct runs several times and
reports medians, plus CPU time per task (server process for HTTP, this process for direct), which
load disturbs much less than wall time.
Target: over HTTP at least a third of the direct figure.
"""

from __future__ import annotations

import os
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.report import markdown_table, write_section

WORKERS = (1, 4, 16)
TASKS_PER_RUN = 120
REPEATS = 5
PASSWORD = "bench-password-1"


def start_server(data_dir: Path, port: int) -> tuple[subprocess.Popen[bytes], str]:
    """A real server process on SQLite; returns it and an access key of the `bench` account."""
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
    key = subprocess.run(
        [*cli, "accesskey", "create", "bench"], env=env, check=True, capture_output=True, text=True
    ).stdout.strip()
    server = subprocess.Popen([*cli, "serve"], env=env, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                return server, key
        except httpx.TransportError:
            time.sleep(0.1)
    server.kill()
    raise RuntimeError("server did not start")


def make_tasks(db_url: str, prefix: str, count: int) -> list[str]:
    """`count` ready learnuplets (one-step chains of fresh algos), written straight to the database."""
    from sqlalchemy import select

    from crucible.core.db import Database
    from crucible.dialects.morpheo import registration
    from crucible.dialects.morpheo.models import MorpheoLearnuplet

    db = Database(db_url)
    now = int(time.time())
    with db.write() as session:
        for number in range(count):
            registration.register_algo(
                session, {"uuid": f"{prefix}-{number}", "problem": "P", "name": "a"}, now
            )
    with db.read() as session:
        uuids = session.scalars(
            select(MorpheoLearnuplet.uuid)
            .where(MorpheoLearnuplet.algo.like(f"{prefix}-%"))
            .order_by(MorpheoLearnuplet.seq)
        ).all()
    db.dispose()
    return list(uuids)


def report_body(worker: str) -> dict[str, object]:
    return {"status": "done", "perf": 0.5, "train_perf": [0.5], "test_perf": [], "worker": worker}


def run_threads(
    workers: int, uuids: list[str], step: Callable[[str, str, object], None], open_: Callable[[], object]
) -> float:
    """Each thread takes tasks from a shared queue until it is empty; returns tasks per second."""
    tasks: queue.SimpleQueue[str] = queue.SimpleQueue()
    for uuid in uuids:
        tasks.put(uuid)
    barrier = threading.Barrier(workers + 1)
    errors: list[BaseException] = []

    def work(number: int) -> None:
        handle = open_()
        try:
            barrier.wait()
            while True:
                try:
                    uuid = tasks.get_nowait()
                except queue.Empty:
                    return
                step(f"w{number}", uuid, handle)
        except BaseException as error:
            errors.append(error)
        finally:
            close = getattr(handle, "close", None)
            if close is not None:
                close()

    threads = [threading.Thread(target=work, args=(number,)) for number in range(workers)]
    for thread in threads:
        thread.start()
    barrier.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise errors[0]
    return len(uuids) / elapsed


def measure_http(url: str, key: str, workers: int, uuids: list[str]) -> float:
    def open_client() -> httpx.Client:
        client = httpx.Client(base_url=url, auth=("bench", key), timeout=120)
        client.get("/problem/P")  # connect and authenticate before the clock starts
        return client

    def step(worker: str, uuid: str, client: object) -> None:
        assert isinstance(client, httpx.Client)
        claimed = client.post(f"/worker/learnuplet/{uuid}", json={"worker": worker})
        assert claimed.status_code == 200, claimed.text
        reported = client.post(f"/learndone/{uuid}", json=report_body(worker))
        assert reported.status_code == 200, reported.text

    return run_threads(workers, uuids, step, open_client)


def measure_direct(db_url: str, user_id: int, workers: int, uuids: list[str]) -> float:
    from crucible.core.db import Database
    from crucible.dialects.morpheo import tasks

    db = Database(db_url)

    def step(worker: str, uuid: str, _handle: object) -> None:
        with db.write() as session:
            tasks.claim(session, "learnuplet", uuid, worker, user_id, time.time())
        with db.write() as session:
            tasks.report_learnuplet(session, uuid, report_body(worker), user_id, int(time.time()))

    try:
        return run_threads(workers, uuids, step, lambda: None)
    finally:
        db.dispose()


def main() -> None:
    from tests.conftest import free_port

    rows = []
    with tempfile.TemporaryDirectory() as directory:
        data_dir = Path(directory)
        db_url = f"sqlite:///{(data_dir / 'crucible.db').resolve()}"
        port = free_port()
        server, key = start_server(data_dir, port)
        url = f"http://127.0.0.1:{port}"
        try:
            with httpx.Client(base_url=url, auth=("bench", key), timeout=60) as client:
                body = {"uuid": "P", "workflow": "W", "test_dataset": [], "size_train_dataset": 1}
                assert client.post("/problem", json=body).status_code == 201
                assert client.post("/data", json={"uuid": "d", "problems": "P"}).status_code == 201
            user_id = _user_id(db_url)
            for workers in WORKERS:
                http_rates, direct_rates, http_cpu, direct_cpu = [], [], [], []
                for repeat in range(REPEATS):
                    http_tasks = make_tasks(db_url, f"http{workers}-{repeat}", TASKS_PER_RUN)
                    direct_tasks = make_tasks(db_url, f"direct{workers}-{repeat}", TASKS_PER_RUN)
                    cpu = process_cpu_seconds(server.pid)
                    http_rates.append(measure_http(url, key, workers, http_tasks))
                    http_cpu.append((process_cpu_seconds(server.pid) - cpu) / TASKS_PER_RUN)
                    cpu = time.process_time()
                    direct_rates.append(measure_direct(db_url, user_id, workers, direct_tasks))
                    direct_cpu.append((time.process_time() - cpu) / TASKS_PER_RUN)
                ours, direct = statistics.median(http_rates), statistics.median(direct_rates)
                rows.append(
                    [
                        str(workers),
                        f"{ours:.0f}",
                        f"{direct:.0f}",
                        f"{ours / direct:.2f}",
                        f"{statistics.median(http_cpu) * 1000:.1f}",
                        f"{statistics.median(direct_cpu) * 1000:.1f}",
                    ]
                )
                print(" | ".join(rows[-1]), flush=True)
        finally:
            server.terminate()
            server.wait(timeout=30)
    load = os.getloadavg()[0]
    table = markdown_table(
        [
            "concurrent workers",
            "HTTP claim+done per s",
            "direct DB claim+done per s",
            "HTTP / direct (target ≥ 0.33)",
            "server CPU ms per task (HTTP)",
            "CPU ms per task (direct)",
        ],
        rows,
    )
    body = (
        "Claim (`POST /worker/learnuplet/<uuid>`) then done report (`POST /learndone/<uuid>` with perf maps) "
        "per task, Basic auth with an access key on every request, one keep-alive connection per worker "
        "thread, against a real server process (uvicorn, one process, SQLite). Baseline: the same two "
        "transitions through `tasks.claim` and `tasks.report_learnuplet` (one write transaction each) from "
        f"the same number of threads in the benchmark process, on the same database. Medians of {REPEATS} "
        f"interleaved runs of {TASKS_PER_RUN} tasks per mode; the machine was shared (load average "
        f"{load:.1f} at the end on {os.cpu_count()} cores), so wall-time figures are noisy and the CPU "
        "columns are the steadier comparison.\n\n" + table
    )
    write_section("morpheo_claims", "Morpheo task claims: HTTP vs direct database", body)


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of another process, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _user_id(db_url: str) -> int:
    from crucible.core import accounts
    from crucible.core.db import Database

    db = Database(db_url)
    with db.read() as session:
        user = accounts.find_user_by_username(session, "bench")
        assert user is not None
        user_id = user.id
    db.dispose()
    return user_id


if __name__ == "__main__":
    main()
