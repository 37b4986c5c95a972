"""Experiments over raw HTTP: creation, statuses, metrics, logs, merges, lists and clones (spec §3.3–§4.5)."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.dialects.polyaxon.conftest import PlxUser

MANAGED = {"version": 1, "kind": "experiment", "params": {"lr": 0.1}, "run": {"cmd": "echo {{ lr }}"}}


@pytest.fixture
def proj(alice: PlxUser) -> dict[str, Any]:
    return alice.project()


def statuses_of(user: PlxUser, experiment: dict[str, Any]) -> list[str]:
    return [row["status"] for row in user.get(user.path(experiment, "/statuses")).json()["results"]]


def test_create_shapes_and_content_rules(alice: PlxUser, proj: dict[str, Any]) -> None:
    experiment = alice.experiment(name="e1", tags=["t"], params={"a": 1})
    assert experiment["unique_name"] == f"alice.proj.{experiment['id']}"
    assert experiment["project"] == "alice.proj" and experiment["experiment_group"] is None
    assert experiment["build_job"] is None and experiment["last_status"] == "created"
    assert experiment["last_metric"] == {} and experiment["is_clone"] is False
    assert statuses_of(alice, experiment) == ["created"]
    assert alice.experiment(name="e1")["name"] == "e1-2"
    assert alice.experiment(name="e1")["name"] == "e1-3"
    no_content = alice.post("/alice/proj/experiments", {"name": "x"})
    assert no_content.json() == {"content": ["Experiment expects a `content`."]}
    assert alice.post("/alice/proj/experiments", {"is_managed": None}).status_code == 400
    for bad in (
        {"version": 1, "kind": "experiment", "foo": 1},
        {"version": 1, "kind": "group", "hptuning": {}},
        {"version": 2, "kind": "experiment"},
        {"version": 1, "kind": "experiment", "params": {}, "declarations": {}},
        "just: [unclosed",
    ):
        body = bad if isinstance(bad, str) else repr(bad)
        response = alice.post("/alice/proj/experiments", {"content": body})
        assert response.status_code == 400 and "content" in response.json(), bad
    managed = alice.post("/alice/proj/experiments", {"content": repr(MANAGED | {"tags": ["c"]})}).json()
    assert managed["params"] == {"lr": 0.1} and managed["tags"] == ["c"] and managed["is_managed"] is True
    yaml_content = "version: 1\nkind: experiment\nrun:\n  cmd: python x.py\n"
    assert alice.post("/alice/proj/experiments", {"content": yaml_content}).status_code == 201
    # A full schema dump with read-only keys is accepted; unknown keys are ignored.
    dump = {"id": 99, "uuid": "x", "unique_name": "no", "user": "bob", "project": 3, "last_status": "running",
            "total_run": "1", "jobs": [], "is_managed": False, "name": None, "whatever": 1}  # fmt: skip
    created = alice.post("/alice/proj/experiments", dump).json()
    assert created["last_status"] == "created" and created["user"] == "alice" and created["id"] != 99


def test_status_lifecycle_matrix(alice: PlxUser, proj: dict[str, Any]) -> None:
    experiment = alice.experiment()
    path = alice.path(experiment, "/statuses/")
    running = alice.post(path, {"status": "running"})
    assert running.status_code == 201 and running.json()["status"] == "running"
    detail = alice.get(alice.path(experiment)).json()
    assert detail["started_at"] is not None and detail["finished_at"] is None
    assert alice.post(path, {"status": "succeeded"}).json()["status"] == "succeeded"
    again = alice.post(path, {"status": "running"})
    assert again.status_code == 201 and again.json()["status"] == "succeeded"
    assert alice.post(path, {"status": "stopped"}).json()["status"] == "succeeded"
    assert statuses_of(alice, experiment) == ["created", "running", "succeeded"]
    assert alice.get(alice.path(experiment)).json()["finished_at"] is not None
    invalid = alice.post(path, {"status": "bogus"})
    assert invalid.status_code == 400 and invalid.json() == {"status": ['"bogus" is not a valid choice.']}
    long = alice.post(path, {"status": "failed", "message": "x" * 5000})
    assert long.status_code == 400
    second = alice.experiment()
    assert (
        alice.post(alice.path(second, "/statuses"), {"status": "failed", "message": "m" * 4096}).status_code
        == 201
    )


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        (
            ["scheduled", "starting", "running", "succeeded"],
            ["scheduled", "starting", "running", "succeeded"],
        ),
        (["running", "scheduled", "starting"], ["running"]),
        (
            ["warning", "warning", "running", "unknown", "building"],
            ["warning", "running", "unknown", "building"],
        ),
        (["resuming", "building", "resuming"], ["resuming", "building"]),
        (["failed", "succeeded", "warning"], ["failed"]),
    ],
)
def test_transitions(alice: PlxUser, proj: dict[str, Any], steps: list[str], expected: list[str]) -> None:
    experiment = alice.experiment()
    for step in steps:
        alice.post(alice.path(experiment, "/statuses"), {"status": step})
    assert statuses_of(alice, experiment) == ["created", *expected]


def test_metrics_single_and_batches(alice: PlxUser, proj: dict[str, Any], client: TestClient) -> None:
    experiment = alice.experiment()
    path = alice.path(experiment, "/metrics")
    single = alice.post(path, {"values": {"loss": 0.5, "ok": True}})
    assert single.status_code == 201
    assert single.json()["values"] == {"loss": 0.5, "ok": 1} and len(single.json()["uuid"]) == 32
    batch = [
        {"values": {"loss": 1 / (i + 1), "step": i}, "created_at": f"2030-01-01 00:00:0{i}.000000+00:00"}
        for i in range(5)
    ]
    created = alice.post(path, batch)
    assert created.status_code == 201 and len(created.json()) == 5
    late = alice.post(path, {"values": {"loss": 9.0, "step": 0}, "created_at": "2020-01-01T00:00:00Z"})
    assert late.status_code == 201
    detail = alice.get(alice.path(experiment)).json()
    assert detail["last_metric"] == {"loss": 0.2, "step": 4, "ok": 1}
    listed = alice.get(path).json()
    assert listed["count"] == 7 and listed["results"][0]["values"]["loss"] == 9.0
    raw = client.post(
        "/api/v1" + path,
        content=b'{"values": {"x": NaN}}',
        headers={**alice.headers, "Content-Type": "application/json"},
    )
    assert raw.status_code == 201 and raw.json()["values"] == {"x": None}
    for bad in (
        {"values": {}},
        {"values": {"x": "1"}},
        {"values": "x"},
        [{"values": {"a": 1}}, {"values": {"b": "s"}}],
        [],
        {"values": {"a": 1}, "created_at": "nope"},
    ):
        response = alice.post(path, bad)
        assert response.status_code == 400, bad
    assert alice.get(path).json()["count"] == 8  # the refused batch stored nothing
    assert alice.post(path, [{"values": {"a": 1}}] * 10001).status_code == 413


def test_logs(alice: PlxUser, proj: dict[str, Any]) -> None:
    experiment = alice.experiment()
    path = alice.path(experiment, "/logs")
    empty = alice.get(path)
    assert (
        empty.status_code == 200
        and empty.text == ""
        and empty.headers["content-type"].startswith("text/plain")
    )
    assert alice.post(path, ["a", "b"]).status_code == 200
    assert alice.post(path, "c\nd").status_code == 200
    assert alice.get(path).text == "a\nb\nc\nd"
    bad = alice.post(path, {"x": 1})
    assert bad.status_code == 400 and bad.json() == {"detail": "Logs must be a string or a list of strings."}


def test_logs_are_capped(alice: PlxUser, proj: dict[str, Any], services) -> None:  # type: ignore[no-untyped-def]
    services.settings.polyaxon_logs_max_bytes = 100
    experiment = alice.experiment()
    path = alice.path(experiment, "/logs")
    for i in range(10):
        alice.post(path, [f"line {i:02d} " + "x" * 20])
    text = alice.get(path).text
    assert text.startswith("[polyaxon] ... ") and "lines truncated" in text
    assert text.endswith("line 09 " + "x" * 20) and "line 00" not in text


def test_patch_merge_and_replace(alice: PlxUser, proj: dict[str, Any]) -> None:
    experiment = alice.experiment(tags=["a"], params={"x": 1})
    path = alice.path(experiment)
    merged = alice.patch(
        path, {"tags": ["b", "a"], "params": {"y": 2}, "data_refs": {"d": "1"}, "merge": True}
    ).json()
    assert (
        merged["tags"] == ["a", "b"]
        and merged["params"] == {"x": 1, "y": 2}
        and merged["data_refs"] == {"d": "1"}
    )
    replaced = alice.patch(
        path, {"params": {"z": 3}, "tags": None, "content": "ignored", "last_status": "x"}
    ).json()
    assert replaced["params"] == {"z": 3} and replaced["tags"] is None and replaced["content"] is None
    alice.experiment(name="taken")
    assert alice.patch(path, {"name": "taken"}).status_code == 400
    assert alice.patch(path, {"name": "bad name"}).status_code == 400
    assert alice.patch(path, {"name": "mine"}).json()["name"] == "mine"


def test_concurrent_merges_lose_nothing(alice: PlxUser, proj: dict[str, Any]) -> None:
    experiment = alice.experiment()
    path = alice.path(experiment)
    errors: list[int] = []

    def patch(i: int) -> None:
        for body in ({"params": {f"k{i}": i}, "merge": True}, {"tags": [f"t{i}"], "merge": True}):
            response = alice.patch(path, body)
            if response.status_code != 200:
                errors.append(response.status_code)

    threads = [threading.Thread(target=patch, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    detail = alice.get(path).json()
    assert not errors
    assert detail["params"] == {f"k{i}": i for i in range(20)}
    assert sorted(detail["tags"]) == sorted(f"t{i}" for i in range(20))


def test_pagination(alice: PlxUser, proj: dict[str, Any]) -> None:
    ids = [alice.experiment()["id"] for _ in range(45)]
    pages = [
        alice.get("/alice/proj/experiments/", params={"offset": offset}).json() for offset in (0, 20, 40)
    ]
    assert [len(page["results"]) for page in pages] == [20, 20, 5]
    assert all(page["count"] == 45 for page in pages)
    assert (
        pages[0]["next"].startswith("http://testserver/api/v1/alice/proj/experiments/?")
        and pages[2]["next"] is None
    )
    assert pages[0]["previous"] is None and "offset=20" in pages[2]["previous"]
    assert sorted(r["id"] for page in pages for r in page["results"]) == sorted(ids)
    assert pages[0]["results"][0]["id"] == ids[-1]  # newest first
    assert len(alice.get("/alice/proj/experiments", params={"limit": 5000}).json()["results"]) == 45
    assert alice.get("/alice/proj/experiments", params={"offset": "x"}).status_code == 400


def test_list_filters_query_and_sort(alice: PlxUser, proj: dict[str, Any]) -> None:
    a = alice.experiment(name="a", tags=["red"], params={"lr": 0.1})
    b = alice.experiment(name="b", tags=["blue"], params={"lr": 0.01})
    alice.post(alice.path(a, "/metrics"), {"values": {"loss": 0.3}})
    alice.post(alice.path(b, "/metrics"), {"values": {"loss": 0.1}})
    alice.post(alice.path(b, "/statuses"), {"status": "running"})

    def names(**params: str) -> list[str]:
        response = alice.get("/alice/proj/experiments", params=params)
        assert response.status_code == 200, response.text
        return [r["name"] for r in response.json()["results"]]

    assert names(query="status:running") == ["b"]
    assert names(query="status:~running") == ["a"]
    assert names(query="tags:red|green") == ["a"]
    assert names(query="metrics.loss:<0.2") == ["b"]
    assert names(query="params.lr:0.1") == ["a"]
    assert names(query="name:a|b", sort="metrics.loss") == ["b", "a"]
    assert names(sort="-metrics.loss") == ["a", "b"]
    assert names(query="created_at:2000-01-01..2100-01-01", sort="id") == ["a", "b"]
    assert names(query=f"id:>{a['id']}") == ["b"]
    trimmed = alice.get("/alice/proj/experiments", params={"metrics": "True"}).json()["results"][0]
    assert set(trimmed) == {
        "id",
        "uuid",
        "name",
        "unique_name",
        "created_at",
        "last_metric",
        "started_at",
        "finished_at",
    }
    with_params = alice.get("/alice/proj/experiments", params={"params": "true"}).json()["results"][0]
    assert set(with_params) == {"id", "uuid", "name", "unique_name", "created_at", "params"}
    for bad in (
        {"query": "nope:1"},
        {"query": "status"},
        {"sort": "tags"},
        {"independent": "True", "group": "1"},
        {"metrics": "maybe"},
    ):
        assert alice.get("/alice/proj/experiments", params=bad).status_code == 400, bad
    assert alice.get("/alice/proj/experiments", params={"independent": "True"}).json()["count"] == 2


def test_all_experiments_lists_what_the_caller_can_read(alice: PlxUser, bob: PlxUser) -> None:
    alice.project("open")
    alice.project("closed", is_public=False)
    alice.experiment("open")
    alice.experiment("closed")
    assert alice.get("/experiments/").json()["count"] == 2
    assert bob.get("/experiments").json()["count"] == 1


def test_coderef_heartbeat_jobs_and_delete(alice: PlxUser, proj: dict[str, Any]) -> None:
    experiment = alice.experiment()
    assert alice.get(alice.path(experiment, "/coderef")).status_code == 404
    assert alice.post(alice.path(experiment, "/coderef")).status_code == 201  # no body outside git
    stored = alice.post(
        alice.path(experiment, "/coderef/"), {"commit": "abc", "branch": "main", "is_dirty": True}
    )
    assert stored.status_code == 201 and stored.json()["commit"] == "abc"
    assert alice.get(alice.path(experiment, "/coderef")).json()["branch"] == "main"
    assert alice.post(alice.path(experiment, "/_heartbeat")).status_code == 200
    assert alice.get(alice.path(experiment, "/jobs")).json()["count"] == 0
    assert alice.get(alice.path(experiment, "/jobs/1")).status_code == 404
    assert alice.post(alice.path(experiment, "/stop")).status_code == 200
    assert statuses_of(alice, experiment) == ["created", "stopped"]
    assert alice.post(alice.path(experiment, "/stop")).status_code == 200
    assert alice.delete(alice.path(experiment)).status_code == 204
    assert alice.get(alice.path(experiment)).status_code == 404
    assert alice.get("/alice/proj/experiments/123456789").status_code == 404
    assert alice.get("/alice/proj/experiments/abc").status_code == 404


def test_outputs_download_is_an_empty_archive_without_outputs(alice: PlxUser, proj: dict[str, Any]) -> None:
    import io
    import tarfile

    experiment = alice.experiment()
    for suffix in ("/outputs/download", "/outputs"):
        response = alice.get(alice.path(experiment, suffix))
        assert response.status_code == 200 and response.headers["content-type"] == "application/gzip"
        assert response.headers["x-polyaxon-content-length"] == response.headers["content-length"]
        with tarfile.open(fileobj=io.BytesIO(response.content), mode="r:gz") as archive:
            assert archive.getnames() == []


def test_restart_copy_resume_records(alice: PlxUser, proj: dict[str, Any], services) -> None:  # type: ignore[no-untyped-def]
    root = alice.post(
        "/alice/proj/experiments", {"content": json.dumps(MANAGED), "description": "root"}
    ).json()
    outputs = services.settings.resolved_polyaxon_outputs_root / "alice" / "proj" / str(root["id"])
    outputs.mkdir(parents=True, exist_ok=True)
    (outputs / "out.txt").write_text("x")
    busy = alice.post(alice.path(root, "/resume"))
    assert busy.status_code == 409
    assert busy.json() == {
        "detail": f"Experiment `alice.proj.{root['id']}` is still running; stop it before resuming."
    }
    alice.post(alice.path(root, "/statuses"), {"status": "succeeded"})
    restart = alice.post(alice.path(root, "/restart"), {"content": json.dumps({"params": {"lr": 0.5}})})
    assert restart.status_code == 201
    body = restart.json()
    assert body["original"] == f"alice.proj.{root['id']}" and body["cloning_strategy"] == "restart"
    assert body["params"] == {"lr": 0.5} and body["description"] == "root"
    copy = alice.post(alice.path(root, "/copy"), {}).json()
    copied = services.settings.resolved_polyaxon_outputs_root / "alice" / "proj" / str(copy["id"]) / "out.txt"
    assert copied.read_text() == "x"
    resume = alice.post(alice.path(root, "/resume")).json()
    assert alice.post(alice.path(resume, "/resume")).status_code == 409
    alice.post(alice.path(resume, "/statuses"), {"status": "succeeded"})
    again = alice.post(alice.path(resume, "/resume")).json()
    assert alice.get(alice.path(again)).json()["original_experiment"] == root["id"]
    assert alice.post(alice.path(root, "/restart"), {"content": "{'kind': 'group'}"}).status_code == 400


def test_heartbeat_reaper_fails_silent_unmanaged_runs(
    alice: PlxUser, proj: dict[str, Any], client: TestClient
) -> None:
    from datetime import timedelta

    from crucible.core.db import utcnow
    from crucible.dialects.polyaxon import heartbeats
    from crucible.dialects.polyaxon.models import PlxExperiment

    runtime = client.app.state.polyaxon  # type: ignore[attr-defined]
    silent, alive, never = (alice.experiment() for _ in range(3))
    for experiment in (silent, alive, never):
        alice.post(alice.path(experiment, "/statuses"), {"status": "running"})
    alice.post(alice.path(silent, "/_heartbeat"))
    alice.post(alice.path(alive, "/_heartbeat/"))
    with runtime.db.write() as session:
        row = session.get(PlxExperiment, silent["id"])
        row.last_heartbeat_at = utcnow() - timedelta(seconds=301)
    assert heartbeats.reap(runtime) == [silent["id"]]
    last = alice.get(alice.path(silent, "/statuses")).json()["results"][-1]
    assert last["status"] == "failed" and last["message"] == "No heartbeat received for 300 s"
    assert alice.get(alice.path(alive)).json()["last_status"] == "running"
    assert alice.get(alice.path(never)).json()["last_status"] == "running"


def test_restart_recovery_requeues_scheduled_and_fails_orphaned_runs(
    alice: PlxUser, proj: dict[str, Any], client: TestClient
) -> None:
    """What a server start does (spec §4.6 step 6), here with the executor off in the app itself."""
    import time

    from crucible.dialects.polyaxon import statuses
    from crucible.dialects.polyaxon.execution import Launcher

    runtime = client.app.state.polyaxon  # type: ignore[attr-defined]
    content = json.dumps({"version": 1, "kind": "experiment", "run": {"cmd": "echo recovered"}})
    queued, orphan = (alice.post("/alice/proj/experiments", {"content": content}).json() for _ in range(2))
    with runtime.write() as session:
        statuses.transition(session, queued["id"], statuses.SCHEDULED)
        statuses.transition(session, orphan["id"], statuses.RUNNING)
    runtime.settings.executor_local_enabled = True  # as a server with the executor on would start
    launcher = Launcher(runtime, runtime.services.executor)
    launcher.recover()
    deadline = time.monotonic() + 20
    while alice.get(alice.path(queued)).json()["last_status"] != "succeeded" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "recovered" in alice.get(alice.path(queued, "/logs")).text, alice.get(
        alice.path(queued, "/statuses")
    ).json()
    last = alice.get(alice.path(orphan, "/statuses")).json()["results"][-1]
    assert last["status"] == "failed" and last["message"] == "Server restarted during execution"
    runtime.services.executor().close(timeout=5)


def test_nul_characters_never_yield_a_500(alice: PlxUser, proj: dict[str, Any]) -> None:
    """PostgreSQL text refuses NUL: such input is the caller's error (400), and logs keep the line."""
    experiment = alice.experiment()
    assert alice.patch(alice.path(experiment), {"description": "a\x00b"}).status_code in (200, 400)
    assert alice.post(
        alice.path(experiment, "/statuses"), {"status": "warning", "message": "\x00"}
    ).status_code in (201, 400)
    assert alice.get("/al%00ice/proj/experiments").status_code in (400, 404)
    assert alice.post(alice.path(experiment, "/coderef"), {"commit": "x" * 101}).status_code == 400
    assert alice.post(alice.path(experiment, "/logs"), ["before\x00after"]).status_code == 200
    assert "before" in alice.get(alice.path(experiment, "/logs")).text
