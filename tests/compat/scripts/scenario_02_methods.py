"""Scenario 2: every method of bender-client 0.4.0. Stdin holds "<email>\\n<password>\\n" for the one prompt
(`revoke_credentials()`)."""

from __future__ import annotations

import json
import math
import os

from _common import User, captured, expect_error, report

alice = User("ALICE")
bender = alice.client()
assert bender.username == alice.username, bender.username
assert bender.user_id > 0

# experiments: create, reuse by name, get, set by name and by id
assert bender.list_experiments() == []
METRICS = [{"metric_name": "loss", "type": "loss"}, {"metric_name": "accuracy", "type": "reward"}]
with captured() as out:
    bender.create_experiment(name="Every method", metrics=METRICS, description="all of them", dataset="toy")
assert "already exist" not in out.getvalue()
experiment_id = bender.get_experiment().id
assert bender.get_experiment().name == "Every method"
assert bender.get_experiment().metrics == METRICS
with captured() as out:
    bender.create_experiment(name="Every method", metrics=METRICS)
assert "Experiment already exist" in out.getvalue(), out.getvalue()
assert bender.get_experiment().id == experiment_id
assert bender.list_experiments() == [{"name": "Every method", "id": experiment_id}]
bender.set_experiment(name="Every method")
assert bender.get_experiment().id == experiment_id
bender.set_experiment(experiment_id=experiment_id)
assert bender.get_experiment().dataset == "toy"
assert alice.raw("GET", "/api/experiments/?owner=" + alice.username).json()["count"] == 1

# algos: create, reuse, undefined space warning, list, set by name and id
HYPERPARAMETERS = [
    {"name": "x", "category": "uniform", "search_space": {"low": 0, "high": 2 * math.pi}},
    {"name": "k", "category": "categorical", "search_space": {"values": [1, "two", [3]]}},
    {"name": "run", "category": "descriptive", "search_space": None},
]
with captured() as out:
    bender.create_algo(name="Defined", hyperparameters=HYPERPARAMETERS, description={"v": 1})
assert out.getvalue() == "", out.getvalue()
algo_id = bender.get_algo().id
with captured() as out:
    bender.create_algo(name="Defined", hyperparameters=HYPERPARAMETERS)
assert "Algo already exist" in out.getvalue(), out.getvalue()
assert bender.get_algo().id == algo_id
with captured() as out:
    bender.create_algo(
        name="Undefined", hyperparameters=[{"name": "y", "category": None, "search_space": None}]
    )
assert "Search space is not defined properly" in out.getvalue(), out.getvalue()
undefined_id = bender.get_algo().id
assert bender.get_algo().is_search_space_defined is False
expect_error(bender.suggest, metric="loss", contains="Must define a search space properly.")
assert sorted(a["name"] for a in bender.list_algos()) == ["Defined", "Undefined"]
bender.set_algo(name="Defined")
assert bender.get_algo().id == algo_id
bender.set_algo(algo_id=algo_id)
assert bender.get_algo().is_search_space_defined is True
assert [p["name"] for p in bender.get_algo().parameters] == ["x", "k", "run"]

# constructors with ids
by_algo = alice.client(algo_id=algo_id)
assert by_algo.get_algo().id == algo_id
assert by_algo.get_experiment().id == experiment_id
by_experiment = alice.client(experiment_id=experiment_id)
assert by_experiment.get_experiment().id == experiment_id
assert by_experiment.get_algo() is None

# suggest with both optimizers; trials
for optimizer in ("random", "parzen_estimator"):
    suggestion = bender.suggest(metric="loss", optimizer=optimizer)
    assert set(suggestion) == {"x", "k"}, suggestion
    assert suggestion["k"] in (1, "two", [3])
    bender.create_trial(
        hyperparameters=suggestion, results={"loss": math.sin(suggestion["x"]), "accuracy": 0.5}, comment="c"
    )
expect_error(bender.suggest, metric="nope", contains="Unknown metric asked")
trials = bender.list_trials()
assert len(trials) == 2
assert {t["comment"] for t in trials} == {"c"}
first = trials[0]["id"]
with captured():
    bender.delete_trial(first)
assert [t["id"] for t in bender.list_trials()] == [trials[1]["id"]]
assert alice.raw("GET", f"/api/trials/{first}/").status_code == 404

# deletes
with captured():
    bender.delete_algo(undefined_id)
assert bender.get_algo() is None
assert alice.raw("GET", f"/api/algos/{undefined_id}/").status_code == 404
assert bender.list_algos() == [{"name": "Defined", "id": algo_id}]

# revoke_credentials: the token file is removed, the prompt (answered on stdin) writes a new one
token_path = os.path.join(alice.home, ".bender_token")
with open(token_path, "w") as handle:
    json.dump("marker", handle)
bender.revoke_credentials()
with open(token_path) as handle:
    new_token = json.load(handle)
assert new_token != "marker" and new_token.count(".") == 2, new_token
assert bender.username == alice.username
assert bender.list_experiments() == [{"name": "Every method", "id": experiment_id}]
assert (
    alice.raw("GET", "/user/", headers={"Authorization": f"JWT {new_token}"}).json()["username"]
    == alice.username
)

with captured():
    bender.delete_experiment(experiment_id)
assert bender.get_experiment() is None
assert alice.raw("GET", f"/api/experiments/{experiment_id}/").status_code == 404
assert alice.raw("GET", f"/api/algos/{algo_id}/").status_code == 404
assert bender.list_experiments() == []
report({"ok": True})
