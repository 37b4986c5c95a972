"""Search-space validation (bender.md §4.3) and the membership rules observations are filtered by."""

import math

import numpy as np
import pytest

from crucible.engines.optimize import (
    CategoricalParam,
    NumericParam,
    SearchSpace,
    SpaceError,
    contains,
    json_equal,
)


def numeric(distribution: str, **fields):
    return NumericParam("p", distribution, **fields)


@pytest.mark.parametrize(
    ("distribution", "fields", "message"),
    [
        # uniform / loguniform: bounds and step
        ("uniform", {"low": 0}, "requires 'low' and 'high'"),
        ("uniform", {"high": 1}, "requires 'low' and 'high'"),
        ("uniform", {"low": 1, "high": 1}, "'high' must be greater than 'low'"),
        ("uniform", {"low": 2, "high": 1}, "'high' must be greater than 'low'"),
        ("uniform", {"low": 0, "high": 1, "step": 0}, "0 < step <= high - low"),
        ("uniform", {"low": 0, "high": 1, "step": -0.5}, "0 < step <= high - low"),
        ("uniform", {"low": 0, "high": 1, "step": 1.5}, "0 < step <= high - low"),
        ("loguniform", {"low": 0, "high": 1}, "requires 'low' > 0"),
        ("loguniform", {"low": -1, "high": 1}, "requires 'low' > 0"),
        ("loguniform", {"low": 1, "high": 10, "step": 10}, "0 < step <= high - low"),
        ("loguniform", {"low": 1, "high": 10, "base": 1}, "'base' must be > 0 and != 1"),
        ("loguniform", {"low": 1, "high": 10, "base": 0}, "'base' must be > 0 and != 1"),
        ("loguniform", {"low": 1, "high": 10, "base": -2}, "'base' must be > 0 and != 1"),
        # normal
        ("normal", {"mu": 0}, "requires 'mu' and 'sigma'"),
        ("normal", {"sigma": 1}, "requires 'mu' and 'sigma'"),
        ("normal", {"mu": 0, "sigma": 0}, "requires 'sigma' > 0"),
        ("normal", {"mu": 0, "sigma": -1}, "requires 'sigma' > 0"),
        ("normal", {"mu": 0, "sigma": 1, "low": 1, "high": 1}, "'high' must be greater than 'low'"),
        ("normal", {"mu": 0, "sigma": 1, "step": 0}, "'step' must be > 0"),
        # lognormal
        ("lognormal", {"mu": 0, "sigma": 10}, "requires 'mu' > 0"),
        ("lognormal", {"mu": 1, "sigma": 1}, "requires 'sigma' > 1"),
        ("lognormal", {"mu": 1, "sigma": 0.5}, "requires 'sigma' > 1"),
        ("lognormal", {"mu": 1, "sigma": 10, "low": 0}, "requires 'low' > 0 when given"),
        ("lognormal", {"mu": 1, "sigma": 10, "low": 5, "high": 5}, "'high' must be greater than 'low'"),
        ("lognormal", {"mu": 1, "sigma": 10, "high": -1}, "requires 'high' > 0"),
        ("lognormal", {"mu": 1, "sigma": 10, "step": -1}, "'step' must be > 0"),
        ("lognormal", {"mu": 1, "sigma": 10, "base": 1}, "'base' must be > 0 and != 1"),
        # numbers: booleans are not numbers, nor strings, nor non-finite floats
        ("uniform", {"low": True, "high": 3}, "'low' must be a number, not True"),
        ("uniform", {"low": 0, "high": "3"}, "'high' must be a number"),
        ("uniform", {"low": 0, "high": math.inf}, "'high' must be a finite number"),
        ("normal", {"mu": math.nan, "sigma": 1}, "'mu' must be a finite number"),
        ("uniform", {"low": 0, "high": 1, "step": False}, "'step' must be a number"),
        # fields that do not apply, and a grid with no point inside the bounds
        ("uniform", {"low": 0, "high": 1, "mu": 0.5}, "'mu' does not apply to a uniform parameter"),
        ("normal", {"mu": 0, "sigma": 1, "base": 2}, "'base' does not apply to a normal parameter"),
        ("uniform", {"low": 0, "high": 1, "anchor": 0}, "'anchor' needs a 'step'"),
        ("normal", {"mu": 0, "sigma": 1, "low": 0.2, "high": 0.3, "step": 1, "anchor": 0}, "no grid point"),
        ("uniform", {"low": 1e20, "high": 1e20 + 1e6, "step": 1.0}, "too small for the magnitude"),
        ("gauss", {"mu": 0, "sigma": 1}, "unknown distribution 'gauss'"),
    ],
)
def test_numeric_rules(distribution, fields, message):
    with pytest.raises(SpaceError, match="parameter 'p': .*" + _escape(message)) as caught:
        numeric(distribution, **fields)
    assert caught.value.param == "p"
    assert message.split("'")[0] in caught.value.reason


