"""Managed experiments really run on the local executor (spec §4.6): statuses through the transition
function, logs, jobs, warnings, failures, stop and queueing. Scripts here need no API access."""

from __future__ import annotations

import json
import os
import time
from typing import Any

import pytest

from tests.dialects.polyaxon.conftest import PlxUser

pytestmark = pytest.mark.slow
DONE = ("succeeded", "failed", "stopped", "skipped", "upstream_failed")


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {"executor_local_enabled": True, "executor_max_concurrent": 2, "executor_stop_grace_s": 2.0}


@pytest.fixture
def proj(alice: PlxUser) -> dict[str, Any]:
    return alice.project()


def managed(user: PlxUser, cmd: str, **content: Any) -> dict[str, Any]:
    body = {"version": 1, "kind": "experiment", "run": {"cmd": cmd}, **content}
    response = user.post("/alice/proj/experiments", {"content": json.dumps(body)})
    assert response.status_code == 201, response.text
    return response.json()


def wait_status(
    user: PlxUser, experiment: dict[str, Any], wanted: tuple[str, ...] = DONE, timeout: float = 30
) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = user.get(user.path(experiment)).json()["last_status"]
        if status in wanted:
            return status
        time.sleep(0.05)
    raise AssertionError(f"experiment {experiment['id']} stuck in {status}")


def history(user: PlxUser, experiment: dict[str, Any]) -> list[dict[str, Any]]:
    return user.get(user.path(experiment, "/statuses")).json()["results"]


def test_a_run_goes_through_its_statuses_with_logs_job_and_warnings(
    alice: PlxUser, proj: dict[str, Any]
) -> None:
    experiment = managed(
        alice,
        "python -c \"import os, json; print('lr', json.loads(os.environ['POLYAXON_PARAMS'])['lr']); "
        "print(os.environ['POLYAXON_EXPERIMENT_INFO']); print('db' if 'CRUCIBLE_DATABASE_URL' in os.environ else 'clean')\"",
        params={"lr": 0.1},
        build={"image": "python:3.11", "build_steps": ["echo building"], "env_vars": [["EXTRA", "1"]]},
    )
    assert wait_status(alice, experiment) == "succeeded"
    assert [row["status"] for row in history(alice, experiment)] == [
        "created",
        "scheduled",
        "starting",
        "running",
        "succeeded",
    ]
    text = alice.get(alice.path(experiment, "/logs")).text
    assert 'WARNING: build.image "python:3.11" is not used by the local executor' in text
    assert "building" in text and "lr 0.1" in text and "clean" in text
    assert f'"experiment_name": "alice.proj.{experiment["id"]}"' in text
    jobs = alice.get(alice.path(experiment, "/jobs")).json()["results"]
    assert len(jobs) == 1 and jobs[0]["role"] == "master" and jobs[0]["last_status"] == "succeeded"
    assert jobs[0]["pod_id"].startswith("local-") and jobs[0]["unique_name"].endswith(".master")
    job_statuses = alice.get(alice.path(experiment, f"/jobs/{jobs[0]['id']}/statuses")).json()["results"]
    assert [row["status"] for row in job_statuses] == ["created", "scheduled", "running", "succeeded"]
    assert "lr 0.1" in alice.get(alice.path(experiment, f"/jobs/{jobs[0]['id']}/logs")).text
    detail = alice.get(alice.path(experiment)).json()
    assert detail["started_at"] and detail["finished_at"] and detail["num_jobs"] == 1


def test_failures_carry_their_reason(alice: PlxUser, proj: dict[str, Any]) -> None:
    crash = managed(alice, "python -c \"import sys; print('boom', file=sys.stderr); sys.exit(3)\"")
    no_cmd = alice.post(
        "/alice/proj/experiments", {"content": json.dumps({"version": 1, "kind": "experiment"})}
    ).json()
    build = managed(alice, "echo never", build={"build_steps": ["exit 4"]})
    assert wait_status(alice, crash) == "failed"
    last = history(alice, crash)[-1]
    assert last["message"] == "Process exited with code 3" and "boom" in last["traceback"]
    assert wait_status(alice, no_cmd) == "failed"
    assert history(alice, no_cmd)[-1]["message"] == "No run.cmd in polyaxonfile"
    assert wait_status(alice, build) == "failed"
    assert history(alice, build)[-1]["message"] == "build step 1 exited with code 4"
    assert "never" not in alice.get(alice.path(build, "/logs")).text


