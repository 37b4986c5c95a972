"""One learn or predict task, step by step (spec §4.7, §4.8): download, extract, run the entrypoints
through the shared executor, check their outputs, upload the result.

Any failure raises StepFailed(step, reason); the worker reports it as `"<step>: <reason>"`.
"""

from __future__ import annotations

import json
import math
import os
import shlex
import shutil
import sys
import time
import uuid as uuid_module
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from crucible.core.executor import Finished, Logs, RunEvent, RunSpec, RunState
from crucible.core.executor.runs import Executor
from crucible.dialects.morpheo import archives

STDERR_TAIL_BYTES = 2048


class StepFailed(Exception):
    def __init__(self, step: str, reason: str) -> None:
        super().__init__(f"{step}: {reason}")
        self.step = step
        self.reason = reason


class Storage(Protocol):
    """What a task needs from the server's storage (the worker's HTTP client provides it)."""

    def download(self, kind: str, uuid: str, target: Path) -> None: ...
    def metadata(self, kind: str, uuid: str) -> dict[str, Any]: ...
    def upload_model(self, uuid: str, algo: str, source: Path) -> None: ...
    def upload_prediction(self, source: Path) -> str: ...


@dataclass(frozen=True)
class TaskContext:
    storage: Storage
    executor: Executor
    task_dir: Path
    kind: str  # "learn" or "predict"
    uuid: str
    timeout_s: float
    max_extract_bytes: int
    path: str  # PATH for the entrypoints, the worker interpreter's bin directory first


class TaskRun:
    """Shared steps of learn and predict tasks."""

    def __init__(self, context: TaskContext) -> None:
        self.context = context
        self.dir = context.task_dir
        self.deadline = time.monotonic() + context.timeout_s

    def make_dirs(self, *relative: str) -> None:
        for name in relative:
            (self.dir / name).mkdir(parents=True, exist_ok=True)

    def download(self, kind: str, uuid: str, target: Path) -> None:
        try:
            self.context.storage.download(kind, uuid, target)
        except StepFailed:
            raise
        except Exception as error:
            raise StepFailed("download", f"{kind} {uuid}: {error}") from error

    def fetch_program(self, kind: str, uuid: str, name: str) -> Path:
        """Download and extract a workflow or algo archive into `<task>/<name>/`; its entrypoint."""
        archive = self.dir / "scratch" / f"{name}.tar.gz"
        self.download(kind, uuid, archive)
        try:
            return archives.extract_program(archive, self.dir / name, self.context.max_extract_bytes)
        except archives.ArchiveError as error:
            raise StepFailed("extract", str(error)) from error
        finally:
            archive.unlink(missing_ok=True)

    def fetch_model(self, uuid: str) -> None:
        archive = self.dir / "scratch" / "model.tar.gz"
        self.download("model", uuid, archive)
        try:
            archives.extract(archive, self.dir / "data" / "model", self.context.max_extract_bytes)
        except archives.ArchiveError as error:
            raise StepFailed("extract", str(error)) from error
        finally:
            archive.unlink(missing_ok=True)

    def environment(self) -> dict[str, str]:
        """Only what an entrypoint needs; never a credential."""
        return {
            "PATH": self.context.path,
            "HOME": str(self.dir),
            "LANG": os.environ.get("LANG", "C.UTF-8"),
            "TMPDIR": str(self.dir / "scratch"),
            "PYTHONUNBUFFERED": "1",
            "CRUCIBLE_MORPHEO_TASK_KIND": self.context.kind,
            "CRUCIBLE_MORPHEO_TASK_UUID": self.context.uuid,
        }

    def run(self, step: str, entrypoint: Path, *arguments: str) -> None:
        """One entrypoint run as one executor job, with what is left of the task's time."""
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise StepFailed(step, f"timeout after {self.context.timeout_s:g} s")
        run_id = f"morpheo-{self.context.kind}-{self.context.uuid}-{step}-{uuid_module.uuid4().hex[:8]}"
        stderr: deque[str] = deque(maxlen=200)
        finished: list[Finished] = []
        log_path = self.dir / f"{step}.log"

        def on_event(event: RunEvent) -> None:
            if isinstance(event, Logs):
                with log_path.open("a", encoding="utf-8") as log:
                    for line in event.lines:
                        log.write(f"[{line.stream}] {line.text}\n")
                        if line.stream != "stdout":
                            stderr.append(line.text)
            elif isinstance(event, Finished):
                finished.append(event)

        self.context.executor.submit(
            RunSpec(
                run_id=run_id,
                steps=[shlex.join([str(entrypoint), *arguments])],
                working_dir=entrypoint.parent,
                outputs_dir=self.dir / "scratch",
                env=self.environment(),
                labels={"dialect": "morpheo", "task": self.context.uuid, "step": step},
                python_bin_dir=Path(sys.executable).parent,
                timeout_s=remaining,
            ),
            on_event,
        )
        self.context.executor.wait(run_id)
        outcome = finished[0] if finished else None
        if outcome is not None and outcome.state is RunState.SUCCEEDED:
            return
        if outcome is not None and outcome.message.startswith("timeout after"):
            raise StepFailed(step, f"timeout after {self.context.timeout_s:g} s")
        message = outcome.message if outcome is not None else "no result from the executor"
        tail = "\n".join(stderr)[-STDERR_TAIL_BYTES:]
        raise StepFailed(step, f"{message}; stderr: {tail}" if tail else message)

    def require_files(self, step: str, paths: list[Path]) -> None:
        for path in paths:
            if not path.is_file():
                raise StepFailed(step, f"missing output {path.relative_to(self.dir)}")


