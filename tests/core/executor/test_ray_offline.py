"""Ray executor pieces without a cluster: request and outcome mapping, log tailing, packaging,
and the error paths of the HTTP conversation against a scripted fake Jobs API."""

from __future__ import annotations

import json
import os
import stat
import threading
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest

from crucible.core.executor import (
    LocalExecutor,
    RayExecutor,
    Resources,
    RunSpec,
    RunState,
    create_executor,
    default_max_concurrent,
)
from crucible.core.executor.ray import _LogTail, job_outcome, job_request, ray_message
from crucible.core.executor.ray_jobs_api import package_directory
from tests.core.executor.helpers import Recorder


def spec_for(tmp_path: Path, *steps: str, **fields: Any) -> RunSpec:
    run_id = fields.pop("run_id", "polyaxon-abc")
    return RunSpec(
        run_id=run_id, steps=list(steps), working_dir=tmp_path, outputs_dir=tmp_path / "out", **fields
    )


# --- mapping ---------------------------------------------------------------------------------------


def test_job_request_maps_the_run_spec(tmp_path: Path) -> None:
    spec = spec_for(
        tmp_path,
        "pip install -r requirements.txt",
        "python train.py --lr='0.1'",
        env={"A": "1"},
        resources=Resources(cpus=2, gpus=0.5),
        labels={"dialect": "polyaxon", "experiment": "7"},
    )
    request = job_request(spec, "gcs://_ray_pkg_x.zip")
    assert request == {
        "entrypoint": "/bin/sh -c 'pip install -r requirements.txt' && /bin/sh -c 'python train.py --lr='\"'\"'0.1'\"'\"''",
        "submission_id": "polyaxon-abc",
        "runtime_env": {"working_dir": "gcs://_ray_pkg_x.zip", "env_vars": {"A": "1"}},
        "metadata": {"dialect": "polyaxon", "experiment": "7"},
        "entrypoint_num_cpus": 2,
        "entrypoint_num_gpus": 0.5,
    }
    single = job_request(spec_for(tmp_path, "echo a; echo b"), "gcs://p.zip")
    assert single["entrypoint"] == "echo a; echo b"
    assert "entrypoint_num_cpus" not in single and "entrypoint_num_gpus" not in single


def test_job_outcome_maps_ray_statuses() -> None:
    failed = {
        "status": "FAILED",
        "driver_exit_code": 3,
        "message": "Job entrypoint command failed with exit code 3, last available logs (truncated to 20,000 chars):\nboom\n",
    }
    outcome = job_outcome(failed, stop_requested=False, recent_lines=["a", "boom"])
    assert (outcome.state, outcome.exit_code, outcome.message, outcome.traceback) == (
        RunState.FAILED,
        3,
        "Job entrypoint command failed with exit code 3",
        "a\nboom",
    )
    succeeded = {"status": "SUCCEEDED", "driver_exit_code": 0, "message": "Job finished successfully."}
    assert job_outcome(succeeded, stop_requested=False, recent_lines=[]).state is RunState.SUCCEEDED
    stopped = {"status": "STOPPED", "message": "Job was intentionally stopped."}
    assert job_outcome(stopped, stop_requested=False, recent_lines=[]).state is RunState.STOPPED
    # A run we asked to stop is stopped, even if it managed to exit on its own meanwhile.
    assert job_outcome(failed, stop_requested=True, recent_lines=[]).state is RunState.STOPPED
    assert ray_message("Unexpected error occurred: runtime env setup failed") == (
        "Unexpected error occurred: runtime env setup failed"
    )


def test_log_tail_turns_snapshots_into_new_lines() -> None:
    tail = _LogTail()
    assert tail.feed("a\nb", final=False) == ["a"]
    assert tail.feed("a\nb", final=False) == []
    assert tail.feed("a\nbc\r\nd\n", final=False) == ["bc", "d"]
    assert tail.feed("a\nbc\r\nd\ne", final=True) == ["e"]

    resumed = _LogTail(skip_lines=2)
    assert resumed.feed("1\n2\n3\n4", final=False) == ["3"]
    assert resumed.feed("1\n2\n3\n4\n", final=True) == ["4"]

    replaced = _LogTail()
    assert replaced.feed("long line\n", final=False) == ["long line"]
    assert replaced.feed("new\n", final=False) == ["new"]


# --- packaging -------------------------------------------------------------------------------------


