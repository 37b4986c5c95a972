"""Experiments (spec §3.0, §3.2, §4.2) and the experiment cases of scenario 5."""

from __future__ import annotations

import re
from typing import Any

from tests.dialects.bender.conftest import LOSS, SIN_X, BenderUser

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
FULL_KEYS = {
    "id",
    "name",
    "description",
    "metrics",
    "dataset",
    "dataset_parameters",
    "trial_count",
    "algo_count",
    "owner",
    "participants",
    "shared_with",
    "created",
    "modified",
}


def create(user: BenderUser, **body: Any):  # type: ignore[no-untyped-def]
    body.setdefault("name", "exp")
    body.setdefault("metrics", LOSS)
    return user.post("/api/experiments/", body)


def test_create_response_and_representation(alice: BenderUser) -> None:
    metrics = [
        {"metric_name": "loss", "type": "loss", "extra": "dropped"},
        {"metric_name": "acc", "type": "reward"},
    ]
    response = create(
        alice,
        name="first",
        metrics=metrics,
        description="d",
        dataset="mnist",
        dataset_parameters={"v": [1, 2]},
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert set(created) == {"id", "name", "description", "dataset", "dataset_parameters", "metrics"}
    assert UUID.match(created["id"])
    stored_metrics = [{"metric_name": "loss", "type": "loss"}, {"metric_name": "acc", "type": "reward"}]
    assert created["metrics"] == stored_metrics
    full = alice.get(f"/api/experiments/{created['id']}/").json()
    assert set(full) == FULL_KEYS
    assert full["name"] == "first"
    assert full["description"] == "d"
    assert full["dataset"] == "mnist"
    assert full["dataset_parameters"] == {"v": [1, 2]}
    assert full["metrics"] == stored_metrics
    assert (full["trial_count"], full["algo_count"]) == (0, 0)
    assert full["owner"] == "alice"
    assert full["participants"] == []
    assert full["shared_with"] == []
    assert TIMESTAMP.match(full["created"]) and TIMESTAMP.match(full["modified"])
    listed = alice.get("/api/experiments/?owner=alice").json()["results"]
    assert listed == [full]


def test_optional_fields_may_be_null_or_absent(alice: BenderUser) -> None:
    response = create(alice, description=None, dataset=None, dataset_parameters=None)
    assert response.status_code == 201, response.text
    assert response.json()["description"] is None
    response = create(alice, name="bare")
    full = alice.get(f"/api/experiments/{response.json()['id']}/").json()
    assert (full["description"], full["dataset"], full["dataset_parameters"]) == (None, None, None)


def test_counts_and_participants(alice: BenderUser, bob: BenderUser) -> None:
    experiment = alice.experiment()
    alice.patch(f"/api/experiments/{experiment['id']}/", {"shared_with": ["bob"]})
    algo_a = alice.algo(experiment["id"], SIN_X, name="a")
    algo_b = bob.algo(experiment["id"], SIN_X, name="b")
    full = alice.get(f"/api/experiments/{experiment['id']}/").json()
    assert full["participants"] == []
    for _ in range(2):
        assert bob.trial(algo_b["id"], {"x": 1}, {"loss": 1}).status_code == 201
    assert alice.trial(algo_a["id"], {"x": 1}, {"loss": 1}).status_code == 201
    full = alice.get(f"/api/experiments/{experiment['id']}/").json()
    assert full["trial_count"] == 3
    assert full["algo_count"] == 2
    assert full["participants"] == [["alice"], ["bob"]]
    assert full["shared_with"] == ["bob"]


def test_scenario_5_experiment_errors(alice: BenderUser) -> None:
    alice.experiment("taken")
    cases: list[tuple[dict[str, Any], dict[str, Any]]] = [
        ({"name": "taken"}, {"name": ["Experiment with same name already exist!"]}),
        ({"metrics": []}, {"metrics": ["This list may not be empty."]}),
        (
            {"metrics": [{"metric_name": "m", "type": "gain"}]},
            {"metrics": [{"type": ['"gain" is not a valid choice.']}]},
        ),
        (
            {"metrics": [{"metric_name": "m", "type": "loss"}, {"metric_name": "m", "type": "reward"}]},
            {"metrics": ["Metric names must be unique."]},
        ),
        ({"metrics": None}, {"metrics": ["This field may not be null."]}),
        ({"metrics": "loss"}, {"metrics": ['Expected a list of items but got type "str".']}),
        (
            {"metrics": [{"type": "loss"}]},
            {"metrics": [{"metric_name": ["This field is required."]}]},
        ),
        (
            {"metrics": [{"metric_name": "m" * 51, "type": "loss"}]},
            {"metrics": [{"metric_name": ["Ensure this field has no more than 50 characters."]}]},
        ),
        ({"name": ""}, {"name": ["This field may not be blank."]}),
        ({"name": "n" * 101}, {"name": ["Ensure this field has no more than 100 characters."]}),
        ({"name": None}, {"name": ["This field may not be null."]}),
        ({"description": "d" * 501}, {"description": ["Ensure this field has no more than 500 characters."]}),
        ({"dataset": "d" * 101}, {"dataset": ["Ensure this field has no more than 100 characters."]}),
    ]
    for overrides, expected in cases:
        response = create(alice, **overrides)
        assert (response.status_code, response.json()) == (400, expected), overrides
    response = alice.post("/api/experiments/", {"metrics": LOSS})
    assert (response.status_code, response.json()) == (400, {"name": ["This field is required."]})
    response = alice.post("/api/experiments/", {"name": "x"})
    assert (response.status_code, response.json()) == (400, {"metrics": ["This field is required."]})
    assert alice.get("/api/experiments/?owner=alice").json()["count"] == 1


def test_same_name_for_two_owners(alice: BenderUser, bob: BenderUser) -> None:
    alice.experiment("same")
    assert create(bob, name="same").status_code == 201


def test_list_needs_a_filter_naming_the_caller(alice: BenderUser, bob: BenderUser) -> None:
    alice.experiment()
    forbidden = {"detail": "You do not have permission to perform this action."}
    for path in ("/api/experiments/", "/api/experiments/?owner=bob", "/api/experiments/?shared_with=bob"):
        response = alice.get(path)
        assert (response.status_code, response.json()) == (403, forbidden), path
    assert alice.get("/api/experiments/?owner=alice").json()["count"] == 1
    assert alice.get("/api/experiments/?shared_with=alice").json()["count"] == 0


def test_list_filters_and_ordering(alice: BenderUser) -> None:
    first = alice.experiment("one", dataset="mnist")
    second = alice.experiment("two", dataset="cifar")
    third = alice.experiment("one two", dataset="mnist")

    def names(query: str) -> list[str]:
        response = alice.get(f"/api/experiments/?owner=alice{query}")
        assert response.status_code == 200, response.text
        return [e["name"] for e in response.json()["results"]]

    assert names("") == ["one two", "two", "one"]  # -modified
    assert names("&o=date") == ["one", "two", "one two"]
    assert names("&o=-date") == ["one two", "two", "one"]
    assert names("&name=one") == ["one"]  # exact, not a substring
    assert names("&name=one%20two") == ["one two"]
    assert names("&dataset=mnist") == ["one two", "one"]
    # an update moves an experiment to the front of the default order
    assert alice.patch(f"/api/experiments/{first['id']}/", {"description": "new"}).status_code == 200
    assert names("") == ["one", "one two", "two"]
    assert {second["id"], third["id"]} < {
        e["id"] for e in alice.get("/api/experiments/?owner=alice").json()["results"]
    }


def test_update(alice: BenderUser, bob: BenderUser) -> None:
    experiment = alice.experiment("e", dataset="d0")
    before = alice.get(f"/api/experiments/{experiment['id']}/").json()
    body = {
        "name": "ignored",
        "metrics": [{"metric_name": "other", "type": "reward"}],
        "description": "new description",
        "dataset": "d1",
        "dataset_parameters": [1, "two"],
        "shared_with": ["bob", "bob"],
    }
    response = alice.patch(f"/api/experiments/{experiment['id']}/", body)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "id": experiment["id"],
        "description": "new description",
        "dataset": "d1",
        "dataset_parameters": [1, "two"],
        "shared_with": ["bob"],
    }
    after = alice.get(f"/api/experiments/{experiment['id']}/").json()
    assert after["name"] == "e"
    assert after["metrics"] == LOSS
    assert after["modified"] > before["modified"]
    assert after["created"] == before["created"]
    response = alice.put(f"/api/experiments/{experiment['id']}/", {"description": None})
    assert response.status_code == 200
    assert response.json()["description"] is None
    assert response.json()["shared_with"] == ["bob"]  # not mentioned: unchanged


