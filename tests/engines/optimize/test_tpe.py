"""The parzen_estimator optimiser: reference behaviour (bender.md §4.7) and that it learns."""

import math

import numpy as np
import pytest

from crucible.engines.optimize import CategoricalParam, NumericParam, Observation, SearchSpace, suggest
from crucible.engines.optimize.tpe import _category_density, _Mixtures, _split

from .scenario_spaces import SCENARIO_7, SINUS, assert_scenario_7_values


def run_sinus(optimizer: str, seed: int, options=None) -> np.ndarray:
    """Scenario 1 (and 8): 50 trials of sin(x), the first 20 random as with the client's
    minimum_observations=20; every other trial carries an extra key, like a descriptive parameter."""
    observations: list[Observation] = []
    for t in range(50):
        name = optimizer if t >= 20 else "random"
        answer = suggest(
            SINUS, observations, name, seed=seed * 1000 + t, options=options if t >= 20 else None
        )
        assert answer.optimizer_used == name
        x = answer.values["x"]
        assert 0 <= x < 2 * math.pi
        params = {"x": x, "run": "v2"} if t % 2 else {"x": x}
        observations.append(Observation(params, math.sin(x)))
    return np.array([o.loss for o in observations])


@pytest.mark.parametrize("seed", range(4))
def test_parzen_learns_the_sinus(seed):
    tpe, random = run_sinus("parzen_estimator", seed), run_sinus("random", seed + 100)
    assert tpe[30:].mean() <= -0.4
    assert tpe[30:].mean() <= tpe[:20].mean() - 0.3
    assert tpe.min() < -0.95
    assert tpe[30:].mean() < random[30:].mean()


@pytest.mark.parametrize(
    "options",
    [
        {"candidates_from": "below"},
        {"pick": "best"},
        {"candidates_from": "below", "pick": "best", "multivariate": True, "gamma": 0.1},
    ],
)
def test_the_options_beyond_the_reference_learn_too(options):
    losses = run_sinus("parzen_estimator", 0, options)
    assert losses[30:].mean() <= -0.6 and losses.min() < -0.95


def test_options_keep_values_exact_on_a_mixed_space():
    rng = np.random.default_rng(3)
    observations: list[Observation] = []
    options = {"candidates_from": "below", "pick": "best", "multivariate": True}
    for t in range(60):
        answer = suggest(SCENARIO_7, observations, "parzen_estimator", seed=t, options=options)
        assert_scenario_7_values(answer.values)
        observations.append(Observation(answer.values, float(rng.normal())))


def weighted_scenario(swap: bool) -> list[Observation]:
    """Scenario 9: 30 good trials near 1 (weight 1), 30 equally good near 9 (weight 0), 40 bad ones."""
    rng = np.random.default_rng(9)
    near_1 = [Observation({"x": float(1 + rng.normal(0, 0.2))}, 0.0, 1.0) for _ in range(30)]
    near_9 = [Observation({"x": float(9 + rng.normal(0, 0.2))}, 0.0, 0.0) for _ in range(30)]
    spread = [Observation({"x": float(x)}, 1.0) for x in rng.uniform(0, 10, 40)]
    if swap:
        near_1 = [Observation(o.params, o.loss, 0.0) for o in near_1]
        near_9 = [Observation(o.params, o.loss, 1.0) for o in near_9]
    return near_1 + near_9 + spread


@pytest.mark.parametrize(("swap", "expect_high"), [(False, False), (True, True)])
def test_weights_steer_the_suggestions(swap, expect_high):
    space = SearchSpace([NumericParam("x", "uniform", low=0, high=10)])
    observations = weighted_scenario(swap)
    xs = [suggest(space, observations, "parzen_estimator", seed=s).values["x"] for s in range(20)]
    assert bool(np.median(xs) > 5) == expect_high


def test_weights_enter_the_split():
    assert _split(np.ones(100), 0.15) == 15
    assert _split(np.ones(6), 0.15) == 1  # "l" is never empty
    assert _split(np.ones(1), 0.15) == 1  # and "g" may be
    assert _split(np.array([0.1, 0.1, 5.0, 1.0, 1.0]), 0.15) == 3  # cumulative 0.1, 0.2, 5.2 >= 1.08
    assert _split(np.array([10.0, 1.0, 1.0]), 0.15) == 1


