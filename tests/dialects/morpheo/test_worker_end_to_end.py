"""Scenarios 7–12 of spec §7 with real `crucible worker` processes on the digits fixture problem,
against a live server (SQLite, and PostgreSQL when configured)."""

from __future__ import annotations

import io
import re
import tarfile
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from crucible.core import accounts
from tests.conftest import Account, LiveServer
from tests.dialects.morpheo import digits
from tests.dialects.morpheo.digits import TEST_UUIDS, TRAIN_UUIDS, Server

pytestmark = pytest.mark.slow


@pytest.fixture
def server(live_server: LiveServer, make_user: Callable[..., Account]) -> Server:
    account = make_user("worker-owner")
    with live_server.services.db.write() as session:
        user = accounts.find_user_by_username(session, account.username)
        assert user is not None
        key = accounts.create_access_key(session, user, name="worker")
    return Server(live_server.url, account.username, key)


def check_chain(server: Server, algo: str, problem_lower_is_better: bool = False) -> list[dict[str, Any]]:
    """All steps done with sane perfs, models stored, and each rank r+1 started from the best model
    among ranks <= r."""
    steps = sorted(server.learnuplets(algo=algo), key=lambda step: step["rank"])
    for step in steps:
        assert step["status"] == "done", step
        assert 0 <= step["perf"] <= 1
        assert sorted(step["train_perf"]) == sorted(step["train_data"])
        assert sorted(step["test_perf"]) == sorted(TEST_UUIDS)
        assert server.get(f"/storage/model/{step['model_end']}")["algo"] == algo
    for rank in range(1, len(steps)):
        earlier = steps[:rank]
        sign = 1 if problem_lower_is_better else -1
        best = min(earlier, key=lambda step: (sign * step["perf"], step["rank"]))
        assert steps[rank]["model_start"] == best["model_end"]
    return steps


def test_scenarios_7_to_10_digits_with_real_workers(server: Server, tmp_path: Path) -> None:
    server.upload_digits_data()
    server.register_problem("P")
    server.register_problem("S")
    sgd = server.register_algo("P", "sgd", digits.algo_archive("sgd"))
    nb = server.register_algo("P", "nb", digits.algo_archive("nb"))
    saboteur = server.register_algo("S", "saboteur", digits.saboteur_archive([TRAIN_UUIDS[4]]))
    server.register_data(["P", "S"])

    # scenario 10, first half: no prediction before a trained model
    early = server.http.post("/prediction", json={"data": digits.PREDICT_UUIDS, "problem": "P"})
    assert early.status_code == 400 and early.json() == {"Error": "no problem or trained model"}

    run_log = digits.run_worker(server, tmp_path / "work")
    assert len(re.findall(r"running learnuplet", run_log)) == 9, run_log

    # scenario 7
    sgd_steps = check_chain(server, sgd)
    assert [len(step["train_data"]) for step in sgd_steps] == [4, 4, 2]
    check_chain(server, nb)

    # scenario 8: the sabotaged step is worse, so rank 2 starts from rank 0's model
    sabotaged = sorted(server.learnuplets(algo=saboteur), key=lambda step: step["rank"])
    assert [step["status"] for step in sabotaged] == ["done", "done", "done"]
    assert sabotaged[1]["perf"] < sabotaged[0]["perf"]
    assert sabotaged[2]["model_start"] == sabotaged[0]["model_end"]

    # scenario 9: the leaderboard
    board = server.get("/leaderboard", problem="P")["leaderboard"]
    assert board["problem"] == "P" and board["lower_is_better"] is False
    entries = board["algos"]
    assert [entry["position"] for entry in entries] == [1, 2]
    assert entries[0]["best_perf"] >= entries[1]["best_perf"]
    assert {entry["algo"] for entry in entries} == {sgd, nb}
    for entry in entries:
        perfs = [step["perf"] for step in server.learnuplets(algo=entry["algo"])]
        assert entry["best_perf"] == max(perfs)
        assert [point["n_train_data"] for point in entry["learning_curve"]] == [4, 8, 10]
        assert entry["counts"] == {"todo": 0, "pending": 0, "done": 3, "failed": 0}
    assert server.http.get("/leaderboard").status_code == 400
    assert server.http.get("/leaderboard", params={"problem": "nope"}).status_code == 404

    # scenario 10: prediction with the problem's best model
    for index, uuid in zip(digits.TEST_CHUNKS, digits.PREDICT_UUIDS, strict=True):
        server.upload("data", uuid, digits.predict_blob(index))
    created = server.post("/prediction", {"data": digits.PREDICT_UUIDS, "problem": "P"})
    assert created["new_preduplets"] == 1
    preduplet = created["preduplet"]
    best_model = entries[0]["best_model"]
    assert preduplet["model"] == best_model
    digits.run_worker(server, tmp_path / "work", "--kinds", "predict")
    finished = server.get(f"/preduplet/{preduplet['uuid']}")
    assert finished["status"] == "done", finished
    blob = server.http.get(f"/storage/prediction/{finished['prediction_storage_uuid']}/blob").content
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
        assert sorted(tar.getnames()) == sorted(digits.PREDICT_UUIDS)
        for index, uuid in zip(digits.TEST_CHUNKS, digits.PREDICT_UUIDS, strict=True):
            member = tar.extractfile(uuid)
            assert member is not None
            rows = len(digits.chunks()[index][1])
            assert len(member.read().decode().split()) == rows
    other = server.post("/prediction", {"data": digits.PREDICT_UUIDS[:1], "problem": "P"})["preduplet"]
    assert server.http.post(f"/worker/preduplet/{other['uuid']}", json={"worker": "me"}).status_code == 200
    failed = server.http.post(f"/preddone/{other['uuid']}", json={"status": "failed", "worker": "me"})
    assert failed.status_code == 200


