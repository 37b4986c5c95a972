"""Algos and their search spaces (spec §3.0, §3.3, §4.3) and the search-space cases of scenario 5."""

from __future__ import annotations

import math
from typing import Any

import pytest

from tests.dialects.bender.conftest import SIN_X, BenderUser

FULL_KEYS = {
    "id",
    "name",
    "experiment",
    "owner",
    "parameters",
    "description",
    "trial_count",
    "created",
    "modified",
    "is_search_space_defined",
}


def post_algo(user: BenderUser, experiment_id: str, parameters: Any, name: str = "algo", **extra: Any):  # type: ignore[no-untyped-def]
    return user.post(
        "/api/algos/", {"name": name, "experiment": experiment_id, "parameters": parameters, **extra}
    )


def param(name: str, category: str | None, search_space: Any) -> dict[str, Any]:
    return {"name": name, "category": category, "search_space": search_space}


def test_create_and_read(alice: BenderUser) -> None:
    experiment = alice.experiment()
    parameters = [
        param("x", "uniform", {"low": 0, "high": 1, "log": True}),
        param("k", "categorical", {"values": [1, "a", [2, 3]]}),
        param("run", "descriptive", None),
    ]
    response = post_algo(alice, experiment["id"], parameters, description={"free": ["json"]})
    assert response.status_code == 201, response.text
    created = response.json()
    assert set(created) == {
        "id",
        "name",
        "experiment",
        "description",
        "parameters",
        "is_search_space_defined",
    }
    assert created["experiment"] == experiment["id"]
    assert created["description"] == {"free": ["json"]}
    assert created["parameters"] == parameters  # stored as given, unknown keys kept, order kept
    assert created["is_search_space_defined"] is True
    full = alice.get(f"/api/algos/{created['id']}/").json()
    assert set(full) == FULL_KEYS
    assert full["owner"] == "alice"
    assert full["trial_count"] == 0
    assert full["parameters"] == [
        {**p, "algo": created["id"], "category_display": display}
        for p, display in zip(
            parameters,
            ["Uniformly distributed parameter", "Categorical parameter", "Descriptive parameter"],
            strict=True,
        )
    ]
    listed = alice.get(f"/api/algos/?experiment={experiment['id']}").json()
    assert listed["results"] == [full]
    assert alice.get("/api/algos/?owner=alice").json()["results"] == [full]


def test_category_display_values(alice: BenderUser) -> None:
    experiment = alice.experiment()
    parameters = [
        param("a", "normal", {"mu": 0, "sigma": 1}),
        param("b", "lognormal", {"mu": 1, "sigma": 10}),
        param("c", "loguniform", {"low": 1, "high": 10}),
        param("d", None, None),
    ]
    algo = alice.algo(experiment["id"], parameters)
    full = alice.get(f"/api/algos/{algo['id']}/").json()
    assert [p["category_display"] for p in full["parameters"]] == [
        "Normally distributed parameter",
        "Log-Normally distributed parameter",
        "Log-Uniformly distributed parameter",
        None,
    ]


@pytest.mark.parametrize(
    ("parameters", "defined"),
    [
        ([], True),
        ([param("run", "descriptive", None)], True),
        ([param("run", "descriptive", {"anything": 1})], True),
        ([param("x", None, {"low": 0, "high": 1})], False),
        ([param("x", "uniform", None)], False),
        ([param("x", "uniform", {})], False),
        ([param("x", "uniform", {"low": 0, "high": 1}), param("y", None, None)], False),
        ([{"name": "x"}], False),
    ],
)
def test_is_search_space_defined(alice: BenderUser, parameters: list[Any], defined: bool) -> None:
    experiment = alice.experiment()
    response = post_algo(alice, experiment["id"], parameters)
    assert response.status_code == 201, response.text
    assert response.json()["is_search_space_defined"] is defined
    assert alice.get(f"/api/algos/{response.json()['id']}/").json()["is_search_space_defined"] is defined


VALID_SPACES = [
    ("uniform", {"low": 0, "high": 10, "step": 10}),
    ("uniform", {"low": -1.5, "high": 1.5, "step": 0.5}),
    ("loguniform", {"low": 1e-5, "high": 1e-1}),
    ("loguniform", {"low": 1, "high": 1024, "base": 2, "step": 1}),
    ("normal", {"mu": 0, "sigma": 1, "low": -2, "high": 2, "step": 0.1}),
    ("normal", {"mu": 0, "sigma": 1}),
    ("lognormal", {"mu": 1, "sigma": 10, "high": 1000}),
    ("lognormal", {"mu": 1e-3, "sigma": 10}),
    ("lognormal", {"mu": 5, "sigma": 2, "low": 1, "step": 1}),
    ("categorical", {"values": [3, 5, 7], "probabilities": [0.2, 0.3, 0.5]}),
    ("categorical", {"values": [True, False]}),
    ("categorical", {"values": [1, "1", 2.5, True, [64, 64], {"a": 1}]}),
    ("uniform", {"low": 0, "high": 1, "log": True, "unknown": "kept"}),
]


