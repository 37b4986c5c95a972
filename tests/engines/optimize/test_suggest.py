"""The public `suggest` API: arguments, fallbacks, determinism and observation filtering."""

import logging
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crucible.engines import optimize
from crucible.engines.optimize import (
    CategoricalParam,
    NumericParam,
    Observation,
    SearchSpace,
    Suggestion,
    is_usable,
    optimizer_names,
    sample_prior,
    suggest,
    usable_observations,
)
from crucible.engines.optimize.observations import usable_mask

from .scenario_spaces import SCENARIO_7, SINUS, assert_scenario_7_values

OPTIMIZERS = ["random", "parzen_estimator", "gaussian_process"]


def history(space: SearchSpace, n: int, seed: int = 0) -> list[Observation]:
    rng = np.random.default_rng(seed)
    return [Observation(sample_prior(space, rng), float(rng.normal())) for _ in range(n)]


def test_optimizer_names():
    assert optimizer_names() == OPTIMIZERS
    assert optimize.DEFAULT_OPTIMIZER == "parzen_estimator"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"optimizer": "grid"},
            "unknown optimizer 'grid'; valid: random, parzen_estimator, gaussian_process",
        ),
        ({"seed": -1}, "seed must be an integer >= 0"),
        ({"seed": True}, "seed must be an integer >= 0"),
        ({"seed": 1.5}, "seed must be an integer >= 0"),
        ({"options": {"gama": 0.2}}, r"unknown options \['gama'\]"),
        ({"options": {"gamma": 0}}, r"option 'gamma' must be a number in \(0, 1\]"),
        ({"options": {"gamma": "0.2"}}, "option 'gamma' must be a number"),
        ({"options": {"candidates": 2.5}}, "option 'candidates' must be an integer >= 1"),
        ({"options": {"pick": "worst"}}, "option 'pick' must be one of best_third, best"),
        ({"options": {"multivariate": 1}}, "option 'multivariate' must be true or false"),
        ({"optimizer": "random", "options": {"gamma": 0.2}}, "the random optimizer takes no options"),
        ({"optimizer": "gaussian_process", "options": {"kernel": "cubic"}}, "option 'kernel' must be one of"),
        (
            {"optimizer": "gaussian_process", "options": {"acquisition_function": "pi"}},
            "must be one of ucb, ei",
        ),
        ({"optimizer": "gaussian_process", "options": {"kappa": -1}}, "option 'kappa' must be a number"),
    ],
)
def test_bad_arguments_raise_value_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        suggest(SINUS, history(SINUS, 5), **kwargs)


def test_bad_inputs_raise_value_errors():
    with pytest.raises(ValueError, match="space must be a SearchSpace"):
        suggest([NumericParam("x", "uniform", low=0, high=1)], [])
    with pytest.raises(ValueError, match="observations must be Observation instances, not dict"):
        suggest(SINUS, [{"x": 1.0}])
    with pytest.raises(ValueError, match=r"Observation\.params must be a mapping"):
        Observation([1.0], loss=0.0)


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_same_seed_same_answer(optimizer):
    observations = history(SCENARIO_7, 40)
    first = suggest(SCENARIO_7, observations, optimizer, seed=123)
    assert first == suggest(SCENARIO_7, observations, optimizer, seed=123)
    assert first.optimizer_used == optimizer
    answers = {repr(suggest(SCENARIO_7, observations, optimizer, seed=s).values) for s in range(5)}
    assert len(answers) == 5


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_unseeded_answers_vary(optimizer):
    observations = history(SINUS, 20)
    answers = {suggest(SINUS, observations, optimizer).values["x"] for _ in range(5)}
    assert len(answers) > 1


@pytest.mark.parametrize("optimizer", ["parzen_estimator", "gaussian_process"])
def test_without_usable_observations_the_answer_is_a_prior_draw(optimizer):
    out_of_bounds = [Observation({"x": 7.0 + i}, loss=0.0) for i in range(40)]
    answer = suggest(SINUS, out_of_bounds, optimizer, seed=1)
    assert answer == Suggestion(sample_prior(SINUS, np.random.default_rng(1)), "random")
    assert suggest(SINUS, [], optimizer, seed=1).optimizer_used == "random"


def test_gaussian_process_needs_two_usable_observations():
    assert suggest(SINUS, history(SINUS, 1), "gaussian_process", seed=0).optimizer_used == "random"
    assert suggest(SINUS, history(SINUS, 2), "gaussian_process", seed=0).optimizer_used == "gaussian_process"