def test_scenario_11_two_worker_processes_share_the_work(server: Server, tmp_path: Path) -> None:
    server.upload_digits_data()
    algos = []
    for problem in ("P1", "P2"):
        server.register_problem(problem, size=10)
        algos.append(server.register_algo(problem, "sgd", digits.algo_archive("sgd")))
        algos.append(server.register_algo(problem, "nb", digits.algo_archive("nb")))
    server.register_data(["P1", "P2"])
    logs: dict[int, str] = {}

    def work(number: int) -> None:
        logs[number] = digits.run_worker(server, tmp_path / f"w{number}", "--worker-id", f"worker-{number}")

    threads = [threading.Thread(target=work, args=(number,)) for number in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    steps = server.learnuplets()
    assert len(steps) == 4
    assert all(step["status"] == "done" and step["attempts"] == 0 for step in steps), steps
    runs = Counter(re.findall(r"running learnuplet (\S+)", logs[1] + logs[2]))
    assert sorted(runs) == sorted(step["uuid"] for step in steps) and set(runs.values()) == {1}
    assert {step["worker"] for step in steps} <= {"worker-1", "worker-2"}
    assert "already stored" not in logs[1] + logs[2]  # never a 409 on a model upload
    for algo in algos:
        check_chain(server, algo)


def test_scenario_12_worker_errors_and_timeouts(server: Server, tmp_path: Path) -> None:
    server.upload_digits_data()
    server.register_problem("B", size=5)
    broken = {name: server.register_algo("B", name, make()) for name, make in digits.BROKEN_ARCHIVES.items()}
    server.register_data(["B"])
    server.register_problem("M", size=5)
    sgd = server.register_algo("M", "sgd", digits.algo_archive("sgd"))
    missing = str(digits.fixture_uuid("never-uploaded"))
    server.post("/data", {"uuid": [missing], "problems": ["M"]})  # M's rank 0 is just the missing blob
    digits.run_worker(server, tmp_path / "work", "--learn-timeout", "3")

    def steps(algo: str) -> list[dict[str, Any]]:
        return sorted(server.learnuplets(algo=algo), key=lambda step: step["rank"])

    for name, algo in broken.items():
        chain = steps(algo)
        assert [step["status"] for step in chain] == ["failed", "failed"], (name, chain)
        assert chain[1]["model_start"] == algo  # the successor still became ready
        errors = [step["error"] for step in chain]
        if name == "sleeper":
            assert all(error.startswith("train: timeout after") for error in errors), errors
        elif name == "dockerfile-only":
            assert all(
                error == "extract: Docker build contexts are not supported; add an executable 'entrypoint'"
                for error in errors
            ), errors
        else:
            assert all(error.startswith("train: missing output") for error in errors), errors
    missing_chain = steps(sgd)
    assert missing_chain[0]["status"] == "failed"
    assert missing_chain[0]["error"] == f"download: data {missing} not found"
    assert missing_chain[0]["train_data"] == [missing]