def test_valid_search_spaces(alice: BenderUser) -> None:
    experiment = alice.experiment()
    for number, (category, space) in enumerate(VALID_SPACES):
        response = post_algo(alice, experiment["id"], [param("p", category, space)], name=f"a{number}")
        assert response.status_code == 201, (category, space, response.text)
        assert response.json()["parameters"][0]["search_space"] == space


INVALID_SPACES = [
    ("uniform", {"low": 1, "high": 1}),
    ("uniform", {"low": 2, "high": 1}),
    ("uniform", {"low": 0, "high": 1, "step": 0}),
    ("uniform", {"low": 0, "high": 1, "step": -0.1}),
    ("uniform", {"low": 0, "high": 1, "step": 2}),
    ("uniform", {"low": 0}),
    ("uniform", {"low": True, "high": 2}),
    ("uniform", {"low": "0", "high": 2}),
    ("loguniform", {"low": 0, "high": 1}),
    ("loguniform", {"low": -1, "high": 1}),
    ("loguniform", {"low": 1, "high": 10, "base": 1}),
    ("loguniform", {"low": 1, "high": 10, "base": 0}),
    ("normal", {"mu": 0, "sigma": 0}),
    ("normal", {"mu": 0}),
    ("normal", {"mu": 0, "sigma": 1, "low": 1, "high": 0}),
    ("normal", {"mu": 0, "sigma": 1, "step": 0}),
    ("lognormal", {"mu": 1, "sigma": 1}),
    ("lognormal", {"mu": 0, "sigma": 10}),
    ("lognormal", {"mu": 1, "sigma": 10, "low": 0}),
    ("categorical", {"values": []}),
    ("categorical", {"values": [1, None]}),
    ("categorical", {"values": "abc"}),
    ("categorical", {"probabilities": [1]}),
    ("categorical", {"values": [1, 2, 3], "probabilities": [0.3, 0.3, 0.3]}),
    ("categorical", {"values": [1, 2], "probabilities": [0.5]}),
    ("categorical", {"values": [1, 2], "probabilities": [1.5, -0.5]}),
]


def test_invalid_search_spaces(alice: BenderUser) -> None:
    experiment = alice.experiment()
    for category, space in INVALID_SPACES:
        parameters = [param("ok", "uniform", {"low": 0, "high": 1}), param("p", category, space)]
        response = post_algo(alice, experiment["id"], parameters)
        assert response.status_code == 400, (category, space, response.text)
        body = response.json()
        assert set(body) == {"parameters"}
        assert body["parameters"][0] == {}
        assert set(body["parameters"][1]) == {"non_field_errors"}, (category, space, body)
        (message,) = body["parameters"][1]["non_field_errors"]
        assert isinstance(message, str) and message
    assert alice.get(f"/api/algos/?experiment={experiment['id']}").json()["count"] == 0


def test_scenario_5_search_space_errors(alice: BenderUser) -> None:
    experiment = alice.experiment()
    for parameters in (
        [param("x", "uniform", {"low": 1, "high": 0})],
        [param("x", "uniform", {"low": 0, "high": 1, "step": 0})],
        [param("x", "categorical", {"values": [1, 2, 3], "probabilities": [0.3, 0.3, 0.3]})],
        [param("x", "loguniform", {"low": 0, "high": 1})],
    ):
        response = post_algo(alice, experiment["id"], parameters)
        assert response.status_code == 400, parameters
        assert set(response.json()["parameters"][0]) == {"non_field_errors"}
    response = post_algo(alice, experiment["id"], [param("x", "gauss", {"mu": 0})])
    assert (response.status_code, response.json()) == (
        400,
        {"parameters": [{"category": ['"gauss" is not a valid choice.']}]},
    )
    assert alice.get(f"/api/algos/?experiment={experiment['id']}").json()["count"] == 0