def test_update_errors(alice: BenderUser, bob: BenderUser) -> None:
    experiment = alice.experiment()
    path = f"/api/experiments/{experiment['id']}/"
    response = alice.patch(path, {"shared_with": ["nobody"]})
    assert (response.status_code, response.json()) == (
        400,
        {"shared_with": ["Object with username=nobody does not exist."]},
    )
    response = alice.patch(path, {"shared_with": ["alice"]})
    assert (response.status_code, response.json()) == (
        400,
        {"non_field_errors": ["Owner should not be in shared_with argument!"]},
    )
    response = alice.patch(path, {"description": "d" * 501})
    assert response.status_code == 400
    alice.patch(path, {"shared_with": ["bob"]})
    for method in ("PATCH", "PUT"):
        response = bob.request(method, path, json={"description": "mine now"})
        assert response.status_code == 403, method
    assert bob.delete(path).status_code == 403
    assert alice.get(path).json()["description"] is None


def test_delete_cascades_to_everything(alice: BenderUser, bob: BenderUser) -> None:
    experiment = alice.experiment()
    alice.patch(f"/api/experiments/{experiment['id']}/", {"shared_with": ["bob"]})
    algo_a = alice.algo(experiment["id"], SIN_X, name="a")
    algo_b = bob.algo(experiment["id"], SIN_X, name="b")
    trial_b = bob.trial(algo_b["id"], {"x": 1}, {"loss": 1}).json()
    alice.trial(algo_a["id"], {"x": 1}, {"loss": 1})
    response = alice.delete(f"/api/experiments/{experiment['id']}/")
    assert response.status_code == 204
    assert alice.get(f"/api/experiments/{experiment['id']}/").status_code == 404
    assert alice.get(f"/api/algos/{algo_a['id']}/").status_code == 404
    assert bob.get(f"/api/algos/{algo_b['id']}/").status_code == 404
    assert bob.get(f"/api/trials/{trial_b['id']}/").status_code == 404
    assert bob.get("/api/trials/?owner=bob").json()["count"] == 0
    assert alice.get("/api/trials/?owner=alice").json()["count"] == 0


def test_anonymous_requests(client: Any, alice: BenderUser) -> None:
    experiment = alice.experiment()
    for method, path in (
        ("GET", "/api/experiments/?owner=alice"),
        ("POST", "/api/experiments/"),
        ("GET", f"/api/experiments/{experiment['id']}/"),
        ("DELETE", f"/api/experiments/{experiment['id']}/"),
    ):
        response = alice.client.request(method, path, json={"name": "x", "metrics": LOSS})
        assert response.status_code == 403, (method, path)
        assert response.json() == {"detail": "Authentication credentials were not provided."}


def test_null_characters_are_refused(alice: BenderUser) -> None:
    """As Django's CharField does; PostgreSQL text columns cannot hold NUL."""
    response = create(alice, name="a\x00b")
    assert (response.status_code, response.json()) == (400, {"name": ["Null characters are not allowed."]})
    response = alice.get("/api/experiments/?owner=alice&name=%00")
    assert (response.status_code, response.json()) == (400, {"name": ["Null characters are not allowed."]})
    experiment = alice.experiment()
    response = alice.patch(f"/api/experiments/{experiment['id']}/", {"shared_with": ["\x00"]})
    assert response.status_code == 400
    assert set(response.json()) == {"shared_with"}