@pytest.mark.parametrize(
    ("values", "probabilities", "message"),
    [
        ([], None, "'values' must not be empty"),
        ([1, None], None, "'values' must not contain null"),
        ("abc", None, "'values' must be a list"),
        ([1, math.nan], None, "JSON values only"),
        ([1, {3}], None, "JSON values only"),
        ([1, 2], [1.0], "same length as 'values' (1 != 2)"),
        ([1, 2], [1.2, -0.2], "each probability must be >= 0"),
        ([1, 2, 3], [0.3, 0.3, 0.3], "must sum to 1"),
        ([1, 2], [0.5, True], "'probabilities' must be a number"),
    ],
)
def test_categorical_rules(values, probabilities, message):
    with pytest.raises(SpaceError, match=_escape(message)):
        CategoricalParam("c", values, probabilities)


def test_valid_spaces_are_accepted_and_normalised():
    assert numeric("uniform", low=0, high=1, step=1).grid is not None  # step == high - low is allowed
    assert numeric("loguniform", low=1e-5, high=1e-1, base=math.e).base == math.e
    assert numeric("lognormal", mu=1e-3, sigma=10).bounds.excludes_low
    probabilities = CategoricalParam("c", [1, 2, 3], [0.2, 0.3, 0.5 + 5e-7]).probabilities
    assert probabilities == (0.2, 0.3, 0.5 + 5e-7)  # within 1 ± 1e-6
    assert CategoricalParam("c", [[64, 64], {"a": 1}]).values == ([64, 64], {"a": 1})
    assert numeric("uniform", low=np.int64(0), high=np.float64(1.5)).low == 0  # numpy numbers are numbers


def test_default_anchor_follows_bender():
    assert numeric("uniform", low=0.5, high=10, step=1).anchor == 0.5
    assert numeric("normal", mu=3, sigma=1, step=0.5).anchor == 3
    assert numeric("normal", mu=3, sigma=1, low=1, step=0.5).anchor == 1
    lognormal = numeric("lognormal", mu=1, sigma=10, step=2)
    assert lognormal.anchor == 0 and lognormal.grid.k_min == 1  # v = k·step with k >= 1
    assert numeric("uniform", low=0.5, high=10, step=1, anchor=0).anchor == 0


def test_search_space_needs_unique_names():
    a = numeric("uniform", low=0, high=1)
    with pytest.raises(SpaceError, match="parameter 'p': duplicate parameter name"):
        SearchSpace([a, CategoricalParam("p", [1])])
    with pytest.raises(SpaceError, match="not a parameter"):
        SearchSpace([{"name": "x"}])
    space = SearchSpace([a, CategoricalParam("q", [1])])
    assert space.names == ["p", "q"] and len(space) == 2


def test_numeric_membership_is_inclusive_of_high_and_ignores_the_grid():
    uniform = numeric("uniform", low=0, high=10, step=0.5)
    assert contains(uniform, 0) and contains(uniform, 10) and contains(uniform, 3.14159)
    assert not contains(uniform, -0.001) and not contains(uniform, 10.001)
    for bad in (True, "5", None, math.nan, math.inf, [5], 10**400):
        assert not contains(uniform, bad)
    assert contains(uniform, np.float32(2.5))
    lognormal = numeric("lognormal", mu=1, sigma=10)
    assert contains(lognormal, 1e-300) and not contains(lognormal, 0) and not contains(lognormal, -1)
    normal = numeric("normal", mu=0, sigma=1)
    assert contains(normal, -1e300)


def test_categorical_membership_uses_json_equality():
    values = CategoricalParam("i", [1, "1", 2.5, True, [64, 64], {"a": [1, "x"]}])
    assert contains(values, 1.0) and contains(values, "1") and contains(values, True)
    assert contains(values, (64, 64.0)) and contains(values, {"a": [1.0, "x"]})
    assert not contains(values, 2) and not contains(values, "2.5") and not contains(values, False)
    assert (
        not contains(values, [64, "64"])
        and not contains(values, {"a": [True, "x"]})
        and not contains(values, None)
    )
    numbers_only = CategoricalParam("n", [0, 1])
    assert not contains(numbers_only, False) and not contains(numbers_only, True)
    assert values.index_of(True) == 3 and values.index_of(1.0) == 0


def test_json_equality():
    assert json_equal(1, 1.0) and json_equal([1, {"a": 2}], [1.0, {"a": 2.0}])
    assert not json_equal(1, True) and not json_equal(0, False) and not json_equal("1", 1)
    assert not json_equal([1, 2], [2, 1]) and not json_equal({"a": 1}, {"a": 1, "b": 2})
    assert not json_equal(object(), object())


def _escape(text: str) -> str:
    import re

    return re.escape(text)