def test_mixture_widths_means_and_shares():
    # One parameter, prior centre 0 and width 1 (standardised), bounds ±0.5, observations at 0.1 and 0.4.
    mixture = _Mixtures.build(
        np.array([[0.1, 0.4]]), np.array([1.0, 3.0]), np.array([[-0.5]]), np.array([[0.5]]), 0.05
    )
    assert mixture.mus.tolist() == [[0.0, 0.1, 0.4]]
    # Larger neighbour gap: 0.1 → max(0.1, 0.3); 0.4 → 0.3; clipped to [1/min(100, 1+2), 1] = [1/3, 1].
    assert np.allclose(mixture.sigmas, [[1.0, 1 / 3, 1 / 3]])
    assert np.allclose(mixture.shares, [0.05, 0.95 * 0.25, 0.95 * 0.75])  # weights 1 and 3
    many = _Mixtures.build(
        np.linspace(-0.5, 0.5, 200)[None, :], np.ones(200), np.array([[-1]]), np.array([[1]]), 0.05
    )
    assert np.isclose(many.sigmas[0, 1:].min(), 1 / 100)  # the clip floor, min(100, 1 + n) = 100
    empty = _Mixtures.build(np.zeros((1, 0)), np.zeros(0), np.array([[-0.5]]), np.array([[0.5]]), 0.05)
    assert empty.mus.tolist() == [[0.0]] and empty.shares.tolist() == [1.0]  # the prior alone


def test_mixture_density_integrates_to_one():
    lo, hi = np.array([[-0.5]]), np.array([[0.5]])
    mixture = _Mixtures.build(np.array([[0.45, -0.2, 0.0]]), np.array([1.0, 2.0, 0.5]), lo, hi, 0.05)
    grid = np.linspace(-0.5, 0.5, 20001)[None, :]
    density = np.exp(mixture.log_pdf(grid))[0]
    assert np.isclose(np.trapezoid(density, grid[0]), 1.0, atol=1e-4)


def test_categorical_density():
    prior = np.array([0.5, 0.25, 0.25])
    density = _category_density(np.array([0, 2, 2]), np.array([1.0, 1.0, 2.0]), prior, 0.05)
    assert np.allclose(density, 0.05 * prior + 0.95 * np.array([0.25, 0.0, 0.75]))
    assert np.allclose(_category_density(np.array([], dtype=np.intp), np.zeros(0), prior, 0.05), prior)


def test_categorical_learns_and_never_proposes_a_zero_probability_value():
    space = SearchSpace([CategoricalParam("c", ["a", "b", "c", "z"], [0.4, 0.3, 0.3, 0.0])])
    # "z" has the best loss but probability 0; among the others, "b" is best.
    results = [("z", -1.0)] * 5 + [("b", 0.0)] * 6 + [("a", 1.0)] * 10 + [("c", 1.0)] * 10
    observations = [Observation({"c": c}, loss) for c, loss in results]
    for options in ({}, {"candidates_from": "below"}, {"pick": "best"}):
        picks = [
            suggest(space, observations, "parzen_estimator", seed=s, options=options).values["c"]
            for s in range(40)
        ]
        assert "z" not in picks
        assert picks.count("b") > 20, (options, picks)


def test_subsample_is_at_most_the_setting_and_ignores_unusable_observations():
    # 300 unusable observations mixed with 30 good ones near x = 2: the sample must still find them.
    space = SearchSpace([NumericParam("x", "uniform", low=0, high=10)])
    rng = np.random.default_rng(0)
    good = [Observation({"x": float(2 + rng.normal(0, 0.1))}, -1.0) for _ in range(30)]
    bad = [Observation({"x": 50.0}, -5.0) for _ in range(300)]
    rest = [Observation({"x": float(x)}, 1.0) for x in rng.uniform(0, 10, 70)]
    observations = bad[:150] + good + bad[150:] + rest
    xs = [suggest(space, observations, "parzen_estimator", seed=s).values["x"] for s in range(15)]
    assert abs(np.median(xs) - 2) < 1.0
    small = suggest(space, observations, "parzen_estimator", seed=1, options={"subsample": 5})
    assert small.optimizer_used == "parzen_estimator"