def _read_performance(path: Path, train: list[str], test: list[str]) -> dict[str, Any]:
    try:
        report = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise StepFailed("perf", f"invalid performance.json: {error}") from error

    def number(value: Any) -> bool:
        return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)

    if not isinstance(report, dict) or not number(report.get("perf")):
        raise StepFailed("perf", "invalid performance.json: perf must be a number")
    for key, uuids in (("train_perf", train), ("test_perf", test)):
        values = report.get(key)
        if not isinstance(values, dict) or not all(number(v) for v in values.values()):
            raise StepFailed("perf", f"invalid performance.json: {key} must map data uuids to numbers")
        if sorted(values) != sorted(uuids):
            raise StepFailed("perf", f"invalid performance.json: {key} keys differ from the task's data")
    return {"perf": report["perf"], "train_perf": report["train_perf"], "test_perf": report["test_perf"]}


def run_learn(context: TaskContext, learnuplet: dict[str, Any]) -> dict[str, Any]:
    """Train one step of an algo's chain and score it; returns the /learndone body (without worker)."""
    task = TaskRun(context)
    root = task.dir
    task.make_dirs("hidden/test", "hidden/perf", "data/train/pred", "data/test/pred", "data/model", "scratch")
    train: list[str] = learnuplet["train_data"]
    test: list[str] = learnuplet["test_data"]
    workflow = task.fetch_program("problem", learnuplet["workflow"], "workflow")
    algo = task.fetch_program("algo", learnuplet["algo"], "algo")
    if learnuplet["model_start"] != learnuplet["algo"]:
        task.fetch_model(learnuplet["model_start"])
    for uuid in train:
        task.download("data", uuid, root / "data" / "train" / uuid)
    for uuid in test:
        task.download("data", uuid, root / "hidden" / "test" / uuid)

    hidden, data = str(root / "hidden"), str(root / "data")
    task.run("detarget", workflow, "-T", "detarget", "-i", hidden, "-s", data)
    task.require_files("detarget", [root / "data" / "test" / uuid for uuid in test])
    task.run("train", algo, "-V", data, "-T", "train")
    task.require_files(
        "train",
        [root / "data" / "train" / "pred" / uuid for uuid in train]
        + [root / "data" / "test" / "pred" / uuid for uuid in test],
    )
    if not any(path.is_file() for path in (root / "data" / "model").rglob("*")):
        raise StepFailed("train", "missing output data/model/ (no model file)")
    task.run("perf", workflow, "-T", "perf", "-i", hidden, "-s", data)
    result = _read_performance(root / "hidden" / "perf" / "performance.json", train, test)

    model_archive = root / "scratch" / "model-out.tar.gz"
    archives.pack(root / "data" / "model", model_archive)
    try:
        context.storage.upload_model(learnuplet["model_end"], learnuplet["algo"], model_archive)
    except StepFailed:
        raise
    except Exception as error:
        raise StepFailed("upload", str(error)) from error
    return {"status": "done", **result}


def run_predict(context: TaskContext, preduplet: dict[str, Any]) -> dict[str, Any]:
    """Predict with a trained model; returns the /preddone body (without worker)."""
    task = TaskRun(context)
    root = task.dir
    task.make_dirs("data/test/pred", "data/model", "scratch")
    try:
        model = context.storage.metadata("model", preduplet["model"])
    except Exception as error:
        raise StepFailed("download", f"model {preduplet['model']}: {error}") from error
    algo = task.fetch_program("algo", str(model["algo"]), "algo")
    task.fetch_model(preduplet["model"])
    uuids: list[str] = preduplet["data"]
    for uuid in uuids:
        task.download("data", uuid, root / "data" / "test" / uuid)
    task.run("predict", algo, "-V", str(root / "data"), "-T", "predict")
    task.require_files("predict", [root / "data" / "test" / "pred" / uuid for uuid in uuids])
    archive = root / "scratch" / "prediction.tar.gz"
    archives.pack(root / "data" / "test" / "pred", archive)
    try:
        stored = context.storage.upload_prediction(archive)
    except StepFailed:
        raise
    except Exception as error:
        raise StepFailed("upload", str(error)) from error
    return {"status": "done", "prediction_storage_uuid": stored}


def remove_task_dir(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
