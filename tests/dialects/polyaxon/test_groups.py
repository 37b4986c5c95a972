"""Groups over raw HTTP, with the test playing the executor: it moves members through their statuses and
the scheduler must keep concurrency, follow the algorithm and finish the group (spec §3.5, §4.7)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.dialects.polyaxon.conftest import PlxUser

RUN = {"cmd": "python -c 'print({{ lr }})'"}


@pytest.fixture
def proj(alice: PlxUser) -> dict[str, Any]:
    return alice.project()


def create_group(user: PlxUser, hptuning: dict[str, Any], **extra: Any) -> dict[str, Any]:
    content = {"version": 1, "kind": "group", "hptuning": hptuning, "run": RUN, **extra}
    response = user.post("/alice/proj/groups", {"content": json.dumps(content)})
    assert response.status_code == 201, response.text
    return response.json()


def settle(user: PlxUser) -> None:
    """Wait for the group scheduler to handle every wake-up so far."""
    user.client.app.state.polyaxon.group_scheduler.wait_idle()  # type: ignore[attr-defined]


def members(user: PlxUser, group: dict[str, Any]) -> list[dict[str, Any]]:
    settle(user)
    response = user.get("/alice/proj/experiments", params={"group": group["id"], "limit": 1000, "sort": "id"})
    return response.json()["results"]


def finish(user: PlxUser, experiment: dict[str, Any], status: str = "succeeded", **metrics: float) -> None:
    path = user.path(experiment)
    user.post(path + "/statuses", {"status": "running"})
    if metrics:
        user.post(path + "/metrics", {"values": metrics})
    user.post(path + "/statuses", {"status": status})


def group_state(user: PlxUser, group: dict[str, Any]) -> dict[str, Any]:
    settle(user)
    return user.get(f"/alice/proj/groups/{group['id']}").json()


def run_all(
    user: PlxUser, group: dict[str, Any], concurrency: int, score: Any = None
) -> list[dict[str, Any]]:
    """Finish members as they appear, checking at most `concurrency` are ever unfinished."""
    seen: dict[int, dict[str, Any]] = {}
    for _ in range(200):
        pending = [
            e
            for e in members(user, group)
            if e["last_status"] not in ("succeeded", "failed", "stopped", "skipped")
        ]
        assert len(pending) <= concurrency
        if not pending:
            break
        for experiment in pending:
            seen[experiment["id"]] = experiment
            finish(user, experiment, **(score(experiment) if score else {}))
    return [seen[key] for key in sorted(seen)]


def test_selection_group_from_the_tracking_client(alice: PlxUser, proj: dict[str, Any]) -> None:
    created = alice.post(
        "/alice/proj/groups/", {"name": "sel", "content": None, "is_managed": None, "id": None}
    )
    assert created.status_code == 201, created.text
    group = created.json()
    assert (
        group["group_type"] == "selection"
        and group["is_managed"] is False
        and group["search_algorithm"] is None
    )
    assert group["unique_name"] == f"alice.proj.{group['id']}" and group["project"] == "alice.proj"
    experiment = alice.experiment(experiment_group=group["id"])
    assert experiment["experiment_group"] == group["unique_name"]
    assert experiment["unique_name"] == f"alice.proj.{group['id']}.{experiment['id']}"
    assert alice.experiment(experiment_group=group["unique_name"])["experiment_group"] == group["unique_name"]
    path = f"/alice/proj/groups/{group['id']}/statuses"
    assert alice.post(path, {"status": "running"}).json()["status"] == "running"
    assert alice.post(path, {"status": "succeeded"}).json()["status"] == "done"
    assert alice.post(path, {"status": "running"}).json()["status"] == "done"
    assert [r["status"] for r in alice.get(path).json()["results"]] == ["created", "running", "done"]
    assert alice.post(path, {"status": "nope"}).status_code == 400
    other = alice.project("other")
    assert (
        other
        and alice.post(
            "/alice/other/experiments", {"is_managed": False, "experiment_group": group["id"]}
        ).status_code
        == 400
    )


def test_random_search_respects_concurrency_and_the_seed(alice: PlxUser, proj: dict[str, Any]) -> None:
    hptuning = {
        "seed": 7,
        "concurrency": 2,
        "random_search": {"n_experiments": 5},
        "matrix": {"lr": {"uniform": "0.001:0.1"}, "opt": {"values": ["adam", "sgd"]}},
    }
    group = create_group(alice, hptuning)
    assert (
        group["search_algorithm"] == "random" and group["concurrency"] == 2 and group["group_type"] == "study"
    )
    assert len(members(alice, group)) == 2
    assert group_state(alice, group)["last_status"] == "running"
    done = run_all(alice, group, concurrency=2, score=lambda e: {"loss": abs(e["params"]["lr"] - 0.05)})
    assert len(done) == 5
    best = alice.get("/alice/proj/experiments", params={"group": group["id"], "sort": "metrics.loss"}).json()
    losses = [e["last_metric"]["loss"] for e in best["results"]]
    assert losses == sorted(losses) and best["results"][0]["last_metric"]["loss"] == min(losses)
    final = group_state(alice, group)
    assert final["last_status"] == "done" and final["num_succeeded_experiments"] == 5
    params = [e["params"] for e in members(alice, group)]
    assert all(0.001 <= p["lr"] < 0.1 and p["opt"] in ("adam", "sgd") for p in params)
    assert all(e["experiment_group"] == group["unique_name"] for e in members(alice, group))
    content = json.loads(alice.get(alice.path(members(alice, group)[0])).json()["content"])
    assert content["kind"] == "experiment" and "hptuning" not in content
    second = create_group(alice, hptuning)
    run_all(alice, second, concurrency=2)
    assert [e["params"] for e in members(alice, second)] == params


def test_grid_search_order_and_truncation(alice: PlxUser, proj: dict[str, Any]) -> None:
    group = create_group(
        alice,
        {
            "concurrency": 3,
            "grid_search": {"n_experiments": 5},
            "matrix": {"a": {"values": [1, 2]}, "b": {"range": "0:3:1"}},
        },
    )
    run_all(alice, group, concurrency=3)
    assert [(e["params"]["a"], e["params"]["b"]) for e in members(alice, group)] == [
        (1, 0),
        (1, 1),
        (1, 2),
        (2, 0),
        (2, 1),
    ]
    assert group_state(alice, group)["last_status"] == "done"


def test_early_stopping_skips_the_rest(alice: PlxUser, proj: dict[str, Any]) -> None:
    group = create_group(
        alice,
        {
            "concurrency": 2,
            "grid_search": {},
            "matrix": {"lr": {"values": [1, 2, 3, 4, 5, 6]}},
            "early_stopping": [{"metric": "loss", "value": 0.1, "optimization": "minimize"}],
        },
    )
    first, second = members(alice, group)
    alice.post(alice.path(second, "/statuses"), {"status": "running"})
    finish(alice, first, loss=0.05)
    state = group_state(alice, group)
    assert state["last_status"] == "running"  # the second is still running
    assert len(members(alice, group)) == 2  # and nothing new was created
    alice.post(alice.path(second, "/statuses"), {"status": "succeeded"})
    final = group_state(alice, group)
    assert final["last_status"] == "done" and len(members(alice, group)) == 2
    message = alice.get(f"/alice/proj/groups/{group['id']}/statuses").json()["results"][-1]["message"]
    assert message == f"early stopping: loss reached 0.1 in alice.proj.{group['id']}.{first['id']}"


def test_stop_and_pending_stop(alice: PlxUser, proj: dict[str, Any]) -> None:
    hptuning = {"concurrency": 2, "grid_search": {}, "matrix": {"lr": {"values": [1, 2, 3, 4]}}}
    group = create_group(alice, hptuning)
    first, second = members(alice, group)
    alice.post(alice.path(first, "/statuses"), {"status": "running"})
    assert alice.post(f"/alice/proj/groups/{group['id']}/stop", {"pending": True}).status_code == 200
    statuses = {e["id"]: e["last_status"] for e in members(alice, group)}
    assert statuses == {first["id"]: "running", second["id"]: "stopped"}
    assert group_state(alice, group)["last_status"] == "running"
    alice.post(alice.path(first, "/statuses"), {"status": "succeeded"})
    assert group_state(alice, group)["last_status"] == "stopped" and len(members(alice, group)) == 2

    other = create_group(alice, hptuning)
    assert alice.post(f"/alice/proj/groups/{other['id']}/stop/").status_code == 200
    assert {e["last_status"] for e in members(alice, other)} == {"stopped"}
    history = [r["status"] for r in alice.get(f"/alice/proj/groups/{other['id']}/statuses").json()["results"]]
    assert history == ["created", "running", "stopping", "stopped"]
    assert alice.post(f"/alice/proj/groups/{other['id']}/stop").status_code == 200


def test_hyperband_keeps_the_best(alice: PlxUser, proj: dict[str, Any]) -> None:
    group = create_group(
        alice,
        {
            "concurrency": 9,
            "seed": 1,
            "matrix": {"lr": {"uniform": "0:1"}},
            "hyperband": {
                "max_iter": 9,
                "eta": 3,
                "resource": {"name": "steps", "type": "int"},
                "metric": {"name": "loss", "optimization": "minimize"},
            },
        },
    )
    done = run_all(alice, group, concurrency=9, score=lambda e: {"loss": e["params"]["lr"]})
    # brackets s=2: 9@1, 3@3, 1@9; s=1: 5@3 (ceil(3/2*3)), 1@9; s=0: 3@9
    assert len(done) == 9 + 3 + 1 + 5 + 1 + 3
    rung0 = sorted(done[:9], key=lambda e: e["params"]["lr"])
    rung1 = done[9:12]
    assert all(e["params"]["steps"] == 1 for e in done[:9]) and all(e["params"]["steps"] == 3 for e in rung1)
    assert sorted(e["params"]["lr"] for e in rung1) == [e["params"]["lr"] for e in rung0[:3]]
    assert group_state(alice, group)["last_status"] == "done"


def test_bo_group_runs_its_iterations(alice: PlxUser, proj: dict[str, Any]) -> None:
    group = create_group(
        alice,
        {
            "concurrency": 1,
            "seed": 2,
            "matrix": {"x": {"uniform": "0:1"}, "act": {"values": ["relu", "tanh"]}},
            "bo": {
                "n_initial_trials": 3,
                "n_iterations": 2,
                "metric": {"name": "score", "optimization": "maximize"},
            },
        },
    )
    done = run_all(alice, group, concurrency=1, score=lambda e: {"score": -abs(e["params"]["x"] - 0.3)})
    assert len(done) == 5 and group_state(alice, group)["last_status"] == "done"


def test_group_validation_crud_and_delete(alice: PlxUser, proj: dict[str, Any]) -> None:
    bad = alice.post(
        "/alice/proj/groups",
        {
            "content": json.dumps(
                {"version": 1, "kind": "group", "hptuning": {"matrix": {"lr": {"uniform": "0:1"}}}}
            )
        },
    )
    assert bad.status_code == 400
    assert bad.json() == {"content": ["`lr` defines a distribution, and it cannot be used with grid search."]}
    assert (
        alice.post(
            "/alice/proj/groups", {"content": json.dumps({"version": 1, "kind": "experiment"})}
        ).status_code
        == 400
    )
    group = create_group(alice, {"matrix": {"a": {"values": [1]}}})
    path = f"/alice/proj/groups/{group['id']}"
    patched = alice.patch(path, {"name": "g1", "tags": ["x"], "content": "ignored", "merge": True}).json()
    assert patched["name"] == "g1" and patched["tags"] == ["x"] and patched["content"] == group["content"]
    assert alice.post(path + "/bookmark").status_code == 201
    assert alice.get("/bookmarks/alice/groups").json()["count"] == 1
    assert alice.get("/alice/proj/groups", params={"query": "name:g1"}).json()["count"] == 1
    assert alice.get("/alice/proj/groups", params={"query": "metrics.x:1"}).json()["count"] == 0
    assert alice.delete(path).status_code == 204
    assert alice.get(path).status_code == 404
    assert alice.get("/alice/proj/experiments").json()["count"] == 0
