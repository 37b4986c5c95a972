"""RayExecutor against a real single-node Ray head (one per module; see ray_cluster.py).

Server and node are the same machine, so the shared-filesystem assumption for outputs holds.
If Ray cannot be installed or started, these tests fail with the reason: they are not optional.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from crucible.core.executor import Logs, RayExecutor, Resources, Running, RunSpec, RunState, Starting
from crucible.core.executor.ray_jobs_api import RayJobsClient
from tests.core.executor.helpers import Recorder
from tests.core.executor.ray_cluster import RayUnavailable, ray_venv, start_ray_head, stop_ray_head

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ray_address() -> Iterator[str]:
    try:
        head = start_ray_head(ray_venv())
    except RayUnavailable as error:
        pytest.fail(f"Ray is not available: {error}", pytrace=False)
    try:
        yield head.address
    finally:
        stop_ray_head(head)


@pytest.fixture
def ray_executor(ray_address: str) -> Iterator[RayExecutor]:
    executor = RayExecutor(ray_address, max_concurrent=2, stop_grace_s=5.0, poll_interval_s=0.25)
    yield executor
    executor.close(timeout=10)


def unique(prefix: str) -> str:
    """Ray never lets a submission id be reused, and the head outlives single tests."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


SCRIPT = """\
import os
import sys

greeting = os.environ["GREETING"]
print("hello", greeting)
print("to stderr", file=sys.stderr)
with open(os.path.join(os.environ["OUT"], "result.txt"), "w") as handle:
    handle.write(greeting)
with open("data/input.txt") as handle:
    print("read", handle.read().strip())
"""


def test_run_with_working_dir_env_and_outputs_succeeds_and_streams_logs(
    ray_executor: RayExecutor, ray_address: str, tmp_path: Path
) -> None:
    working_dir = tmp_path / "work"
    (working_dir / "data").mkdir(parents=True)
    (working_dir / "script.py").write_text(SCRIPT)
    (working_dir / "data" / "input.txt").write_text("from the working copy\n")
    outputs = tmp_path / "outputs"
    run_id = unique("ok")
    spec = RunSpec(
        run_id=run_id,
        steps=["echo building; test -f script.py", "python script.py"],
        working_dir=working_dir,
        outputs_dir=outputs,
        env={"GREETING": "crucible", "OUT": str(outputs), "PYTHONUNBUFFERED": "1"},
        resources=Resources(cpus=1),
        labels={"dialect": "test", "experiment": "7"},
    )
    recorder = Recorder()
    ray_executor.submit(spec, recorder)
    finished = recorder.finished(run_id, timeout=90)

    assert finished.state is RunState.SUCCEEDED, finished
    assert finished.exit_code == 0
    assert (outputs / "result.txt").read_text() == "crucible"
    lines = recorder.lines(run_id, "output")
    for expected in ("building", "hello crucible", "to stderr", "read from the working copy"):
        assert expected in lines
    kinds = recorder.kinds(run_id)
    assert kinds[:2] == ["Queued", "Starting"] and kinds[-1] == "Finished"
    running = next(e for e in recorder.of(run_id) if isinstance(e, Running))
    assert running.submission_id == run_id and running.handle == run_id
    assert running.host

    job = RayJobsClient(ray_address).job(run_id)
    assert job is not None
    assert job["metadata"] == {"dialect": "test", "experiment": "7"}
    assert job["runtime_env"]["env_vars"]["GREETING"] == "crucible"
    assert job["runtime_env"]["working_dir"].startswith("gcs://_ray_pkg_")
    assert (
        job["entrypoint"] == "/bin/sh -c 'echo building; test -f script.py' && /bin/sh -c 'python script.py'"
    )


