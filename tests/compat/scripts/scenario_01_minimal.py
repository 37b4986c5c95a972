"""Scenario 1 (minimal example) and scenario 8 (descriptive parameters), with bender-client 0.4.0.

Suggestions are seeded (see `seed_suggestions`) so the learning assertions are reproducible.
"""

from __future__ import annotations

import math
import statistics

from _common import User, captured, report, seed_suggestions

alice = User("ALICE")
bender = alice.client()
with captured():
    bender.create_experiment(
        name="Minimum example experiment", metrics=[{"metric_name": "sinus_value", "type": "loss"}]
    )
X_SPACE = {"name": "x", "category": "uniform", "search_space": {"low": 0, "high": 2 * math.pi}}


def optimise(algo_name: str, optimizer: str, seed: int, descriptive: bool = False) -> list[float]:
    hyperparameters = [X_SPACE]
    if descriptive:
        hyperparameters = [X_SPACE, {"name": "run", "category": "descriptive", "search_space": None}]
    with captured():
        bender.create_algo(name=algo_name, hyperparameters=hyperparameters)
    seed_suggestions(bender, seed)
    losses = []
    for step in range(50):
        suggestion = bender.suggest(metric="sinus_value", optimizer=optimizer)
        assert set(suggestion) == {"x"}, suggestion  # never the descriptive parameter
        x = suggestion["x"]
        assert 0 <= x < 2 * math.pi, x
        loss = math.sin(x)
        if descriptive and step % 2 == 0:
            suggestion = {**suggestion, "run": "v2"}
        bender.create_trial(hyperparameters=suggestion, results={"sinus_value": loss})
        losses.append(loss)
    trials = bender.list_trials()
    assert len(trials) == 50, len(trials)
    if descriptive:
        assert sum("run" in t["parameters"] for t in trials) == 25
    return losses


def summary(losses: list[float]) -> dict[str, float]:
    return {
        "early": statistics.mean(losses[:20]),
        "late": statistics.mean(losses[30:]),
        "best": min(losses),
    }


tpe = summary(optimise("Analytic sinus function", "parzen_estimator", seed=1000))
rnd = summary(optimise("Analytic sinus function (random)", "random", seed=2000))
descriptive = summary(
    optimise("With a descriptive parameter", "parzen_estimator", seed=3000, descriptive=True)
)
report({"tpe": tpe, "random": rnd, "descriptive": descriptive})