@pytest.mark.parametrize("optimizer", ["parzen_estimator", "gaussian_process"])
def test_an_internal_failure_is_answered_with_a_prior_draw(optimizer, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    from crucible.engines.optimize import optimizers

    monkeypatch.setitem(
        optimizers._OPTIMIZERS,
        optimizer,
        optimizers._Optimizer(optimizers._OPTIMIZERS[optimizer].settings, broken),
    )
    with caplog.at_level(logging.ERROR):
        answer = suggest(SINUS, history(SINUS, 10), optimizer, seed=4)
    assert answer == Suggestion(sample_prior(SINUS, np.random.default_rng(4)), "random")
    assert "boom" in caplog.text


@pytest.mark.parametrize("n", range(1, 7))
def test_parzen_with_one_to_six_observations(n):
    for seed in range(10):
        answer = suggest(SCENARIO_7, history(SCENARIO_7, n, seed), "parzen_estimator", seed=seed)
        assert answer.optimizer_used == "parzen_estimator"
        assert_scenario_7_values(answer.values)


def test_lognormal_without_low_under_parzen():
    space = SearchSpace([NumericParam("lr", "lognormal", mu=1e-3, sigma=10)])
    observations = history(space, 35)
    for seed in range(20):
        answer = suggest(space, observations, "parzen_estimator", seed=seed)
        assert answer.optimizer_used == "parzen_estimator"
        assert type(answer.values["lr"]) is float and answer.values["lr"] > 0


def test_scenario_7_every_value_is_exact_and_usable():
    observations: list[Observation] = []
    rng = np.random.default_rng(7)
    for t in range(200):
        optimizer = "random" if t < 100 else "parzen_estimator"
        answer = suggest(SCENARIO_7, observations, optimizer, seed=t)
        assert answer.optimizer_used == optimizer
        assert_scenario_7_values(answer.values)
        observations.append(Observation(answer.values, loss=float(rng.normal())))
    assert len(usable_observations(SCENARIO_7, observations)) == 200


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_an_empty_space_gets_an_empty_answer(optimizer):
    assert suggest(SearchSpace([]), [Observation({}, 1.0), Observation({}, 2.0)], optimizer).values == {}


def test_usable_observations_filter():
    space = SearchSpace(
        [NumericParam("x", "uniform", low=0, high=1, step=0.25), CategoricalParam("c", ["a", 1, [2]])]
    )
    good = {"x": 0.5, "c": "a"}
    kept = [
        Observation(good, 1.0),
        Observation({"x": 0.3, "c": 1.0}, -2),  # off the grid, and 1.0 == 1: still usable
        Observation({"x": 1, "c": [2]}, 0.0, weight=0.5),  # x == high counts as inside
        Observation({**good, "run": "v2"}, 1.0),  # extra keys are ignored
    ]
    dropped = [
        Observation({"x": 0.5}, 1.0),  # lacks a parameter
        Observation({"x": 1.01, "c": "a"}, 1.0),  # out of bounds
        Observation({"x": "0.5", "c": "a"}, 1.0),  # not a number
        Observation({"x": True, "c": "a"}, 1.0),  # booleans are not numbers
        Observation({"x": 0.5, "c": "b"}, 1.0),  # not one of the values
        Observation({"x": 0.5, "c": True}, 1.0),  # True is not 1
        Observation(good, math.nan),
        Observation(good, math.inf),
        Observation(good, "1.0"),  # the engine takes numeric losses; dialects parse strings
        Observation(good, True),
        Observation(good, 1.0, weight=0),
        Observation(good, 1.0, weight=-1),
        Observation(good, 1.0, weight=math.nan),
    ]
    assert usable_observations(space, dropped + kept + dropped) == kept
    assert [is_usable(space, o) for o in kept + dropped] == [True] * len(kept) + [False] * len(dropped)


JSONISH = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.floats(-2, 2),
    st.sampled_from([math.nan, math.inf, 10**400, "a", "0.5", [2], [True]]),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(JSONISH, JSONISH, JSONISH, JSONISH, st.booleans()), max_size=30))
def test_the_vectorised_filter_agrees_with_is_usable(rows):
    space = SearchSpace(
        [
            NumericParam("x", "uniform", low=-1, high=1),
            NumericParam("y", "lognormal", mu=1, sigma=2),
            CategoricalParam("c", ["a", 1, [2], True]),
        ]
    )
    observations = []
    for x, y, c, loss, with_weight in rows:
        params = {"x": x, "c": c} if y is None else {"x": x, "y": y, "c": c}
        observations.append(Observation(params, loss, weight=loss if with_weight else 1.0))
    assert list(usable_mask(space, observations)) == [is_usable(space, o) for o in observations]