def test_failing_run_reports_failed_with_rays_message(ray_executor: RayExecutor, tmp_path: Path) -> None:
    run_id = unique("fail")
    spec = RunSpec(
        run_id=run_id,
        steps=["echo boom >&2; exit 3"],
        working_dir=tmp_path,
        outputs_dir=tmp_path / "out",
    )
    recorder = Recorder()
    ray_executor.submit(spec, recorder)
    finished = recorder.finished(run_id, timeout=90)

    assert finished.state is RunState.FAILED
    assert finished.exit_code == 3
    assert finished.message == "Job entrypoint command failed with exit code 3"
    assert finished.traceback is not None and "boom" in finished.traceback
    assert "boom" in recorder.lines(run_id)


def test_stop_of_a_long_run_gives_stopped_quickly(ray_executor: RayExecutor, tmp_path: Path) -> None:
    run_id = unique("stop")
    spec = RunSpec(
        run_id=run_id,
        steps=["sleep 600 & echo $! > $OUT/child.pid; wait"],
        working_dir=tmp_path,
        outputs_dir=tmp_path / "out",
        env={"OUT": str(tmp_path / "out")},
    )
    recorder = Recorder()
    ray_executor.submit(spec, recorder)
    recorder.wait_for(lambda e: isinstance(e, Running) and e.run_id == run_id, timeout=90)

    asked = time.monotonic()
    assert ray_executor.stop(run_id) is True
    assert time.monotonic() - asked < 0.5  # stop() itself never waits on the network
    finished = recorder.finished(run_id, timeout=30)
    assert finished.state is RunState.STOPPED
    assert time.monotonic() - asked < 10
    child = int((tmp_path / "out" / "child.pid").read_text())
    assert not Path(f"/proc/{child}").exists() or "Z" in Path(f"/proc/{child}/stat").read_text().split()[2]


def test_reattach_by_submission_id_from_a_new_executor(ray_address: str, tmp_path: Path) -> None:
    """The first executor goes away mid-run (as a restarting server would); a new instance picks
    the job up by id, delivers the lines not seen yet, then the outcome."""
    run_id = unique("reattach")
    spec = RunSpec(
        run_id=run_id,
        steps=["for i in 1 2 3 4 5 6 7 8; do echo line $i; sleep 0.5; done"],
        working_dir=tmp_path,
        outputs_dir=tmp_path / "out",
    )
    first = RayExecutor(ray_address, poll_interval_s=0.25)
    before = Recorder()
    first.submit(spec, before)
    running = before.wait_for(lambda e: isinstance(e, Running), timeout=90)
    assert isinstance(running, Running)
    before.wait_for(lambda e: isinstance(e, Logs) and any(x.text == "line 2" for x in e.lines), timeout=30)
    first.close(timeout=10)
    assert "Finished" not in before.kinds(run_id)  # detached, not ended
    seen = before.lines(run_id)

    second = RayExecutor(ray_address, poll_interval_s=0.25)
    after = Recorder()
    try:
        second.reattach(run_id, running.handle, after, lines_seen=len(seen))
        assert second.status(run_id) is RunState.RUNNING
        finished = after.finished(run_id, timeout=60)
    finally:
        second.close(timeout=10)
    assert finished.state is RunState.SUCCEEDED
    lines = seen + after.lines(run_id)
    assert [line for line in lines if line.startswith("line ")] == [f"line {i}" for i in range(1, 9)]


def test_queued_behind_the_limit_then_stopped_without_reaching_ray(ray_address: str, tmp_path: Path) -> None:
    executor = RayExecutor(ray_address, max_concurrent=1, poll_interval_s=0.25)
    recorder = Recorder()
    first, second = unique("hold"), unique("queued")
    try:
        for run_id in (first, second):
            spec = RunSpec(
                run_id=run_id, steps=["sleep 600"], working_dir=tmp_path, outputs_dir=tmp_path / "o"
            )
            executor.submit(spec, recorder)
        recorder.wait_for(lambda e: isinstance(e, Starting) and e.run_id == first)
        assert executor.status(second) is RunState.QUEUED
        executor.stop(second)
        assert recorder.finished(second, timeout=2).state is RunState.STOPPED
        executor.stop(first)
        assert recorder.finished(first, timeout=60).state is RunState.STOPPED
    finally:
        executor.close(timeout=10)
    assert RayJobsClient(ray_address).job(second) is None
