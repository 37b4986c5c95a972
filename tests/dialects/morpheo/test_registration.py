"""Scenarios 1–4 and 13 of spec §7: auth, registration, learnuplet generation, bad input."""

from __future__ import annotations

from starlette.testclient import TestClient

from crucible.core import accounts
from crucible.core.services import Services
from tests.conftest import Account
from tests.dialects.morpheo.conftest import TEST, TRAIN, Morpheo

CHALLENGE = 'Basic realm="Authentication Required"'


def test_scenario_1_every_route_needs_basic_credentials(
    client: TestClient, alice: Morpheo, alice_account: Account, services: Services
) -> None:
    for path in ("/problem", "/storage/data", "/leaderboard?problem=P", "/storage/", "/learnuplet/x"):
        response = client.get(path)
        assert response.status_code == 401, path
        assert response.headers["www-authenticate"] == CHALLENGE
        assert response.text == "Unauthorized Access"
        assert response.headers["content-type"].startswith("text/plain")
    for method, path in (("POST", "/problem"), ("POST", "/worker/learnuplet/x"), ("POST", "/storage/data")):
        assert client.request(method, path, json={}).status_code == 401
    assert client.get("/problem", auth=("alice", "wrong password")).status_code == 401
    assert client.get("/problem", auth=("nobody", alice_account.password)).status_code == 401
    assert client.get("/problem", headers={"Authorization": "Basic !!!"}).status_code == 401
    assert client.get("/problem", headers={"Authorization": "Bearer abc"}).status_code == 401
    assert alice.get("/problem").status_code == 200
    with services.db.write() as session:
        user = accounts.find_user_by_username(session, "alice")
        assert user is not None
        key = accounts.create_access_key(session, user, name="worker")
    assert client.get("/problem", auth=("alice", key)).status_code == 200
    assert client.get("/storage/data", auth=("alice", key)).status_code == 200
    assert client.get("/problem", auth=("bob", key)).status_code == 401


def test_scenario_2_register_a_problem(alice: Morpheo) -> None:
    body = {"uuid": "P", "workflow": "W", "test_dataset": ["T1", "T2"], "size_train_dataset": 4}
    response = alice.post("/problem", body)
    assert response.status_code == 201
    document = response.json()["new_problem"]
    assert isinstance(document["timestamp_upload"], int)
    assert document == {**body, "lower_is_better": False, "timestamp_upload": document["timestamp_upload"]}
    assert alice.get("/problem").json() == {"problems": [document]}
    assert alice.get("/problem/").json() == {"problems": [document]}
    assert alice.get("/problem/P").json() == document
    repeat = alice.post("/problem", body)
    assert repeat.status_code == 409 and repeat.json() == {"Error": "problem P already exists"}
    missing = alice.get("/problem/nope")
    assert missing.status_code == 404 and missing.json() == {"Error": "problem nope not found"}
    for path in ("/foo", "/foo/bar", "/foo/"):
        unknown = alice.get(path)
        assert unknown.status_code == 404 and unknown.json() == {"Error": "Page does not exist"}
    assert alice.client.delete("/problem", auth=alice.auth).json() == {"Error": "Method not allowed"}
    # paths other parts of the server own keep their own error format
    for path in ("/GETACTION/1", "/exp", "/healthz/x", "/no/such/path", "/v1/x"):
        assert "Error" not in alice.get(path).json(), path
    assert alice.client.patch("/storage/problem/x", auth=alice.auth).status_code == 405


