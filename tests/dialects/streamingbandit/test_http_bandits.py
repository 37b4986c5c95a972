"""Scenarios 5, 6 and 18 (spec §7) and the learning of epsilon-greedy and Bayesian linear Thompson
sampling: default experiments driven by a client loop over plain HTTP, through the real sandbox."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import numpy as np

from tests.dialects.streamingbandit.live import Created, SbClient

AB_TEST, E_GREEDY, THOMPSON_LINEAR, THOMPSON_BERNOULLI, LINUCB = 0, 3, 9, 11, 13


def round_trip(client: SbClient, exp: Created, reward: Any, context: Any = None) -> dict[str, Any]:
    """getaction, then setreward with the returned context and action; returns the getaction body."""
    got = client.getaction(exp, context)
    assert got.status_code == 200, got.text
    body = got.json()
    reward_value = reward(body["action"]) if callable(reward) else reward
    done = client.setreward(exp, {"value": reward_value}, context=body["context"], action=body["action"])
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "success"
    return body


def test_ab_test_explores_101_times_then_exploits(alice: SbClient) -> None:
    exp = alice.create_default(AB_TEST)
    rng = np.random.default_rng(5)
    tallies = {"1": [0, 0.0], "2": [0, 0.0]}  # n, mean reward (the server's Proportion p)
    for round_number in range(150):
        best = max(("1", "2"), key=lambda arm: tallies[arm][1])  # first on ties, as List.max()
        action = round_trip(
            alice, exp, lambda a: int(rng.random() < (0.5 if a["treatment"] == "1" else 0.3))
        )["action"]
        if round_number < 101:
            assert action["propensity"] == 0.5
        else:
            assert action["propensity"] == 1
            if tallies[best][1] > 0:
                assert action["treatment"] == best
        n, p = tallies[action["treatment"]]
        reward = alice.get(f"/stats/{exp.id}/rewardlog", limit=1).json()[0]["reward"]["value"]
        tallies[action["treatment"]] = [n + 1, p + (reward - p) / (n + 1)]
    theta = alice.theta(exp)
    assert set(theta) == {"treatment:1", "treatment:2"}
    assert all(isinstance(v, str) for arm in theta.values() for v in arm.values())
    assert int(theta["treatment:1"]["n"]) + int(theta["treatment:2"]["n"]) == 150
    assert math.isclose(float(theta["treatment:1"]["p"]), tallies["1"][1])


def test_thompson_sampling_converges(alice: SbClient) -> None:
    exp = alice.create_default(THOMPSON_BERNOULLI)
    rng = np.random.default_rng(6)
    truth = {"1": 0.1, "2": 0.2, "3": 0.3, "4": 0.9}
    chosen = []
    for _ in range(1500):
        action = round_trip(alice, exp, lambda a: int(rng.random() < truth[a["treatment"]]))["action"]
        assert isinstance(action["propensity"], float) and 0 <= action["propensity"] <= 1
        chosen.append(action["treatment"])
    assert Counter(chosen[-300:])["4"] >= 0.8 * 300
    theta = alice.theta(exp)
    counts = {arm: int(theta[f"treatment:{arm}"]["n"]) for arm in truth if f"treatment:{arm}" in theta}
    assert max(counts, key=lambda arm: counts[arm]) == "4"
    assert len(alice.get(f"/stats/{exp.id}/rewardlog").json()) == 1500
    summary = alice.get(f"/stats/{exp.id}/summary").json()
    assert summary["get_action_calls"] == 1500 and summary["set_reward_calls"] == 1500


def test_linucb_learns_the_contextual_arms(alice: SbClient) -> None:
    exp = alice.create_default(LINUCB)
    rng = np.random.default_rng(18)
    truth = {"1": [-1, 3, 0], "2": [-1, 0, 3], "3": [1, -2, -2]}

    def success(arm: str, x: list[float]) -> float:
        return 1 / (1 + math.exp(-float(np.dot(truth[arm], x))))

    gains = []
    for _ in range(1500):
        x = [1, float(rng.random()), float(rng.random())]
        got = alice.getaction(exp, {"x": x})
        assert got.status_code == 200, got.text
        arm = got.json()["action"]["treatment"]
        p = success(arm, x)
        gains.append(p - np.mean([success(a, x) for a in truth]))
        reward = int(rng.random() < p)
        done = alice.setreward(exp, {"value": reward}, context={"x": x}, action=got.json()["action"])
        assert done.status_code == 200, done.text
    assert np.mean(gains[-300:]) >= 0.1


def test_epsilon_greedy_learns_the_better_arm(alice: SbClient) -> None:
    exp = alice.create_default(E_GREEDY)
    rng = np.random.default_rng(3)
    means = {"control": 4.0, "treatment": 6.0}
    chosen = [
        round_trip(alice, exp, lambda a: float(rng.normal(means[a["treatment"]], 1.0)))["action"]["treatment"]
        for _ in range(300)
    ]
    assert Counter(chosen[-100:])["treatment"] >= 80


def test_bayesian_linear_thompson_finds_the_top_of_the_parabola(alice: SbClient) -> None:
    exp = alice.create_default(THOMPSON_LINEAR)
    rng = np.random.default_rng(9)
    xs = [
        round_trip(alice, exp, lambda a: -((a["x"] - 5) ** 2) + 10 + float(rng.normal(0, 0.1)))["action"]["x"]
        for _ in range(150)
    ]
    assert abs(float(np.median(xs[-30:])) - 5) < 0.5