def test_package_holds_the_tree_at_its_root_with_modes_and_is_deterministic(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "pkg" / "sub").mkdir(parents=True)
    (tree / "empty").mkdir()
    (tree / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (tree / "run.sh").chmod(0o755)
    (tree / "pkg" / "sub" / "data.txt").write_bytes(b"\x00\x01data")
    (tree / "link.txt").symlink_to(tree / "pkg" / "sub" / "data.txt")
    (tree / "dangling").symlink_to(tree / "missing")

    first = package_directory(tree, tmp_path / "one.zip")
    os.utime(tree / "run.sh", (1, 1))  # timestamps must not change the package
    second = package_directory(tree, tmp_path / "two.zip")
    assert first == second
    assert first.startswith("gcs://_ray_pkg_") and first.endswith(".zip")

    with zipfile.ZipFile(tmp_path / "one.zip") as archive:
        names = archive.namelist()
        assert names == ["link.txt", "run.sh", "empty/", "pkg/sub/data.txt"]
        assert archive.read("link.txt") == b"\x00\x01data"
        assert stat.S_IMODE(archive.getinfo("run.sh").external_attr >> 16) == 0o755

    (tree / "run.sh").write_text("changed\n")
    assert package_directory(tree, tmp_path / "three.zip") != first


# --- the HTTP conversation against a fake Jobs API ------------------------------------------------------


class FakeJobsApi:
    """Scripted dashboard: each GET of a job advances it along `script`."""

    def __init__(self, script: list[str] | None = None) -> None:
        self.script = script or ["PENDING", "RUNNING", "SUCCEEDED"]
        self.jobs: dict[str, dict[str, Any]] = {}
        self.packages: set[str] = set()
        self.calls: list[str] = []
        self.down = False
        self.lose_submit_answer = False
        self.lock = threading.Lock()

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.calls.append(f"{request.method} {request.url.path}")
            if self.down:
                raise httpx.ConnectError("connection refused", request=request)
            path = request.url.path
            if path.startswith("/api/packages/"):
                name = path.removeprefix("/api/packages/")
                if request.method == "PUT":
                    self.packages.add(name)
                    return httpx.Response(200)
                return httpx.Response(200 if name in self.packages else 404)
            if path == "/api/jobs/" and request.method == "POST":
                body = json.loads(request.content)
                self.jobs[body["submission_id"]] = {**body, "step": 0, "logs": "", "stops": 0}
                if self.lose_submit_answer:
                    return httpx.Response(500, text="ValueError: Job with submission_id ... already exists.")
                return httpx.Response(200, json={"submission_id": body["submission_id"]})
            parts = path.removeprefix("/api/jobs/").split("/")
            job = self.jobs.get(parts[0])
            if job is None:
                return httpx.Response(404, text=f"Job {parts[0]} does not exist")
            if parts[1:] == ["stop"]:
                job["stops"] += 1
                return httpx.Response(200, json={"stopped": True})
            if parts[1:] == ["logs"]:
                return httpx.Response(200, json={"logs": job["logs"]})
            status = self.script[min(job["step"], len(self.script) - 1)]
            job["step"] += 1
            if status == "RUNNING":
                job["logs"] += f"tick {job['step']}\n"
            return httpx.Response(
                200,
                json={
                    "status": status,
                    "message": "scripted",
                    "entrypoint": job["entrypoint"],
                    "driver_exit_code": 0 if status == "SUCCEEDED" else None,
                    "driver_info": {"node_ip_address": "10.0.0.5", "pid": "4242"},
                },
            )


def fake_executor(api: FakeJobsApi, **options: Any) -> RayExecutor:
    options.setdefault("poll_interval_s", 0.02)
    return RayExecutor("http://ray.invalid:8265", transport=api.transport(), **options)


def test_fake_run_uploads_once_submits_and_follows(tmp_path: Path) -> None:
    api = FakeJobsApi()
    executor = fake_executor(api)
    recorder = Recorder()
    try:
        executor.submit(spec_for(tmp_path, "true", run_id="r1"), recorder)
        executor.submit(spec_for(tmp_path, "true", run_id="r2"), recorder)
        assert recorder.finished("r1").state is RunState.SUCCEEDED
        assert recorder.finished("r2").state is RunState.SUCCEEDED
    finally:
        executor.close(timeout=5)
    assert sum(call.startswith("PUT /api/packages/gcs/_ray_pkg_") for call in api.calls) == 1
    assert recorder.kinds("r1") == ["Queued", "Starting", "Running", "Logs", "Finished"]
    assert recorder.lines("r1") == ["tick 2"]


def test_fake_lost_submit_answer_adopts_our_own_job(tmp_path: Path) -> None:
    api = FakeJobsApi()
    api.lose_submit_answer = True
    executor = fake_executor(api)
    recorder = Recorder()
    try:
        executor.submit(spec_for(tmp_path, "true", run_id="lost"), recorder)
        assert recorder.finished("lost").state is RunState.SUCCEEDED
    finally:
        executor.close(timeout=5)


def test_fake_stop_is_sent_by_the_run_thread_and_repeated(tmp_path: Path) -> None:
    api = FakeJobsApi(script=["RUNNING"] * 60 + ["STOPPED"])
    executor = fake_executor(api, stop_grace_s=0.1)
    recorder = Recorder()
    try:
        executor.submit(spec_for(tmp_path, "sleep 600", run_id="s"), recorder)
        recorder.wait_for(lambda e: type(e).__name__ == "Running")
        executor.stop("s")
        assert recorder.finished("s").state is RunState.STOPPED
    finally:
        executor.close(timeout=5)
    assert api.jobs["s"]["stops"] >= 2


def test_fake_unreachable_dashboard_fails_the_run_after_the_timeout(tmp_path: Path) -> None:
    api = FakeJobsApi(script=["RUNNING"])
    executor = fake_executor(api, unreachable_timeout_s=0.3)
    recorder = Recorder()
    try:
        executor.submit(spec_for(tmp_path, "true", run_id="u"), recorder)
        recorder.wait_for(lambda e: type(e).__name__ == "Running")
        api.down = True
        finished = recorder.finished("u")
    finally:
        executor.close(timeout=5)
    assert finished.state is RunState.FAILED
    assert finished.message.startswith("Ray dashboard unreachable for 0.3 s")


def test_fake_submit_refused_and_unknown_reattach_fail(tmp_path: Path) -> None:
    api = FakeJobsApi()
    api.down = True
    executor = fake_executor(api)
    recorder = Recorder()
    try:
        executor.submit(spec_for(tmp_path, "true", run_id="down"), recorder)
        assert recorder.finished("down").message.startswith("Could not upload the working directory to Ray")
        api.down = False
        executor.reattach("never-submitted", "never-submitted", recorder)
        assert recorder.finished("never-submitted").message == "Ray job never-submitted does not exist"
    finally:
        executor.close(timeout=5)


def test_close_detaches_from_running_ray_jobs(tmp_path: Path) -> None:
    api = FakeJobsApi(script=["RUNNING"])
    executor = fake_executor(api)
    recorder = Recorder()
    executor.submit(spec_for(tmp_path, "sleep 600", run_id="d"), recorder)
    recorder.wait_for(lambda e: type(e).__name__ == "Running")
    executor.close(timeout=5)
    assert "Finished" not in recorder.kinds("d")
    assert api.jobs["d"]["stops"] == 0


# --- factory ---------------------------------------------------------------------------------------


def test_factory_builds_what_the_settings_ask_for() -> None:
    local = create_executor("local", max_concurrent=3, stop_grace_s=4)
    assert isinstance(local, LocalExecutor)
    assert (local.max_concurrent, local.stop_grace_s) == (3, 4)
    local.close()
    default = create_executor()
    assert default.max_concurrent == default_max_concurrent() == max(1, (os.cpu_count() or 1) // 2)
    default.close()
    ray = create_executor("ray", ray_address="http://127.0.0.1:8265")
    assert isinstance(ray, RayExecutor)
    ray.close()
    with pytest.raises(ValueError, match="ray_address"):
        create_executor("ray")
    with pytest.raises(ValueError, match="http"):
        create_executor("ray", ray_address="ray://head:10001")
    with pytest.raises(ValueError, match="unknown executor kind"):
        create_executor("kubernetes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_concurrent"):
        create_executor(max_concurrent=0)


def test_run_spec_validation(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="steps"):
        spec_for(tmp_path)
    with pytest.raises(ValueError, match="steps"):
        RunSpec(run_id="x", steps="echo", working_dir=tmp_path, outputs_dir=tmp_path)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="step"):
        spec_for(tmp_path, "  ")
    with pytest.raises(ValueError, match="run_id"):
        spec_for(tmp_path, "true", run_id="")
    env = {"A": "1"}
    spec = spec_for(tmp_path, "true", env=env)
    env["A"] = "2"
    assert spec.env == {"A": "1"}  # a queued run is not changed behind the executor's back
