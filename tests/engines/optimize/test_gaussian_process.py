"""The gaussian_process optimiser (Polyaxon's bo): it learns, and every option gives exact values."""

import math

import numpy as np
import pytest

from crucible.engines.optimize import CategoricalParam, NumericParam, Observation, SearchSpace, suggest

from .scenario_spaces import SCENARIO_7, assert_scenario_7_values

BOWL = SearchSpace(
    [
        NumericParam("x", "uniform", low=-5, high=5),
        NumericParam("lr", "loguniform", low=1e-4, high=1),
        CategoricalParam("shift", [0, 1]),
    ]
)


def bowl(values: dict) -> float:
    """Smooth, minimum 0 at x = 1, lr = 1e-2, shift = 0."""
    return (values["x"] - 1) ** 2 / 10 + (math.log10(values["lr"]) + 2) ** 2 / 4 + values["shift"]


def best_after(optimizer: str, seed: int, options=None, trials: int = 20, startup: int = 6) -> float:
    observations: list[Observation] = []
    for t in range(trials):
        name = optimizer if t >= startup else "random"
        answer = suggest(
            BOWL, observations, name, seed=seed * 100 + t, options=options if t >= startup else None
        )
        assert answer.optimizer_used == name
        observations.append(Observation(answer.values, bowl(answer.values)))
    return min(o.loss for o in observations)


def test_gaussian_process_beats_random_on_a_smooth_function():
    seeds = range(3)
    gp = [best_after("gaussian_process", s) for s in seeds]
    random = [best_after("random", s) for s in seeds]
    assert np.median(gp) < np.median(random)
    assert max(gp) < 0.3


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"kernel": "rbf"},
        {"kernel": "matern", "nu": 1.5, "n_restarts_optimizer": 1},
        {"acquisition_function": "ei", "eps": 0.01},
        {"acquisition_function": "poi", "eps": 0.0},
        {"acquisition_function": "ucb", "kappa": 0.5, "local_candidates": 0, "candidates": 50},
        {"max_observations": 10},
    ],
)
def test_every_option_keeps_values_exact(options):
    rng = np.random.default_rng(5)
    observations = []
    for t in range(14):
        optimizer = "random" if t < 8 else "gaussian_process"
        answer = suggest(SCENARIO_7, observations, optimizer, seed=t, options=options if t >= 8 else None)
        assert answer.optimizer_used == optimizer
        assert_scenario_7_values(answer.values)
        observations.append(Observation(answer.values, float(rng.normal())))


def test_open_bounds_and_constant_losses_do_not_crash():
    space = SearchSpace(
        [NumericParam("n", "normal", mu=3, sigma=2), NumericParam("l", "lognormal", mu=1, sigma=3)]
    )
    observations = [Observation({"n": float(n), "l": 1.0 + n * n}, 1.0) for n in range(-3, 4)]
    answer = suggest(space, observations, "gaussian_process", seed=0)
    assert answer.optimizer_used == "gaussian_process" and answer.values["l"] > 0


def test_a_zero_probability_value_is_never_proposed():
    space = SearchSpace(
        [NumericParam("x", "uniform", low=0, high=1), CategoricalParam("c", ["a", "z"], [1.0, 0.0])]
    )
    observations = [Observation({"x": x, "c": "z"}, -1.0) for x in (0.1, 0.5, 0.9)]
    observations += [Observation({"x": x, "c": "a"}, 1.0) for x in (0.2, 0.6)]
    for seed in range(5):
        answer = suggest(space, observations, "gaussian_process", seed=seed)
        assert answer.optimizer_used == "gaussian_process" and answer.values["c"] == "a"
