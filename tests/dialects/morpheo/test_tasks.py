"""Scenarios 5 and 6 of spec §7 over plain HTTP: the scripted chain, failures and lease expiry."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from crucible.core import metrics
from crucible.core.services import Services
from crucible.dialects.morpheo import tasks
from tests.dialects.morpheo.conftest import TEST, TRAIN, Morpheo


def chain(client: Morpheo, problem: str = "P", algo: str = "A", **problem_options: object) -> list[str]:
    client.problem(problem, TEST, **problem_options)
    client.data([f"{problem}-{d}" for d in TRAIN], problem)
    client.algo(algo, problem)
    return [step["uuid"] for step in client.learnuplets(algo=algo)]


def test_scenario_5_scripted_chain(alice: Morpheo, bob: Morpheo, services: Services) -> None:
    r0, r1, r2 = chain(alice)
    assert alice.claim(r0).json() == {"learnuplet_worker_set": r0}
    again = alice.claim(r0, "w2")
    assert again.status_code == 400
    assert again.json() == {"Error": f"worker not set for learnuplet {r0}. Might be already pending"}
    not_ready = alice.claim(r1)
    assert not_ready.status_code == 400
    assert not_ready.json() == {"Error": f"learnuplet {r1} is not ready (no model_start)"}
    assert alice.claim("nope").status_code == 404
    step0 = alice.get(f"/learnuplet/{r0}").json()
    assert step0["status"] == "pending" and step0["worker"] == "w1"

    body = {
        "status": "done",
        "perf": 0.6,
        "train_perf": [0.1, 0.2, 0.3, 0.4],
        "test_perf": {"0": 1, "1": 0.5},
    }
    assert bob.post(f"/learndone/{r0}", {**body, "worker": "w1"}).status_code == 403
    assert alice.post(f"/learndone/{r0}", {**body, "worker": "w9"}).status_code == 403
    response = alice.post(f"/learndone/{r0}", {**body, "worker": "w1"})
    assert response.status_code == 200 and response.json() == {"updated_learnuplet": r0}
    step0 = alice.get(f"/learnuplet/{r0}").json()
    assert step0["train_perf"] == dict(zip(step0["train_data"], [0.1, 0.2, 0.3, 0.4], strict=True))
    assert step0["test_perf"] == {"0": 1, "1": 0.5}
    assert step0["status"] == "done" and isinstance(step0["timestamp_done"], int)
    assert alice.step("A", 1)["model_start"] == step0["model_end"]

    assert alice.claim(r1).status_code == 200
    assert alice.done(r1, 0.4).status_code == 200
    assert alice.step("A", 2)["model_start"] == step0["model_end"]  # the worse step is skipped

    before = alice.get("/learnuplet").json()
    repeat = alice.post(f"/learndone/{r0}", {**body, "worker": "w1"})
    assert repeat.status_code == 200 and repeat.json() == {"updated_learnuplet": r0}
    same_without_worker = alice.post(f"/learndone/{r0}", {**body, "train_perf": step0["train_perf"]})
    assert same_without_worker.status_code == 200
    changed = alice.post(f"/learndone/{r0}", {**body, "perf": 0.5, "worker": "w1"})
    assert changed.status_code == 400 and changed.json() == {"Error": f"no update of learnuplet {r0}"}
    assert bob.post(f"/learndone/{r0}", body).status_code == 403
    assert alice.post(f"/learndone/{r2}", {"status": "failed"}).json() == {
        "Error": f"no update of learnuplet {r2}"
    }
    assert alice.get("/learnuplet").json() == before

    # every done step is a point of the algo's learning curve in the shared metrics store
    with services.db.read() as session:
        stream = session.scalar(select(metrics.MetricStream).where(metrics.MetricStream.dialect == "morpheo"))
        assert stream is not None and stream.ref == "A"
        points = metrics.series(session, stream.id, "perf")
    assert [(point.x, point.y) for point in points] == [(0.0, 0.6), (1.0, 0.4)]


def test_scenario_5_lower_is_better_keeps_the_lower_perf(alice: Morpheo) -> None:
    r0, r1, _r2 = chain(alice, lower_is_better=True)
    assert alice.claim(r0).status_code == 200 and alice.done(r0, 0.6).status_code == 200
    assert alice.claim(r1).status_code == 200 and alice.done(r1, 0.4).status_code == 200
    step1 = alice.get(f"/learnuplet/{r1}").json()
    assert alice.step("A", 2)["model_start"] == step1["model_end"]


def test_ties_keep_the_older_model(alice: Morpheo) -> None:
    r0, r1, _r2 = chain(alice)
    assert alice.claim(r0).status_code == 200 and alice.done(r0, 0.5).status_code == 200
    assert alice.claim(r1).status_code == 200 and alice.done(r1, 0.5).status_code == 200
    assert alice.step("A", 2)["model_start"] == alice.get(f"/learnuplet/{r0}").json()["model_end"]


def test_scenario_6_failed_step_hands_on_the_algo_uuid(alice: Morpheo) -> None:
    r0, _r1, _r2 = chain(alice)
    assert alice.claim(r0).status_code == 200
    response = alice.post(f"/learndone/{r0}", {"status": "failed", "error": "train: exit 1", "worker": "w1"})
    assert response.status_code == 200
    step0 = alice.get(f"/learnuplet/{r0}").json()
    assert step0["status"] == "failed" and step0["error"] == "train: exit 1"
    assert isinstance(step0["timestamp_done"], int) and step0["perf"] is None
    assert alice.step("A", 1)["model_start"] == "A"
    # a failed step is final, and an identical repeat (error text ignored) is harmless
    assert alice.post(f"/learndone/{r0}", {"status": "failed", "error": "other"}).status_code == 200
    assert alice.done(r0, 0.9).status_code == 400


def test_scenario_6_abandoned_claims_return_to_todo(alice: Morpheo, bob: Morpheo, services: Services) -> None:
    r0, _r1, _r2 = chain(alice)
    assert alice.claim(r0, "dead").status_code == 200
    lease = 2.0
    assert tasks.expire_leases(services.db, lease, 3, now=time.time() + lease / 2) == 0
    assert tasks.expire_leases(services.db, lease, 3, now=time.time() + lease + 1) == 1
    step0 = alice.get(f"/learnuplet/{r0}").json()
    assert step0["status"] == "todo" and step0["attempts"] == 1 and step0["worker"] is None
    late = alice.done(r0, 0.9, worker="dead")
    assert late.status_code == 400 and late.json() == {"Error": f"no update of learnuplet {r0}"}
    assert bob.claim(r0, "alive").status_code == 200
    assert bob.done(r0, 0.7, worker="alive").status_code == 200
    assert alice.get(f"/learnuplet/{r0}").json()["status"] == "done"
    assert alice.done(r0, 0.9, worker="dead").status_code == 403


def test_scenario_6_last_attempt_fails_with_lease_expired(alice: Morpheo, services: Services) -> None:
    r0, _r1, _r2 = chain(alice)
    assert alice.claim(r0, "dead").status_code == 200
    assert tasks.expire_leases(services.db, 2.0, 1, now=time.time() + 3) == 1
    step0 = alice.get(f"/learnuplet/{r0}").json()
    assert (step0["status"], step0["error"], step0["attempts"]) == ("failed", "lease expired", 1)
    assert alice.step("A", 1)["model_start"] == "A"
    assert alice.claim(alice.step("A", 1)["uuid"]).status_code == 200


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {"morpheo_task_lease_seconds": 2, "morpheo_task_max_attempts": 2}


def test_lease_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from crucible.settings import Settings

    monkeypatch.setenv("CRUCIBLE_MORPHEO_TASK_LEASE_SECONDS", "2")
    monkeypatch.setenv("CRUCIBLE_MORPHEO_TASK_MAX_ATTEMPTS", "1")
    settings = Settings()
    assert (settings.morpheo_task_lease_seconds, settings.morpheo_task_max_attempts) == (2, 1)


def test_predictions(alice: Morpheo, bob: Morpheo) -> None:
    r0, r1, _r2 = chain(alice)
    before = alice.post("/prediction", {"data": ["X1"], "problem": "P"})
    assert before.status_code == 400 and before.json() == {"Error": "no problem or trained model"}
    assert alice.claim(r0).status_code == 200 and alice.done(r0, 0.3).status_code == 200
    assert alice.claim(r1).status_code == 200 and alice.done(r1, 0.8).status_code == 200
    response = alice.post("/prediction", {"data": "X1", "problem": "P"})
    assert response.status_code == 201
    created = response.json()
    assert created["new_preduplets"] == 1
    preduplet = created["preduplet"]
    assert preduplet["data"] == ["X1"] and preduplet["status"] == "todo"
    assert preduplet["model"] == alice.get(f"/learnuplet/{r1}").json()["model_end"]
    assert alice.get(f"/preduplet/{preduplet['uuid']}").json() == preduplet
    uuid = preduplet["uuid"]
    assert alice.claim(uuid, kind="preduplet").json() == {"preduplet_worker_set": uuid}
    assert alice.claim(uuid, kind="preduplet").json() == {
        "Error": f"worker not set for preduplet {uuid}. Might be already pending"
    }
    assert bob.post(f"/preddone/{uuid}", {"status": "failed"}).status_code == 403
    assert alice.post(f"/preddone/{uuid}", {"status": "done"}).json() == {"Error": "wrong key in posted data"}
    assert alice.post(f"/preddone/{uuid}", {"status": "failed", "worker": "w1"}).json() == {
        "updated_preduplet": uuid
    }
    failed = alice.get(f"/preduplet/{uuid}").json()
    assert failed["status"] == "failed" and failed["prediction_storage_uuid"] is None
    second = alice.post("/prediction", {"data": ["X1", "X2"], "problem": "P"}).json()["preduplet"]
    assert alice.claim(second["uuid"], kind="preduplet").status_code == 200
    done = {"status": "done", "prediction_storage_uuid": "S1", "worker": "w1"}
    assert alice.post(f"/preddone/{second['uuid']}", done).status_code == 200
    assert alice.post(f"/preddone/{second['uuid']}", done).status_code == 200
    other = {**done, "prediction_storage_uuid": "S2"}
    assert alice.post(f"/preddone/{second['uuid']}", other).status_code == 400
    assert len(alice.get("/preduplet?status=done&data=X2").json()["preduplets"]) == 1


def test_leaderboard_follows_the_problem_direction(alice: Morpheo) -> None:
    alice.problem("L", TEST, size=5, lower_is_better=True)
    alice.data([f"L-{d}" for d in TRAIN], "L")
    perfs = {"A1": [0.5, 0.2], "A2": [0.3, 0.9], "A3": None}
    for algo, values in perfs.items():
        alice.algo(algo, "L", name=algo.lower())
        for rank, perf in enumerate(values or []):
            uuid = alice.step(algo, rank)["uuid"]
            assert alice.claim(uuid).status_code == 200 and alice.done(uuid, perf).status_code == 200
    board = alice.get("/leaderboard?problem=L").json()["leaderboard"]
    assert board["lower_is_better"] is True
    assert [(e["algo"], e["position"], e["best_perf"]) for e in board["algos"]] == [
        ("A1", 1, 0.2),
        ("A2", 2, 0.3),
        ("A3", None, None),
    ]
    first = board["algos"][0]
    assert first["best_learnuplet"] == alice.step("A1", 1)["uuid"]
    assert first["best_model"] == alice.step("A1", 1)["model_end"]
    assert first["learning_curve"] == [
        {"rank": 0, "n_train_data": 5, "perf": 0.5},
        {"rank": 1, "n_train_data": 10, "perf": 0.2},
    ]
    assert board["algos"][2]["counts"] == {"todo": 2, "pending": 0, "done": 0, "failed": 0}
    assert alice.get("/leaderboard").json() == {"Error": "missing problem parameter"}
    assert alice.get("/leaderboard?problem=nope").json() == {"Error": "problem nope not found"}