def test_validation_is_skipped_for_null_category_descriptive_and_empty_spaces(alice: BenderUser) -> None:
    experiment = alice.experiment()
    parameters = [
        param("a", None, {"low": 5, "high": 1}),
        param("b", "descriptive", {"low": 5, "high": 1}),
        param("c", "uniform", {}),
        param("d", "uniform", None),
    ]
    response = post_algo(alice, experiment["id"], parameters)
    assert response.status_code == 201, response.text
    assert response.json()["is_search_space_defined"] is False


def test_algo_field_errors(alice: BenderUser) -> None:
    experiment = alice.experiment()
    alice.algo(experiment["id"], SIN_X, name="taken")
    unknown = "0c7e6d3c-8a4e-4b61-9b1f-2d0b6f0a0a0a"
    cases: list[tuple[dict[str, Any], dict[str, Any]]] = [
        ({"name": "a", "parameters": []}, {"experiment": ["This field is required."]}),
        (
            {"name": "a", "experiment": unknown, "parameters": []},
            {"experiment": [f'Invalid pk "{unknown}" - object does not exist.']},
        ),
        (
            {"name": "a", "experiment": "nope", "parameters": []},
            {"experiment": ['Invalid pk "nope" - object does not exist.']},
        ),
        (
            {"name": "taken", "experiment": experiment["id"], "parameters": []},
            {"non_field_errors": ["The fields experiment, name must make a unique set."]},
        ),
        (
            {
                "name": "a",
                "experiment": experiment["id"],
                "parameters": [param("x", None, None), param("x", None, None)],
            },
            {"non_field_errors": ["Two or more parameters have the same name!"]},
        ),
        ({"experiment": experiment["id"], "parameters": []}, {"name": ["This field is required."]}),
        (
            {"name": "a" * 101, "experiment": experiment["id"], "parameters": []},
            {"name": ["Ensure this field has no more than 100 characters."]},
        ),
        (
            {"name": "a", "experiment": experiment["id"], "parameters": [{"category": "uniform"}]},
            {"parameters": [{"name": ["This field is required."]}]},
        ),
        (
            {"name": "a", "experiment": experiment["id"], "parameters": [param("n" * 151, None, None)]},
            {"parameters": [{"name": ["Ensure this field has no more than 150 characters."]}]},
        ),
        (
            {"name": "a", "experiment": experiment["id"], "parameters": [param("x", "uniform", [1, 2])]},
            {"parameters": [{"search_space": ['Expected a dictionary of items but got type "list".']}]},
        ),
        (
            {"name": "a", "experiment": experiment["id"], "parameters": {"x": 1}},
            {"parameters": ['Expected a list of items but got type "dict".']},
        ),
    ]
    for body, expected in cases:
        response = alice.post("/api/algos/", body)
        assert (response.status_code, response.json()) == (400, expected), body


def test_same_algo_name_in_two_experiments(alice: BenderUser) -> None:
    one, two = alice.experiment("one"), alice.experiment("two")
    alice.algo(one["id"], SIN_X, name="same")
    assert post_algo(alice, two["id"], SIN_X, name="same").status_code == 201


def test_list_algos_access_filters_and_order(alice: BenderUser, bob: BenderUser) -> None:
    experiment = alice.experiment()
    first = alice.algo(experiment["id"], SIN_X, name="first")
    second = alice.algo(experiment["id"], SIN_X, name="second")
    by_experiment = alice.get(f"/api/algos/?experiment={experiment['id']}").json()
    assert [a["id"] for a in by_experiment["results"]] == [second["id"], first["id"]]  # -created
    by_date = alice.get(f"/api/algos/?experiment={experiment['id']}&o=date").json()
    assert [a["id"] for a in by_date["results"]] == [first["id"], second["id"]]
    named = alice.get(f"/api/algos/?experiment={experiment['id']}&name=first").json()
    assert [a["id"] for a in named["results"]] == [first["id"]]
    assert alice.get(f"/api/algos/?experiment={experiment['id']}&name=firs").json()["count"] == 0
    forbidden = {"detail": "You do not have permission to perform this action."}
    for query in (
        "",
        "?owner=bob",
        f"?experiment={experiment['id']}".replace(experiment["id"][:8], "00000000"),
        "?experiment=garbage",
    ):
        response = alice.get(f"/api/algos/{query}")
        assert (response.status_code, response.json()) == (403, forbidden), query
    response = bob.get(f"/api/algos/?experiment={experiment['id']}")
    assert response.status_code == 403
    assert bob.get(f"/api/algos/{first['id']}/").status_code == 403
    assert bob.get("/api/algos/?owner=bob").json()["count"] == 0


