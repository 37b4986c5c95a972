"""One learn task through the real shared executor with a fake storage: the §4.8 command lines,
directory layout and environment (no credentials, the worker's interpreter first on PATH)."""

from __future__ import annotations

import io
import os
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from crucible.core.executor import LocalExecutor
from crucible.dialects.morpheo.worker import Worker, WorkerConfig
from crucible.dialects.morpheo.worker_tasks import StepFailed, TaskContext, run_learn
from tests.dialects.morpheo.digits import archive

WORKFLOW = b"""#!/bin/sh
set -e
while getopts T:i:s: option; do
  case $option in T) task=$OPTARG;; i) hidden=$OPTARG;; s) shared=$OPTARG;; esac
done
if [ "$task" = detarget ]; then
  for f in "$hidden"/test/*; do cp "$f" "$shared/test/$(basename "$f")"; done
else
  printf '{"perf": 0.75, "train_perf": {"tr1": 1}, "test_perf": {"te1": 0.5}}' > "$hidden/perf/performance.json"
fi
"""

ALGO = b"""#!/bin/sh
set -e
while getopts V:T: option; do
  case $option in V) root=$OPTARG;; T) task=$OPTARG;; esac
done
echo "training in $(pwd)" >&2
env > "$root/model/env.txt"
echo "$0 $*" > "$root/model/argv.txt"
ls "$root" > "$root/model/layout.txt"
for f in "$root"/train/*; do [ -f "$f" ] && echo 1 > "$root/train/pred/$(basename "$f")"; done
for f in "$root"/test/*; do [ -f "$f" ] && echo 1 > "$root/test/pred/$(basename "$f")"; done
exit 0
"""


class FakeStorage:
    def __init__(self, blobs: dict[tuple[str, str], bytes]) -> None:
        self.blobs = blobs
        self.models: dict[str, bytes] = {}

    def download(self, kind: str, uuid: str, target: Path) -> None:
        if (kind, uuid) not in self.blobs:
            raise StepFailed("download", f"{kind} {uuid} not found")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(self.blobs[(kind, uuid)])

    def metadata(self, kind: str, uuid: str) -> dict[str, Any]:
        return {"uuid": uuid}

    def upload_model(self, uuid: str, algo: str, source: Path) -> None:
        self.models[uuid] = source.read_bytes()

    def upload_prediction(self, source: Path) -> str:
        return "stored"


LEARNUPLET = {
    "uuid": "L1",
    "workflow": "W",
    "algo": "A",
    "model_start": "A",
    "model_end": "M",
    "train_data": ["tr1"],
    "test_data": ["te1"],
}


@pytest.fixture
def executor() -> Iterator[LocalExecutor]:
    executor = LocalExecutor(max_concurrent=1, stop_grace_s=1, server_env={})
    yield executor
    executor.close()


def context(
    tmp_path: Path, storage: FakeStorage, executor: LocalExecutor, timeout: float = 60
) -> TaskContext:
    return TaskContext(
        storage=storage,
        executor=executor,
        task_dir=tmp_path / "learn-L1",
        kind="learn",
        uuid="L1",
        timeout_s=timeout,
        max_extract_bytes=10**6,
        path=os.environ.get("PATH", os.defpath),
    )


def blobs(algo: bytes = ALGO) -> dict[tuple[str, str], bytes]:
    return {
        ("problem", "W"): archive({"entrypoint": WORKFLOW}, top="wf"),
        ("algo", "A"): archive({"entrypoint": algo}, dot_prefix=True, mode=0o644),
        ("data", "tr1"): b"train",
        ("data", "te1"): b"test",
    }


