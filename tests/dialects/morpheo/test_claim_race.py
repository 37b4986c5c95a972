"""Scenario 11, first half: two workers racing for the same task over HTTP; exactly one wins, every
time (live server, one connection per racer, SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from collections.abc import Callable

import httpx

from tests.conftest import Account, LiveServer

ROUNDS = 200


def test_exactly_one_of_two_racing_claims_wins(
    live_server: LiveServer, make_user: Callable[..., Account]
) -> None:
    account = make_user("racer")
    auth = (account.username, account.password)
    with httpx.Client(base_url=live_server.url, auth=auth, timeout=60) as setup:
        body = {"uuid": "P", "workflow": "W", "test_dataset": [], "size_train_dataset": 1}
        assert setup.post("/problem", json=body).status_code == 201
        assert setup.post("/data", json={"uuid": "d", "problems": "P"}).status_code == 201
        for number in range(ROUNDS):
            response = setup.post("/algo", json={"uuid": f"A{number}", "problem": "P", "name": "a"})
            assert response.status_code == 201 and response.json()["new_learnuplets"] == 1
        uuids = [step["uuid"] for step in setup.get("/learnuplet").json()["learnuplets"]]
    assert len(uuids) == ROUNDS

    barrier = threading.Barrier(2)
    results: dict[str, list[tuple[int, int]]] = {}
    errors: list[BaseException] = []

    def racer(worker: str) -> None:
        outcomes: list[tuple[int, int]] = []
        try:
            with httpx.Client(base_url=live_server.url, auth=auth, timeout=60) as client:
                client.get("/problem")  # open the connection before the first round
                for uuid in uuids:
                    barrier.wait(timeout=60)
                    response = client.post(f"/worker/learnuplet/{uuid}", json={"worker": worker})
                    outcomes.append((response.status_code, len(response.content)))
                    if response.status_code == 400:
                        assert response.json() == {
                            "Error": f"worker not set for learnuplet {uuid}. Might be already pending"
                        }
        except BaseException as error:
            errors.append(error)
            barrier.abort()
        results[worker] = outcomes

    threads = [threading.Thread(target=racer, args=(worker,)) for worker in ("w1", "w2")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    for round_number in range(ROUNDS):
        statuses = sorted(results[worker][round_number][0] for worker in ("w1", "w2"))
        assert statuses == [200, 400], (round_number, statuses)
    with httpx.Client(base_url=live_server.url, auth=auth) as check:
        steps = check.get("/learnuplet").json()["learnuplets"]
    assert all(step["status"] == "pending" and step["worker"] in ("w1", "w2") for step in steps)
    wins = {worker: sum(1 for status, _ in results[worker] if status == 200) for worker in ("w1", "w2")}
    assert sum(wins.values()) == ROUNDS
    assert sum(1 for step in steps if step["worker"] == "w1") == wins["w1"]


def race_report_and_append(setup: httpx.Client, other: httpx.Client, problem: str) -> None:
    """One round: the chain's last step is reported done while new data extend the chain."""
    body = {"uuid": problem, "workflow": "W", "test_dataset": [], "size_train_dataset": 1}
    assert setup.post("/problem", json=body).status_code == 201
    assert setup.post("/data", json={"uuid": f"{problem}-d0", "problems": problem}).status_code == 201
    assert (
        setup.post("/algo", json={"uuid": f"{problem}-A", "problem": problem, "name": "a"}).status_code == 201
    )
    (first,) = setup.get("/learnuplet", params={"algo": f"{problem}-A"}).json()["learnuplets"]
    assert setup.post(f"/worker/learnuplet/{first['uuid']}", json={"worker": "w"}).status_code == 200
    barrier = threading.Barrier(2)
    statuses: list[int] = []

    def report() -> None:
        barrier.wait(timeout=30)
        done = {"status": "done", "perf": 0.5, "train_perf": [0.5], "test_perf": [], "worker": "w"}
        statuses.append(setup.post(f"/learndone/{first['uuid']}", json=done).status_code)

    def append() -> None:
        barrier.wait(timeout=30)
        new_data = {"uuid": f"{problem}-d1", "problems": problem}
        statuses.append(other.post("/data", json=new_data).status_code)

    threads = [threading.Thread(target=report), threading.Thread(target=append)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200, 201]
    (second,) = setup.get("/learnuplet", params={"algo": f"{problem}-A", "rank": 1}).json()["learnuplets"]
    assert second["model_start"] == first["model_end"], problem


def test_new_data_racing_the_last_report_never_strands_a_step(
    live_server: LiveServer, make_user: Callable[..., Account]
) -> None:
    """§4.2 rule 3: generation and propagation lock the algo, so a step appended while its predecessor
    finishes always gets its start model (from one side or the other)."""
    account = make_user("appender")
    auth = (account.username, account.password)
    with (
        httpx.Client(base_url=live_server.url, auth=auth, timeout=60) as setup,
        httpx.Client(base_url=live_server.url, auth=auth, timeout=60) as other,
    ):
        for number in range(25):
            race_report_and_append(setup, other, f"P{number}")