def test_update_algo(alice: BenderUser) -> None:
    experiment = alice.experiment()
    algo = alice.algo(
        experiment["id"],
        [param("x", "uniform", {"low": 0, "high": 1}), param("y", None, None)],
    )
    path = f"/api/algos/{algo['id']}/"
    response = alice.patch(path, {"parameters": [param("y", "categorical", {"values": [1, 2]})]})
    assert response.status_code == 200, response.text
    assert set(response.json()) == {"id", "name", "description", "parameters"}
    assert response.json()["parameters"] == [
        param("x", "uniform", {"low": 0, "high": 1}),
        param("y", "categorical", {"values": [1, 2]}),
    ]
    assert alice.get(path).json()["is_search_space_defined"] is True
    response = alice.patch(
        path, {"name": "renamed", "description": "text", "parameters": [param("z", None, None)]}
    )
    assert response.status_code == 200
    assert response.json()["name"] == "renamed"
    assert response.json()["description"] == "text"
    assert [p["name"] for p in response.json()["parameters"]] == ["x", "y", "z"]
    response = alice.put(path, {"name": "renamed"})
    assert (response.status_code, response.json()) == (400, {"parameters": ["This field is required."]})
    response = alice.put(path, {"parameters": []})
    assert (response.status_code, response.json()) == (400, {"name": ["This field is required."]})
    response = alice.put(path, {"name": "put", "parameters": []})
    assert response.status_code == 200
    assert [p["name"] for p in response.json()["parameters"]] == ["x", "y", "z"]
    response = alice.patch(path, {"parameters": [param("x", "uniform", {"low": 1, "high": 0})]})
    assert response.status_code == 400
    assert set(response.json()["parameters"][0]) == {"non_field_errors"}
    other = alice.algo(experiment["id"], SIN_X, name="other")
    response = alice.patch(f"/api/algos/{other['id']}/", {"name": "put"})
    assert (response.status_code, response.json()) == (
        400,
        {"non_field_errors": ["The fields experiment, name must make a unique set."]},
    )


def test_update_algo_with_trials(alice: BenderUser) -> None:
    experiment = alice.experiment()
    algo = alice.algo(experiment["id"], [param("x", "uniform", {"low": 0, "high": 1})])
    path = f"/api/algos/{algo['id']}/"
    assert alice.trial(algo["id"], {"x": 0.5}, {"loss": 1}).status_code == 201
    response = alice.patch(path, {"parameters": [param("new", None, None)]})
    assert (response.status_code, response.json()) == (
        400,
        {"non_field_errors": ["Cannot add a new parameter to an algo with trials"]},
    )
    response = alice.patch(path, {"parameters": [param("x", "categorical", {"values": [1]})]})
    assert (response.status_code, response.json()) == (
        400,
        {
            "non_field_errors": [
                "Cannot change the category of an existing parameter after trials have been made"
            ]
        },
    )
    response = alice.patch(path, {"parameters": [param("x", "uniform", {"low": 0, "high": 2})]})
    assert response.status_code == 200
    assert response.json()["parameters"] == [param("x", "uniform", {"low": 0, "high": 2})]


def test_algo_permissions(alice: BenderUser, bob: BenderUser) -> None:
    experiment = alice.experiment()
    algo = alice.algo(experiment["id"], SIN_X)
    path = f"/api/algos/{algo['id']}/"
    forbidden = {"detail": "You do not have permission to perform this action."}
    assert post_algo(bob, experiment["id"], SIN_X).json() == forbidden
    assert bob.patch(path, {"name": "b"}).json() == forbidden
    assert bob.delete(path).json() == forbidden
    assert bob.suggest(algo["id"], metric="loss").json() == forbidden
    alice.patch(f"/api/experiments/{experiment['id']}/", {"shared_with": ["bob"]})
    assert bob.get(path).status_code == 200
    assert bob.patch(path, {"name": "b"}).status_code == 403  # only the algo owner
    assert bob.delete(path).status_code == 403
    assert alice.delete(path).status_code == 204
    assert alice.get(path).status_code == 404


def test_delete_algo_cascades_to_trials(alice: BenderUser) -> None:
    experiment = alice.experiment()
    algo = alice.algo(experiment["id"], SIN_X)
    trial = alice.trial(algo["id"], {"x": 1.0}, {"loss": math.pi}).json()
    assert alice.delete(f"/api/algos/{algo['id']}/").status_code == 204
    assert alice.get(f"/api/trials/{trial['id']}/").status_code == 404
    full = alice.get(f"/api/experiments/{experiment['id']}/").json()
    assert (full["algo_count"], full["trial_count"]) == (0, 0)
