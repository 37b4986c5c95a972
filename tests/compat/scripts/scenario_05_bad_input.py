"""Scenario 5: bad input. The client raises BenderError carrying the server's 400 (or 403/404) body;
what the client cannot send (NaN, duplicate names, foreign algos, bare lists) is sent raw."""

from __future__ import annotations

import json
import os

from _common import User, captured, expect_error, report

alice, bob = User("ALICE"), User("BOB")
BOB_ALGO = os.environ["BOB_ALGO_ID"]
LOSS = [{"metric_name": "loss", "type": "loss"}]
seen = []


def fails(call, *args, contains, **kwargs):  # type: ignore[no-untyped-def]
    seen.append(expect_error(call, *args, contains=contains, **kwargs))


a = alice.client()
# experiments
for number, (metrics, message) in enumerate(
    [
        ([], "This list may not be empty."),
        ([{"metric_name": "m", "type": "gain"}], '"gain" is not a valid choice.'),
        (
            [{"metric_name": "m", "type": "loss"}, {"metric_name": "m", "type": "reward"}],
            "Metric names must be unique.",
        ),
    ]
):
    fails(a.create_experiment, name=f"bad {number}", metrics=metrics, contains=message)
with captured():
    a.create_experiment(name="good", metrics=LOSS)
experiment_id = a.get_experiment().id
response = alice.raw("POST", "/api/experiments/", json={"name": "good", "metrics": LOSS})
assert response.status_code == 400, response.text
assert response.json() == {"name": ["Experiment with same name already exist!"]}

# search spaces
for number, (category, space) in enumerate(
    [
        ("uniform", {"low": 1, "high": 1}),
        ("uniform", {"low": 0, "high": 1, "step": 0}),
        ("categorical", {"values": [1, 2, 3], "probabilities": [0.3, 0.3, 0.3]}),
        ("gauss", {"mu": 0, "sigma": 1}),
        ("loguniform", {"low": 0, "high": 1}),
    ]
):
    hyperparameters = [{"name": "x", "category": category, "search_space": space}]
    fails(
        a.create_algo, name=f"bad {number}", hyperparameters=hyperparameters, contains="Failed to create algo"
    )
assert a.list_algos() == []

# trials
with captured():
    a.create_algo(
        name="ok",
        hyperparameters=[
            {"name": "x", "category": "uniform", "search_space": {"low": 0, "high": 1}},
            {"name": "undefined", "category": None, "search_space": None},
        ],
    )
undefined_algo = a.get_algo().id
with captured():
    a.create_algo(
        name="defined",
        hyperparameters=[{"name": "x", "category": "uniform", "search_space": {"low": 0, "high": 1}}],
    )
good = {"x": 0.5}
fails(
    a.create_trial,
    hyperparameters=good,
    results={},
    contains="Results keys are differents from experiment metrics.",
)
fails(
    a.create_trial,
    hyperparameters={"x": 0.5, "y": 1},
    results={"loss": 1},
    contains="Parameters are different",
)
fails(a.create_trial, hyperparameters={"x": None}, results={"loss": 1}, contains="None is an invalid value")
fails(a.create_trial, hyperparameters=good, results={"loss": None}, contains="None is an invalid value")
algo_id = a.get_algo().id
nan_body = json.dumps({"algo": algo_id, "parameters": {"x": float("nan")}, "results": {"loss": 1}})
assert "NaN" in nan_body
response = alice.raw("POST", "/api/trials/", data=nan_body, headers={"Content-Type": "application/json"})
assert response.status_code == 400, response.text
assert response.json() == {"non_field_errors": ["NaN is an invalid value for a parameter"]}
response = alice.raw(
    "POST", "/api/trials/", json={"algo": BOB_ALGO, "parameters": good, "results": {"loss": 1}}
)
assert response.status_code == 403, response.text
assert len(a.list_trials()) == 0

# suggest
fails(a.suggest, metric="unknown", contains="Unknown metric asked")
fails(a.suggest, metric="loss", optimizer="grid", contains='"grid" is not a valid choice.')
fails(a.suggest, metric="loss", minimum_observations=0, contains="greater than or equal to 1")
a.set_algo(algo_id=undefined_algo)
response = alice.raw("POST", f"/api/algos/{undefined_algo}/suggest/", json={"metric": "loss"})
assert response.status_code == 204 and response.content == b"", response.text
fails(a.suggest, metric="loss", contains="Must define a search space properly.")  # raised locally

# unknown and malformed ids, bare and foreign lists
unknown = "0c7e6d3c-8a4e-4b61-9b1f-2d0b6f0a0a0a"
fails(a.set_experiment, experiment_id=unknown, contains="Could not retrieve experiment.")
fails(a.set_algo, algo_id=unknown, contains="Could not retrieve algo.")
fails(a.delete_trial, unknown, contains="Not found.")
for path in (f"/api/experiments/{unknown}/", "/api/experiments/not-a-uuid/"):
    response = alice.raw("GET", path)
    assert (response.status_code, response.json()) == (404, {"detail": "Not found."}), path
for path in ("/api/experiments/", f"/api/experiments/?owner={bob.username}"):
    response = alice.raw("GET", path)
    assert response.status_code == 403, path
report({"errors": len(seen)})