def test_scenario_3_generation_counts_and_typed_filters(alice: Morpheo) -> None:
    alice.problem("P", TEST)
    response = alice.post("/data", {"uuid": [*TRAIN, *TEST], "problems": ["P"]})
    assert response.status_code == 201
    assert response.json()["new_learnuplets"] == 0
    assert len(response.json()["new_datas"]) == 12
    assert alice.algo("A", "P") == 3
    steps = alice.learnuplets(algo="A")
    assert [step["rank"] for step in steps] == [0, 1, 2]
    assert [len(step["train_data"]) for step in steps] == [4, 4, 2]
    assert [data for step in steps for data in step["train_data"]] == TRAIN
    assert all(step["test_data"] == TEST for step in steps)
    assert [step["model_start"] for step in steps] == ["A", None, None]
    assert all(step["status"] == "todo" and step["attempts"] == 0 and step["error"] is None for step in steps)
    assert len(alice.learnuplets(rank=0)) == 1
    assert len(alice.learnuplets(algo="A", status="todo", rank=2)) == 1
    assert len(alice.learnuplets(algo="A", model_start="null")) == 2
    assert len(alice.learnuplets(train_data="d5")) == 1
    assert len(alice.learnuplets(test_data="T1")) == 3
    assert alice.learnuplets(nosuchfield="x") == []
    for query in ("rank=x", "rank=1.5", "rank=0&rank=1", "train_perf=1", "perf=abc", "timestamp_done=nan"):
        bad = alice.get(f"/learnuplet?{query}")
        assert bad.status_code == 400, query
        assert bad.json()["Error"].startswith("invalid filter value for "), query
    assert len(alice.get("/problem?lower_is_better=false").json()["problems"]) == 1
    assert alice.get("/problem?lower_is_better=yes").status_code == 400
    assert len(alice.get("/problem?size_train_dataset=4").json()["problems"]) == 1
    assert alice.get("/learnuplet?rank=99999999999999999999999").json() == {"learnuplets": []}
    assert len(alice.get("/data?problems=P").json()["datas"]) == 12


def test_scenario_4_algo_before_data_and_test_data_never_trains(alice: Morpheo) -> None:
    alice.problem("Q", ["QT"])
    assert alice.algo("B", "Q") == 0
    assert alice.data(TRAIN, "Q") == 3
    assert alice.step("B", 0)["model_start"] == "B"
    assert alice.data(["e1", "e2"], "Q") == 1
    added = alice.step("B", 3)
    assert added["train_data"] == ["e1", "e2"] and added["model_start"] is None
    assert alice.step("B", 2)["status"] == "todo"
    assert alice.data(["QT"], ["Q"]) == 0
    assert all("QT" not in step["train_data"] for step in alice.learnuplets(algo="B"))
    # a second algo registered later trains on everything but the test data
    assert alice.algo("C", "Q") == 3
    assert all("QT" not in step["train_data"] for step in alice.learnuplets(algo="C"))


def test_new_data_after_a_finished_step_starts_from_the_best_model(alice: Morpheo) -> None:
    alice.problem("P", TEST)
    alice.data(TRAIN[:4], "P")
    alice.algo("A", "P")
    step = alice.step("A", 0)
    assert alice.claim(step["uuid"]).status_code == 200
    assert alice.done(step["uuid"], 0.7).status_code == 200
    assert alice.data(TRAIN[4:6], "P") == 1
    assert alice.step("A", 1)["model_start"] == step["model_end"]


