"""Scenarios 13, 14 and 15 (spec §7): the stats routes, simulation, and experiment code written in the
original users' style, over plain HTTP through the real sandbox."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from crucible.dialects.streamingbandit.defaults import get_default
from tests.dialects.streamingbandit.conftest import with_ids
from tests.dialects.streamingbandit.live import Created, SbClient, SbServer
from tests.dialects.streamingbandit.original_style import EXPERIMENTS

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$")
E_FIRST, E_GREEDY, NESTED, PARALLEL, UCB1 = 2, 3, 5, 7, 12
LOGGING = {
    "get_context": "self.context = {'u': random.random()}\n",
    "get_action": "self.action = {'x': np.random.rand()}\n",
    "get_reward": "self.reward = {'r': 1}\n",
    "set_reward": (
        "count = base.Count(self.get_theta(key='n'))\ncount.increment()\nself.set_theta(count, key='n')\n"
        "self.log_data({'x': self.action['x'], 'nan': float('nan')})\n"
    ),
}


def test_stats_routes(sb_server: SbServer) -> None:
    alice, bob = sb_server.client("alice"), sb_server.client("bob")
    exp = alice.create(LOGGING, hourly_theta=True)
    summary = alice.get(f"/stats/{exp.id}/summary").json()
    assert summary == {
        "last_added_get_action": "No get_action calls yet.",
        "get_action_calls": 0,
        "last_added_set_reward": "No set_reward calls yet.",
        "set_reward_calls": 0,
    }
    started = time.monotonic()
    for i in range(3):
        action = alice.getaction(exp, {"i": i}).json()["action"]
        assert alice.setreward(exp, {"r": i}, context={"i": i}, action=action).status_code == 200

    log = alice.get(f"/stats/{exp.id}/log").json()
    assert len(log) == 3 and all(row["exp_id"] == exp.id for row in log)
    assert log[0]["x"] == action["x"]  # newest first
    assert alice.get(f"/stats/{exp.id}/log", limit=1).json() == log[:1]
    assert alice.get(f"/stats/{exp.id}/log").text.count("NaN") == 3  # as Python's json writes it
    actions = alice.get(f"/stats/{exp.id}/actionlog").json()
    assert [set(row) for row in actions] == [{"context", "action", "date"}] * 3
    assert actions[0]["context"] == {"i": 2} and all(ISO.match(row["date"]) for row in actions)
    rewards = alice.get(f"/stats/{exp.id}/rewardlog", limit=2).json()
    assert len(rewards) == 2 and set(rewards[0]) == {"context", "action", "reward", "date"}
    assert rewards[0]["reward"] == {"r": 2} and ISO.match(rewards[0]["date"])
    summary = alice.get(f"/stats/{exp.id}/summary").json()
    assert summary["get_action_calls"] == 3 and summary["set_reward_calls"] == 3
    assert summary["last_added_get_action"] == actions[0]["date"]
    assert summary["last_added_set_reward"] == rewards[0]["date"]

    assert alice.simulate(exp, N=4, log_stats="True").status_code == 200
    simulations = alice.get(f"/stats/{exp.id}/simulationlog").json()
    assert len(simulations) == 1 and list(simulations[0]) == ["0", "1", "2", "3"]
    assert set(simulations[0]["3"]) == {"context", "action", "reward", "theta"}
    assert len(alice.get(f"/stats/{exp.id}/rewardlog").json()) == 3  # simulations are not client rewards

    while time.monotonic() - started < 5:
        time.sleep(0.25)
    hourly = alice.get(f"/stats/{exp.id}/hourlytheta").json()
    assert len(hourly) >= 2
    assert hourly[0]["exp_id"] == exp.id and ISO.match(hourly[0]["date"]) and "n" in hourly[0]
    assert len(alice.get(f"/stats/{exp.id}/hourlytheta", limit=1).json()) == 1

    for bad in ("-1", "x", "1.5"):
        response = alice.get(f"/stats/{exp.id}/log", limit=bad)
        assert response.status_code == 400 and response.json()["error"]["message"] == "Invalid limit."
    for name in ("currenttheta", "hourlytheta", "log", "actionlog", "rewardlog", "simulationlog", "summary"):
        response = bob.get(f"/stats/{exp.id}/{name}")
        assert response.status_code == 401, name
        assert response.json()["error"]["message"] == "Experiment could not be validated."
    assert alice.get(f"/stats/{exp.id}/nope").status_code == 404


def data_of(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["simulate"] == "success"
    return body


def test_simulate_options(alice: SbClient) -> None:
    exp = alice.create(LOGGING)
    verbose = data_of(alice.simulate(exp, N=5))
    assert verbose["experiment"] == exp.id and list(verbose["data"]) == ["0", "1", "2", "3", "4"]
    assert verbose["data"]["4"]["theta"] == {"n": {"n": "5"}}
    quiet = data_of(alice.simulate(exp, N=3, verbose="False"))
    assert set(quiet) == {"simulate", "experiment", "theta"} and quiet["theta"] == {"n": {"n": "8"}}
    assert set(data_of(alice.simulate(exp, N=1, verbose="yes"))) == {"simulate", "experiment", "data"}

    alice.get(f"/exp/{exp.id}/resetexperiment")
    first = data_of(alice.simulate(exp, N=20, seed=7))["data"]
    alice.get(f"/exp/{exp.id}/resetexperiment")
    assert data_of(alice.simulate(exp, N=20, seed=7))["data"] == first
    alice.get(f"/exp/{exp.id}/resetexperiment")
    assert data_of(alice.simulate(exp, N=20, seed=8))["data"] != first

    for params in ({"N": "0"}, {"N": "x"}, {"N": "100001"}, {"N": "-5"}):
        response = alice.simulate(exp, **params)
        assert response.status_code == 400 and response.json()["error"]["message"] == "Invalid parameter 'N'."
    for seed in ("-1", "4294967296", "abc"):
        response = alice.simulate(exp, N=1, seed=seed)
        assert response.json()["error"]["message"] == "Invalid parameter 'seed'."


def test_every_default_simulates(alice: SbClient) -> None:
    first, greedy = alice.create_default(E_FIRST), alice.create_default(E_GREEDY)
    for index in range(14):
        code = get_default(index)
        if index in (NESTED, PARALLEL):
            code = with_ids(code, first.id, greedy.id)
        exp = alice.create(code)
        body = data_of(alice.simulate(exp, N=50, seed=index))
        assert len(body["data"]) == 50, code["name"]


def test_ucb1_finds_the_best_arm(alice: SbClient) -> None:
    exp = alice.create_default(UCB1)
    theta = data_of(alice.simulate(exp, N=2000, seed=3, verbose="false"))["theta"]
    counts = {arm: int(stats["n"]) for arm, stats in theta.items()}
    assert max(counts, key=lambda arm: counts[arm]) == "treatment:4"


def create_fixture(client: SbClient, name: str) -> Created:
    code = EXPERIMENTS[name]
    if name in ("nested_policies", "parallel_evaluation"):
        first, second = client.create(EXPERIMENTS["e_first"]), client.create(EXPERIMENTS["e_greedy"])
        code = {
            hook: text.replace("FIRST_ID", first.id).replace("SECOND_ID", second.id)
            for hook, text in code.items()
        }
    return client.create(code)


@pytest.mark.parametrize("name", sorted(EXPERIMENTS))
def test_original_style_code_runs_unmodified(alice: SbClient, name: str) -> None:
    exp = create_fixture(alice, name)
    body = data_of(alice.simulate(exp, N=100, seed=1))
    assert len(body["data"]) == 100 and body["data"]["99"]["action"]
