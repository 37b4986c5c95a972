"""Scenario 3: sharing an experiment between alice and bob, each with their own client and HOME."""

from __future__ import annotations

import math

from _common import User, captured, expect_error, report

NO_PERMISSION = "You do not have permission to perform this action."
alice, bob = User("ALICE"), User("BOB")
SPACE = [{"name": "x", "category": "uniform", "search_space": {"low": 0, "high": 2 * math.pi}}]

a = alice.client()
with captured():
    a.create_experiment(name="E", metrics=[{"metric_name": "loss", "type": "loss"}])
    a.create_algo(name="A", hyperparameters=SPACE)
experiment_id, algo_a = a.get_experiment().id, a.get_algo().id
a.create_trial(hyperparameters={"x": 1.0}, results={"loss": math.sin(1.0)})
path = f"/api/experiments/{experiment_id}/"
assert alice.raw("PATCH", path, json={"shared_with": [bob.username]}).status_code == 200

b = bob.client()
b.set_experiment(experiment_id=experiment_id)
assert b.get_experiment().name == "E"
assert experiment_id not in [e["id"] for e in b.list_experiments()]  # only his own
shared = bob.raw("GET", f"/api/experiments/?shared_with={bob.username}").json()
assert [e["id"] for e in shared["results"]] == [experiment_id], shared
with captured():
    b.create_algo(name="bob-algo", hyperparameters=SPACE)
bob_algo = b.get_algo().id
for i in range(3):
    b.create_trial(hyperparameters={"x": 0.5 + i}, results={"loss": math.sin(0.5 + i)})
assert set(b.suggest(metric="loss", minimum_observations=1)) == {"x"}

assert sorted(x["name"] for x in a.list_algos()) == ["A", "bob-algo"]
response = alice.raw("GET", f"/api/trials/?algo={bob_algo}")
assert response.status_code == 200 and response.json()["count"] == 3, response.text  # D9
full = alice.raw("GET", path).json()
assert full["participants"] == [[alice.username], [bob.username]], full["participants"]
trial_count = full["trial_count"]
assert trial_count == 4

# only owners
assert alice.raw("POST", f"/api/algos/{bob_algo}/suggest/", json={"metric": "loss"}).status_code == 403
assert bob.raw("PATCH", path, json={"description": "mine"}).status_code == 403
assert bob.raw("DELETE", path).status_code == 403
assert bob.raw("POST", f"/api/algos/{algo_a}/suggest/", json={"metric": "loss"}).status_code == 403

# unsharing revokes access and keeps bob's algo and trials
assert alice.raw("PATCH", path, json={"shared_with": []}).status_code == 200
assert sorted(x["name"] for x in a.list_algos()) == ["A", "bob-algo"]
assert alice.raw("GET", f"/api/trials/?algo={bob_algo}").json()["count"] == 3
assert alice.raw("GET", path).json()["trial_count"] == trial_count
assert bob.raw("GET", path).status_code == 403
expect_error(b.create_trial, hyperparameters={"x": 1.0}, results={"loss": 0.0}, contains=NO_PERMISSION)
expect_error(b.suggest, metric="loss", contains=NO_PERMISSION)
expect_error(b.set_experiment, experiment_id=experiment_id, contains="Could not retrieve experiment.")
mine = bob.raw("GET", f"/api/trials/?owner={bob.username}").json()
assert mine["count"] == 3, mine

# sharing again restores everything
assert alice.raw("PATCH", path, json={"shared_with": [bob.username]}).status_code == 200
b.create_trial(hyperparameters={"x": 4.0}, results={"loss": math.sin(4.0)})
assert set(b.suggest(metric="loss", minimum_observations=1)) == {"x"}
assert len(b.list_trials()) == 4
report({"ok": True})