def test_scenario_13_bad_inputs_write_nothing(alice: Morpheo) -> None:
    alice.problem("P", TEST)
    alice.data(TRAIN[:4], "P")
    alice.algo("A", "P")
    cases = [
        ("/problem", b"{not json", "body must be a JSON object"),
        ("/problem", b"[1, 2]", "body must be a JSON object"),
        (
            "/problem",
            b'{"uuid": "X", "test_dataset": [], "size_train_dataset": 4}',
            "wrong key in posted data",
        ),
        (
            "/problem",
            b'{"uuid": "X", "workflow": "W", "test_dataset": [], "size_train_dataset": "4"}',
            "invalid value for size_train_dataset",
        ),
        (
            "/problem",
            b'{"uuid": "X", "workflow": "W", "test_dataset": [], "size_train_dataset": 0}',
            "invalid value for size_train_dataset",
        ),
        (
            "/problem",
            b'{"uuid": "X", "workflow": "W", "test_dataset": [], "size_train_dataset": true}',
            "invalid value for size_train_dataset",
        ),
        (
            "/problem",
            b'{"uuid": "X", "workflow": "W", "test_dataset": [], "size_train_dataset": 4, "lower_is_better": "yes"}',
            "invalid value for lower_is_better",
        ),
        ("/problem", b'{"uuid": "a/b", "workflow": "W", "test_dataset": [], "size_train_dataset": 4}', None),
        ("/algo", b'{"uuid": "X", "problem": "nope", "name": "n"}', "non-existing related problem"),
        ("/algo", b'{"uuid": "X", "problem": "P", "name": ""}', "invalid value for name"),
        ("/data", b'{"uuid": ["n1"], "problems": ["P", "nope"]}', "non-existing related problem"),
        ("/data", b'{"uuid": [], "problems": ["P"]}', "invalid value for uuid"),
        ("/data", b'{"uuid": ["n1", "n1"], "problems": ["P"]}', "invalid value for uuid"),
        ("/data", b'{"uuid": ["n1", "d0"], "problems": ["P"]}', "data d0 already exists"),
        ("/prediction", b'{"data": ["x"], "problem": "P"}', "no problem or trained model"),
        ("/prediction", b'{"data": ["x"], "problem": "nope"}', "no problem or trained model"),
        ("/prediction", b'{"data": ["x"]}', "wrong key in posted data"),
    ]
    before = {c: alice.get(f"/{c}").json() for c in ("problem", "algo", "data", "learnuplet", "preduplet")}
    for path, body, message in cases:
        response = alice.post_raw(path, body)
        expected = 409 if message and "already exists" in message else 400
        assert response.status_code == expected, (path, body, response.text)
        if message:
            assert response.json() == {"Error": message}, (path, body)
        else:
            assert set(response.json()) == {"Error"}
    after = {c: alice.get(f"/{c}").json() for c in ("problem", "algo", "data", "learnuplet", "preduplet")}
    assert after == before

    step = alice.step("A", 0)
    assert alice.post(f"/worker/learnuplet/{step['uuid']}", {}).json() == {
        "Error": "wrong key in posted data"
    }
    assert alice.post(f"/worker/learnuplet/{step['uuid']}", {"worker": ""}).status_code == 400
    assert alice.post(f"/worker/model/{step['uuid']}", {"worker": "w"}).json() == {
        "Error": "Page does not exist"
    }
    assert alice.post(f"/worker/model/{step['uuid']}", {"worker": "w"}).status_code == 404
    assert alice.claim(step["uuid"]).status_code == 200
    uuid = step["uuid"]
    reports = [
        ({"status": "whatever"}, "status must be done or failed"),
        ({"perf": 1}, "wrong key in posted data"),
        ({"status": "done", "perf": 0.5}, "wrong key in posted data"),
        ({"status": "done", "perf": "0.9", "train_perf": {}, "test_perf": {}}, "perf must be a number"),
        ({"status": "done", "perf": True, "train_perf": {}, "test_perf": {}}, "perf must be a number"),
        (
            {"status": "done", "perf": 0.9, "train_perf": [1, 2], "test_perf": {}},
            "train_perf must be a number",
        ),
        (
            {"status": "done", "perf": 0.9, "train_perf": {}, "test_perf": {"a": "x"}},
            "test_perf must be a number",
        ),
        ({"status": "failed", "error": 5}, "invalid value for error"),
        ({"status": "failed", "worker": 5}, "invalid value for worker"),
    ]
    for body, message in reports:
        response = alice.post(f"/learndone/{uuid}", body)
        assert response.status_code == 400, (body, response.text)
        assert response.json() == {"Error": message}, body
    for raw in (
        b'{"status": "done", "perf": NaN, "train_perf": {}, "test_perf": {}}',
        b'{"status": "done", "perf": 1e999, "train_perf": {}, "test_perf": {}}',
    ):
        response = alice.post_raw(f"/learndone/{uuid}", raw)
        assert response.status_code == 400 and response.json() == {"Error": "perf must be a number"}
    assert alice.get(f"/learnuplet/{uuid}").json()["status"] == "pending"
    assert alice.post("/learndone/nope", {"status": "done"}).status_code == 404
    assert alice.post("/preddone/nope", {"status": "done"}).status_code == 404