def test_learn_task_contract(
    tmp_path: Path, executor: LocalExecutor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRUCIBLE_DATABASE_URL", "postgresql://secret@db/prod")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    storage = FakeStorage(blobs())
    body = run_learn(context(tmp_path, storage, executor), LEARNUPLET)
    assert body == {"status": "done", "perf": 0.75, "train_perf": {"tr1": 1}, "test_perf": {"te1": 0.5}}
    with tarfile.open(fileobj=io.BytesIO(storage.models["M"]), mode="r:gz") as tar:
        names = sorted(tar.getnames())
        env_member = tar.extractfile("env.txt")
        argv_member = tar.extractfile("argv.txt")
        layout_member = tar.extractfile("layout.txt")
        assert env_member and argv_member and layout_member
        env = dict(line.split("=", 1) for line in env_member.read().decode().splitlines() if "=" in line)
        argv = argv_member.read().decode().split()
        layout = layout_member.read().decode().split()
    assert names == ["argv.txt", "env.txt", "layout.txt"]
    task = tmp_path / "learn-L1"
    assert env["HOME"] == str(task) and env["TMPDIR"] == str(task / "scratch")
    assert env["CRUCIBLE_MORPHEO_TASK_KIND"] == "learn" and env["CRUCIBLE_MORPHEO_TASK_UUID"] == "L1"
    assert env["PYTHONUNBUFFERED"] == "1"
    assert env["PATH"].split(":")[0] == str(Path(sys.executable).parent)
    assert "CRUCIBLE_DATABASE_URL" not in env and "AWS_SECRET_ACCESS_KEY" not in env
    assert set(env) - {"PWD", "SHLVL", "_", "OLDPWD"} == {
        "PATH",
        "HOME",
        "LANG",
        "TMPDIR",
        "PYTHONUNBUFFERED",
        "CRUCIBLE_MORPHEO_TASK_KIND",
        "CRUCIBLE_MORPHEO_TASK_UUID",
    }
    assert argv == [str(task / "algo" / "entrypoint"), "-V", str(task / "data"), "-T", "train"]
    assert layout == ["model", "test", "train"]  # hidden/ is never under the algo's -V
    assert (task / "train.log").read_text().startswith(f"[stderr] training in {task / 'algo'}")


def test_failures_name_their_step(tmp_path: Path, executor: LocalExecutor) -> None:
    failing = b"#!/bin/sh\necho boom >&2\nexit 3\n"
    with pytest.raises(StepFailed) as failure:
        run_learn(context(tmp_path, FakeStorage(blobs(failing)), executor), LEARNUPLET)
    assert failure.value.step == "train"
    assert "exited with code 3" in failure.value.reason and "boom" in failure.value.reason

    with pytest.raises(StepFailed) as failure:
        run_learn(context(tmp_path, FakeStorage(blobs()), executor), {**LEARNUPLET, "train_data": ["gone"]})
    assert str(failure.value) == "download: data gone not found"

    sleeper = b"#!/bin/sh\nsleep 30\n"
    with pytest.raises(StepFailed) as failure:
        run_learn(context(tmp_path, FakeStorage(blobs(sleeper)), executor, timeout=1.5), LEARNUPLET)
    assert str(failure.value) == "train: timeout after 1.5 s"

    bad_perf = {**blobs(), ("problem", "W"): archive({"entrypoint": WORKFLOW.replace(b"0.75", b'"x"')})}
    with pytest.raises(StepFailed) as failure:
        run_learn(context(tmp_path, FakeStorage(bad_perf), executor), LEARNUPLET)
    assert str(failure.value).startswith("perf: invalid performance.json")


class RecordingClient:
    """Stands in for the HTTP client: one ready learnuplet, claims always won, reports kept."""

    def __init__(self, storage: FakeStorage) -> None:
        self.storage = storage
        self.reports: list[tuple[str, dict[str, Any]]] = []

    def list_ready(self, collection: str) -> list[dict[str, Any]]:
        if collection == "preduplet" or self.reports:
            return []
        return [{**LEARNUPLET, "rank": 0, "timestamp_creation": 1, "status": "todo"}]

    def claim(self, collection: str, uuid: str, worker: str) -> bool:
        return True

    def report(self, path: str, body: dict[str, Any]) -> Any:
        self.reports.append((path, body))
        return type("Response", (), {"status_code": 200, "text": ""})()

    def close(self) -> None:
        pass

    def __getattr__(self, name: str) -> Any:
        return getattr(self.storage, name)


def test_worker_loop_reports_failures_with_the_step(tmp_path: Path, executor: LocalExecutor) -> None:
    client = RecordingClient(FakeStorage({**blobs(), ("algo", "A"): archive({"Dockerfile": b"FROM x\n"})}))
    config = WorkerConfig(url="http://x", user="u", password="p", worker_id="w", work_dir=tmp_path, once=True)
    worker = Worker(config, client=client, executor=executor)  # type: ignore[arg-type]
    assert worker.run() == 0
    ((path, body),) = client.reports
    assert path == "/learndone/L1"
    assert body == {
        "status": "failed",
        "error": "extract: Docker build contexts are not supported; add an executable 'entrypoint'",
        "worker": "w",
    }
    assert list(tmp_path.iterdir()) == []  # the task directory is removed


def test_worker_command_line_errors(tmp_path: Path) -> None:
    from crucible.cli import main
    from tests.conftest import free_port

    env_free = {"CRUCIBLE_MORPHEO_USER": "", "CRUCIBLE_MORPHEO_PASSWORD": ""}
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env_free.items():
            patch.setenv(name, value)
        assert main(["worker", "--once", "--work-dir", str(tmp_path)]) == 2
        assert main(["worker", "--user", "u", "--password", "p", "--kinds", "compute"]) == 2
        unreachable = f"http://127.0.0.1:{free_port()}"
        command = ["worker", "--url", unreachable, "--user", "u", "--password", "p", "--once"]
        assert main([*command, "--work-dir", str(tmp_path)]) == 1