def test_stop_kills_the_process_group_within_seconds(alice: PlxUser, proj: dict[str, Any], services) -> None:  # type: ignore[no-untyped-def]
    experiment = managed(alice, "sh -c 'sleep 600 & echo $! > $POLYAXON_RUN_OUTPUTS_PATH/child.pid; wait'")
    wait_status(alice, experiment, ("running",))
    pid_file = (
        services.settings.resolved_polyaxon_outputs_root
        / "alice"
        / "proj"
        / str(experiment["id"])
        / "child.pid"
    )
    deadline = time.monotonic() + 10
    while not pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    child = int(pid_file.read_text())
    started = time.monotonic()
    assert alice.post(alice.path(experiment, "/stop")).status_code == 200
    assert alice.get(alice.path(experiment)).json()["last_status"] == "stopped"
    while _alive(child) and time.monotonic() - started < 5:
        time.sleep(0.05)
    assert not _alive(child), "the child survived the stop"
    assert time.monotonic() - started < 5
    time.sleep(0.5)
    assert [row["status"] for row in history(alice, experiment)][-1] == "stopped"
    assert alice.post(alice.path(experiment, "/stop")).status_code == 200


def test_stopping_a_queued_run(alice: PlxUser, proj: dict[str, Any]) -> None:
    blockers = [managed(alice, "sleep 30") for _ in range(2)]
    queued = managed(alice, "echo queued")
    for blocker in blockers:
        wait_status(alice, blocker, ("running",))
    assert alice.get(alice.path(queued)).json()["last_status"] == "scheduled"
    alice.post(alice.path(queued, "/stop"))
    for blocker in blockers:
        alice.post(alice.path(blocker, "/statuses"), {"status": "stopped"})
    assert wait_status(alice, queued) == "stopped"
    time.sleep(0.5)
    assert "queued" not in alice.get(alice.path(queued, "/logs")).text


def test_outputs_of_restart_copy_and_resume(alice: PlxUser, proj: dict[str, Any]) -> None:
    cmd = "python -c \"import os;open(os.environ['POLYAXON_RUN_OUTPUTS_PATH']+'/out.txt','a').write('x')\""
    root = managed(alice, cmd, params={"lr": 0.1})
    wait_status(alice, root)

    def outputs(experiment: dict[str, Any]) -> str:
        import io
        import tarfile

        with tarfile.open(
            fileobj=io.BytesIO(alice.get(alice.path(experiment, "/outputs")).content)
        ) as archive:
            member = archive.extractfile("out.txt")
            return member.read().decode() if member else ""

    restart = alice.post(alice.path(root, "/restart")).json()
    assert wait_status(alice, restart) == "succeeded" and outputs(restart) == "x"
    copy = alice.post(alice.path(root, "/copy")).json()
    assert wait_status(alice, copy) == "succeeded" and outputs(copy) == "xx"
    resume = alice.post(alice.path(root, "/resume")).json()
    assert wait_status(alice, resume) == "succeeded" and outputs(resume) == "xx" and outputs(root) == "xx"
    again = alice.post(alice.path(resume, "/resume")).json()
    assert wait_status(alice, again) == "succeeded" and outputs(again) == "xxx"
    assert alice.get(alice.path(again)).json()["original_experiment"] == root["id"]
    patched = alice.post(
        alice.path(root, "/restart"), {"content": json.dumps({"params": {"lr": 0.5}})}
    ).json()
    assert patched["params"] == {"lr": 0.5}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead for our purposes
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False
