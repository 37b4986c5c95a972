"""The fixture problem "digits" of spec §6, built by the tests (nothing downloaded): scikit-learn's
bundled 8x8 digits split into 12 CSV data items (0–9 train, 10–11 test), a scoring workflow archive,
algo archives ("sgd", "nb", "saboteur", "slow-once") and broken ones, plus helpers that upload and
register them over plain HTTP and run real `crucible worker` processes."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess
import sys
import tarfile
import time
import uuid as uuid_module
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import numpy as np

PROGRAMS = Path(__file__).parent / "programs"
CHUNKS = 12
TRAIN_CHUNKS = range(10)
TEST_CHUNKS = range(10, 12)


def fixture_uuid(name: str) -> str:
    return str(uuid_module.uuid5(uuid_module.NAMESPACE_URL, f"morpheo-fixture/digits/{name}"))


DATA_UUIDS = [fixture_uuid(str(i)) for i in range(CHUNKS)]
TRAIN_UUIDS = [DATA_UUIDS[i] for i in TRAIN_CHUNKS]
TEST_UUIDS = [DATA_UUIDS[i] for i in TEST_CHUNKS]
PREDICT_UUIDS = [fixture_uuid(f"predict/{i}") for i in TEST_CHUNKS]


@cache
def chunks() -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    order = np.random.RandomState(0).permutation(len(digits.target))
    features = digits.data[order].astype(int)
    targets = digits.target[order].astype(int)
    return tuple(zip(np.array_split(features, CHUNKS), np.array_split(targets, CHUNKS), strict=True))


def csv_bytes(features: np.ndarray, targets: np.ndarray | None) -> bytes:
    header = [f"f{i}" for i in range(features.shape[1])] + (["target"] if targets is not None else [])
    lines = [",".join(header)]
    for index, row in enumerate(features):
        values = [str(int(value)) for value in row]
        if targets is not None:
            values.append(str(int(targets[index])))
        lines.append(",".join(values))
    return ("\n".join(lines) + "\n").encode()


def data_blob(index: int) -> bytes:
    features, targets = chunks()[index]
    return csv_bytes(features, targets)


def predict_blob(index: int) -> bytes:
    features, _ = chunks()[index]
    return csv_bytes(features, None)


def archive(
    files: dict[str, bytes], *, top: str | None = None, dot_prefix: bool = False, mode: int = 0o755
) -> bytes:
    """A tar.gz of one directory: under `top/`, or flat with `./` names, or flat."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, content in files.items():
            arcname = f"{top}/{name}" if top else (f"./{name}" if dot_prefix else name)
            info = tarfile.TarInfo(arcname)
            info.size = len(content)
            info.mode = mode
            tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def workflow_archive() -> bytes:
    return archive({"entrypoint": (PROGRAMS / "workflow.py").read_bytes()}, top="workflow")


def algo_archive(kind: str, extra: dict[str, bytes] | None = None) -> bytes:
    source = (PROGRAMS / "algo.py").read_text().replace('KIND = "sgd"', f"KIND = {kind!r}")
    # flat with ./ names and no executable bit: the worker must cope with both
    return archive({"entrypoint": source.encode(), **(extra or {})}, dot_prefix=True, mode=0o644)


def saboteur_archive(sabotaged: list[str]) -> bytes:
    return algo_archive("sgd", {"sabotage.txt": "\n".join(sabotaged).encode()})


def slow_once_archive(marker: Path) -> bytes:
    return algo_archive("sgd", {"slow-once.txt": str(marker).encode()})


BROKEN_ARCHIVES: dict[str, Callable[[], bytes]] = {
    "sleeper": lambda: archive({"entrypoint": b"#!/bin/sh\nsleep 30\n"}),
    "dockerfile-only": lambda: archive({"Dockerfile": b"FROM python:3.11\n"}),
    "no-output": lambda: archive({"entrypoint": b"#!/bin/sh\nexit 0\n"}),
}


@dataclass
class Server:
    """An HTTP client with Basic credentials (an access key) against a live server."""

    url: str
    user: str
    secret: str
    http: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.http = httpx.Client(base_url=self.url, auth=(self.user, self.secret), timeout=120)

    def upload(self, kind: str, uuid: str, blob: bytes, **fields: str) -> None:
        response = self.http.post(
            f"/storage/{kind}",
            data={"uuid": uuid, **fields, "size": str(len(blob))},
            files={"blob": ("blob", blob, "application/octet-stream")},
        )
        assert response.status_code == 201, response.text

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self.http.post(path, json=body)
        assert response.status_code == 201, response.text
        return dict(response.json())

    def get(self, path: str, **params: Any) -> Any:
        response = self.http.get(path, params=params)
        assert response.status_code == 200, response.text
        return response.json()

    def learnuplets(self, **filters: Any) -> list[dict[str, Any]]:
        return list(self.get("/learnuplet", **filters)["learnuplets"])

    # --- the digits problem ---------------------------------------------------------------------

    def upload_digits_data(self) -> None:
        for index, uuid in enumerate(DATA_UUIDS):
            self.upload("data", uuid, data_blob(index))

    def register_problem(self, problem: str, size: int = 4, **options: Any) -> None:
        workflow = fixture_uuid(f"workflow/{problem}")
        self.upload("problem", workflow, workflow_archive(), name="digits", description="accuracy")
        body = {"uuid": problem, "workflow": workflow, "test_dataset": TEST_UUIDS, "size_train_dataset": size}
        self.post("/problem", {**body, **options})

    def register_algo(self, problem: str, name: str, blob: bytes) -> str:
        uuid = fixture_uuid(f"algo/{problem}/{name}")
        self.upload("algo", uuid, blob, name=name)
        self.post("/algo", {"uuid": uuid, "problem": problem, "name": name})
        return uuid

    def register_data(self, problems: list[str]) -> None:
        self.post("/data", {"uuid": DATA_UUIDS, "problems": problems})


def worker_command(server: Server, work_dir: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "crucible.cli",
        "worker",
        "--url",
        server.url,
        "--user",
        server.user,
        "--password",
        server.secret,
        "--work-dir",
        str(work_dir),
        "--poll-interval",
        "0.2",
        *extra,
    ]


def worker_env() -> dict[str, str]:
    """The test's environment minus Crucible settings (a worker needs none of the server's)."""
    return {name: value for name, value in os.environ.items() if not name.startswith("CRUCIBLE_")}


def run_worker(server: Server, work_dir: Path, *extra: str, timeout: float = 240) -> str:
    """`crucible worker --once` to completion; returns its log output."""
    done = subprocess.run(
        worker_command(server, work_dir, "--once", *extra),
        env=worker_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr
    return done.stderr


def start_worker(server: Server, work_dir: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        worker_command(server, work_dir, *extra),
        env=worker_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def descendants(pid: int) -> list[int]:
    """Every live process below `pid` (from /proc), for cleaning up after a SIGKILL."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat[stat.rfind(")") + 2 :].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found, queue = [], [pid]
    while queue:
        for child in children.get(queue.pop(), []):
            found.append(child)
            queue.append(child)
    return found


def kill_tree(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)
