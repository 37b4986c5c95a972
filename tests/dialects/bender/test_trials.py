"""Trials (spec §3.0, §3.4, §4.4, D13) and the trial cases of scenario 5."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.dialects.bender.conftest import SIN_X, BenderUser

FULL_KEYS = {
    "id",
    "algo",
    "experiment",
    "owner",
    "parameters",
    "results",
    "comment",
    "algo_name",
    "created",
    "modified",
    "weight",
}
TWO_METRICS = [{"metric_name": "loss", "type": "loss"}, {"metric_name": "acc", "type": "reward"}]
XY_RUN = [
    {"name": "x", "category": "uniform", "search_space": {"low": 0, "high": 10}},
    {"name": "k", "category": "categorical", "search_space": {"values": ["a", "b"]}},
    {"name": "run", "category": "descriptive", "search_space": None},
]


@pytest.fixture
def algo(alice: BenderUser) -> dict[str, Any]:
    _experiment, algo = alice.setup(XY_RUN, TWO_METRICS)
    return algo


def non_field(message: str) -> dict[str, list[str]]:
    return {"non_field_errors": [message]}


def test_create_and_read(alice: BenderUser, algo: dict[str, Any]) -> None:
    parameters = {"x": 1.5, "k": "a", "run": {"git": "abc"}}
    results = {"loss": 0.25, "acc": "0.9"}
    response = alice.trial(algo["id"], parameters, results, comment={"note": [1, 2]}, weight=2)
    assert response.status_code == 201, response.text
    created = response.json()
    assert set(created) == {"id", "algo", "parameters", "results", "comment", "weight"}
    assert created["algo"] == algo["id"]
    assert created["parameters"] == parameters
    assert created["results"] == results
    assert created["comment"] == {"note": [1, 2]}
    assert created["weight"] == 2.0
    full = alice.get(f"/api/trials/{created['id']}/").json()
    assert set(full) == FULL_KEYS
    assert full["experiment"] == algo["experiment"]
    assert full["owner"] == "alice"
    assert full["algo_name"] == "algo"
    assert full["weight"] == 2.0
    assert alice.get(f"/api/trials/?algo={algo['id']}").json()["results"] == [full]
    assert alice.get(f"/api/trials/?experiment={algo['experiment']}").json()["results"] == [full]
    assert alice.get("/api/trials/?owner=alice").json()["results"] == [full]
    algo_full = alice.get(f"/api/algos/{algo['id']}/").json()
    assert algo_full["trial_count"] == 1


def test_values_are_stored_verbatim_without_type_checks(alice: BenderUser, algo: dict[str, Any]) -> None:
    parameters = {"x": "not a number", "k": 42}  # descriptive "run" omitted
    response = alice.trial(algo["id"], parameters, {"loss": [1], "acc": {"a": None}}, comment=None)
    assert response.status_code == 201, response.text
    assert alice.get(f"/api/trials/{response.json()['id']}/").json()["parameters"] == parameters


def test_default_weight_and_numeric_strings(alice: BenderUser, algo: dict[str, Any]) -> None:
    ok = {"x": 1, "k": "a"}
    results = {"loss": 1, "acc": 1}
    assert alice.trial(algo["id"], ok, results).json()["weight"] == 1.0
    assert alice.trial(algo["id"], ok, results, weight="0.5").json()["weight"] == 0.5
    assert alice.trial(algo["id"], ok, results, weight=0).json()["weight"] == 0.0


def test_scenario_5_trial_errors(alice: BenderUser, bob: BenderUser, algo: dict[str, Any]) -> None:
    ok = {"x": 1.0, "k": "a"}
    results = {"loss": 0.5, "acc": 0.5}
    cases: list[tuple[dict[str, Any], dict[str, Any], dict[str, Any], Any]] = [
        (ok, {"loss": 0.5}, {}, non_field("Results keys are differents from experiment metrics.")),
        (ok, {**results, "f1": 1}, {}, non_field("Results keys are differents from experiment metrics.")),
        ({**ok, "extra": 1}, results, {}, non_field("Parameters are different from algo parameters.")),
        ({"x": 1.0}, results, {}, non_field("Parameters are different from algo parameters.")),
        ({**ok, "x": None}, results, {}, non_field("None is an invalid value for a parameter")),
        ({**ok, "run": None}, results, {}, non_field("None is an invalid value for a parameter")),
        (ok, {**results, "loss": None}, {}, non_field("None is an invalid value for a parameter")),
        (ok, results, {"weight": -1}, {"weight": ["Ensure this value is greater than or equal to 0."]}),
        (ok, results, {"weight": True}, {"weight": ["A valid number is required."]}),
        (ok, results, {"weight": "heavy"}, {"weight": ["A valid number is required."]}),
    ]
    for parameters, trial_results, extra, expected in cases:
        response = alice.trial(algo["id"], parameters, trial_results, **extra)
        assert (response.status_code, response.json()) == (400, expected), (parameters, trial_results, extra)
    response = bob.trial(algo["id"], ok, results)
    assert response.status_code == 403
    assert alice.get(f"/api/trials/?algo={algo['id']}").json()["count"] == 0


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_values_are_rejected(alice: BenderUser, algo: dict[str, Any], token: str) -> None:
    message = non_field("NaN is an invalid value for a parameter")
    template = '{"algo": "%s", "parameters": {"x": %s, "k": "a"}, "results": {"loss": %s, "acc": 1}}'
    for x, loss in ((token, "1"), ("1", token)):
        response = alice.post_raw("/api/trials/", template % (algo["id"], x, loss))
        assert (response.status_code, response.json()) == (400, message), (x, loss)
    # nowhere else in a trial either: stored NaN could never be sent back as JSON
    for body in (
        '{"algo": "%s", "parameters": {"x": [%s], "k": "a"}, "results": {"loss": 1, "acc": 1}}',
        '{"algo": "%s", "parameters": {"x": 1, "k": "a"}, "results": {"loss": 1, "acc": 1}, "comment": %s}',
        '{"algo": "%s", "parameters": {"x": 1, "k": "a"}, "results": {"loss": 1, "acc": 1}, "weight": %s}',
    ):
        response = alice.post_raw("/api/trials/", body % (algo["id"], token))
        assert response.status_code == 400, (body, response.text)
    assert alice.get(f"/api/trials/?algo={algo['id']}").json()["count"] == 0


def test_field_errors(alice: BenderUser, algo: dict[str, Any]) -> None:
    unknown = "0c7e6d3c-8a4e-4b61-9b1f-2d0b6f0a0a0a"
    cases: list[tuple[dict[str, Any], dict[str, Any]]] = [
        ({"parameters": {}, "results": {}}, {"algo": ["This field is required."]}),
        (
            {"algo": unknown, "parameters": {}, "results": {}},
            {"algo": [f'Invalid pk "{unknown}" - object does not exist.']},
        ),
        ({"algo": None, "parameters": {}, "results": {}}, {"algo": ["This field may not be null."]}),
        ({"algo": algo["id"], "results": {}}, {"parameters": ["This field is required."]}),
        (
            {"algo": algo["id"], "parameters": [], "results": {}},
            {"parameters": ['Expected a dictionary of items but got type "list".']},
        ),
        (
            {"algo": algo["id"], "parameters": {}, "results": None},
            {"results": ['Expected a dictionary of items but got type "null".']},
        ),
    ]
    for body, expected in cases:
        response = alice.post("/api/trials/", body)
        assert (response.status_code, response.json()) == (400, expected), body


def test_trials_are_owned(alice: BenderUser, bob: BenderUser, algo: dict[str, Any]) -> None:
    trial = alice.trial(algo["id"], {"x": 1, "k": "a"}, {"loss": 1, "acc": 1}).json()
    forbidden = {"detail": "You do not have permission to perform this action."}
    alice.patch(f"/api/experiments/{algo['experiment']}/", {"shared_with": ["bob"]})
    assert bob.get(f"/api/trials/{trial['id']}/").json() == forbidden  # even as a participant
    assert bob.delete(f"/api/trials/{trial['id']}/").json() == forbidden
    assert bob.get(f"/api/trials/?algo={algo['id']}").json()["count"] == 1  # but may list them
    assert alice.delete(f"/api/trials/{trial['id']}/").status_code == 204
    assert alice.get(f"/api/trials/{trial['id']}/").status_code == 404


def test_list_access(alice: BenderUser, bob: BenderUser, algo: dict[str, Any]) -> None:
    alice.trial(algo["id"], {"x": 1, "k": "a"}, {"loss": 1, "acc": 1})
    forbidden = {"detail": "You do not have permission to perform this action."}
    unknown = "0c7e6d3c-8a4e-4b61-9b1f-2d0b6f0a0a0a"
    for query in (
        "",
        "?owner=bob",
        f"?algo={unknown}",
        "?algo=junk",
        f"?experiment={unknown}",
        "?experiment=x",
    ):
        response = alice.get(f"/api/trials/{query}")
        assert (response.status_code, response.json()) == (403, forbidden), query
    for query in (f"?algo={algo['id']}", f"?experiment={algo['experiment']}", "?owner=alice"):
        response = bob.get(f"/api/trials/{query}")
        assert (response.status_code, response.json()) == (403, forbidden), query
    # a malformed id in an extra filter gives an empty page
    page = alice.get("/api/trials/?owner=alice&algo=junk").json()
    assert page["count"] == 0
    page = alice.get(f"/api/trials/?algo={algo['id']}&experiment=junk").json()
    assert page["count"] == 0
    page = alice.get(f"/api/trials/?owner=alice&experiment={algo['experiment']}").json()
    assert page["count"] == 1


def test_default_order_and_date_order(alice: BenderUser, algo: dict[str, Any]) -> None:
    ids = [alice.trial(algo["id"], {"x": i, "k": "a"}, {"loss": i, "acc": 1}).json()["id"] for i in range(4)]
    listed = alice.get(f"/api/trials/?algo={algo['id']}").json()["results"]
    assert [t["id"] for t in listed] == ids[::-1]
    listed = alice.get(f"/api/trials/?algo={algo['id']}&o=date").json()["results"]
    assert [t["id"] for t in listed] == ids
    listed = alice.get(f"/api/trials/?algo={algo['id']}&o=-date").json()["results"]
    assert [t["id"] for t in listed] == ids[::-1]


def test_o_results_and_o_parameters_sort_numbers_by_value(
    alice: BenderUser, algo: dict[str, Any], add_trials: Callable[..., None]
) -> None:
    values: list[Any] = [10, "b", 9, 2.5, "a", None, -1, True, [1], "10"]
    add_trials(
        algo,
        alice,
        [({"x": value, "k": "a"}, {"loss": value, "acc": 1}, 1.0) for value in values],
    )
    add_trials(algo, alice, [({"k": "a"}, {"acc": 1}, 1.0)])  # no x, no loss at all

    def order(query: str) -> list[Any]:
        page = alice.get(f"/api/trials/?algo={algo['id']}&{query}").json()
        assert page["count"] == 11
        return [t["results"].get("loss", "<missing>") for t in page["results"]]

    def by_parameter(query: str) -> list[Any]:
        page = alice.get(f"/api/trials/?algo={algo['id']}&{query}").json()
        return [t["parameters"].get("x", "<missing>") for t in page["results"]]

    ascending = order("o_results=loss")
    assert ascending[:7] == [-1, 2.5, 9, 10, "10", "a", "b"]
    assert sorted(map(json.dumps, ascending[7:])) == sorted(map(json.dumps, [None, True, [1], "<missing>"]))
    descending = order("o_results=-loss")
    assert descending[:7] == [10, 9, 2.5, -1, "b", "a", "10"]
    assert by_parameter("o_parameters=x")[:7] == [-1, 2.5, 9, 10, "10", "a", "b"]
    assert by_parameter("o_parameters=-x")[:4] == [10, 9, 2.5, -1]
    # the ordered list pages like any other
    page = alice.get(f"/api/trials/?algo={algo['id']}&o_results=loss&limit=3&offset=3").json()
    assert [t["results"]["loss"] for t in page["results"]] == [10, "10", "a"]
    assert page["next"].endswith("o_results=loss&limit=3&offset=6")


def test_web_ui_style_query(alice: BenderUser, algo: dict[str, Any], add_trials: Callable[..., None]) -> None:
    add_trials(algo, alice, [({"x": i, "k": "a"}, {"loss": 100 - i, "acc": i}, 1.0) for i in range(120)])
    page = alice.get(f"/api/trials/?experiment={algo['experiment']}&o_results=acc&limit=10000").json()
    assert page["count"] == 120
    assert len(page["results"]) == 120
    assert [t["results"]["acc"] for t in page["results"]] == list(range(120))


def test_removed_participant_keeps_listing_own_trials(alice: BenderUser, bob: BenderUser) -> None:
    experiment = alice.experiment()
    alice.patch(f"/api/experiments/{experiment['id']}/", {"shared_with": ["bob"]})
    bob_algo = bob.algo(experiment["id"], SIN_X, name="bob-algo")
    trial = bob.trial(bob_algo["id"], {"x": 1}, {"loss": 1}).json()
    alice.patch(f"/api/experiments/{experiment['id']}/", {"shared_with": []})
    assert bob.get("/api/trials/?owner=bob").json()["count"] == 1
    assert bob.get(f"/api/trials/{trial['id']}/").status_code == 200
    assert bob.trial(bob_algo["id"], {"x": 1}, {"loss": 1}).status_code == 403
    assert bob.delete(f"/api/trials/{trial['id']}/").status_code == 204
