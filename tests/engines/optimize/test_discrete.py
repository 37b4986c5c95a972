"""Grid enumeration and distinct random draws over all-categorical spaces (Polyaxon's grid and random)."""

import numpy as np
import pytest

from crucible.engines.optimize import (
    CategoricalParam,
    NumericParam,
    SearchSpace,
    SpaceError,
    discrete,
    grid,
    grid_size,
    sample_distinct,
)

SPACE = SearchSpace(
    [
        CategoricalParam("lr", [0.1, 0.01]),
        CategoricalParam("act", ["relu", "tanh", "gelu"]),
        CategoricalParam("shape", [[64, 64], [128]]),
    ]
)


def test_grid_is_the_cartesian_product_with_the_last_parameter_fastest():
    configurations = list(grid(SPACE))
    assert len(configurations) == grid_size(SPACE) == 12
    assert configurations[:3] == [
        {"lr": 0.1, "act": "relu", "shape": [64, 64]},
        {"lr": 0.1, "act": "relu", "shape": [128]},
        {"lr": 0.1, "act": "tanh", "shape": [64, 64]},
    ]
    assert configurations[-1] == {"lr": 0.01, "act": "gelu", "shape": [128]}
    assert list(grid(SearchSpace([]))) == [{}]


def test_grid_needs_categorical_parameters():
    space = SearchSpace([CategoricalParam("a", [1]), NumericParam("x", "uniform", low=0, high=1)])
    with pytest.raises(SpaceError, match="parameter 'x': grid and distinct draws need categorical"):
        list(grid(space))
    with pytest.raises(SpaceError):
        sample_distinct(space, 3, np.random.default_rng(0))


def test_distinct_draws_are_distinct_capped_and_seeded():
    draws = sample_distinct(SPACE, 8, np.random.default_rng(1))
    assert len(draws) == 8 and len({repr(d) for d in draws}) == 8
    everything = sample_distinct(SPACE, 100, np.random.default_rng(1))
    assert len(everything) == 12 and sorted(map(repr, everything)) == sorted(map(repr, grid(SPACE)))
    assert sample_distinct(SPACE, 8, np.random.default_rng(1)) == draws
    assert sample_distinct(SPACE, 0, np.random.default_rng(1)) == []
    with pytest.raises(ValueError, match="n must be an integer >= 0"):
        sample_distinct(SPACE, -1, np.random.default_rng(1))


def test_distinct_draws_follow_the_probabilities():
    space = SearchSpace([CategoricalParam("p", ["likely", "rare", "never"], [0.9, 0.1, 0.0])])
    firsts = [sample_distinct(space, 1, np.random.default_rng(s))[0]["p"] for s in range(200)]
    assert 150 < firsts.count("likely") < 200 and "never" not in firsts
    assert [d["p"] for d in sample_distinct(space, 5, np.random.default_rng(0))] in (
        ["likely", "rare"],
        ["rare", "likely"],
    )


def test_large_spaces_use_rejection_and_never_hang(monkeypatch):
    monkeypatch.setattr(discrete, "_ENUMERATION_LIMIT", 4)
    draws = sample_distinct(SPACE, 10, np.random.default_rng(2))
    assert len({repr(d) for d in draws}) == 10
    skewed = SearchSpace([CategoricalParam("a", list(range(10)), [0.991] + [0.001] * 9)] * 1)
    monkeypatch.setattr(discrete, "_ATTEMPTS_PER_DRAW", 1)
    with pytest.raises(ValueError, match="could not draw 10 distinct configurations"):
        sample_distinct(skewed, 10, np.random.default_rng(0))
