"""Value exactness (bender.md §4.6): every returned value satisfies §4.3's "valid values" exactly."""

import math
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crucible.engines.optimize import CategoricalParam, NumericParam, SearchSpace, sample_prior
from crucible.engines.optimize.values import exact_value

STEPS = st.sampled_from([1, 2, 5, 10, 0.1, 0.5, 0.25, 0.05, 0.01, 0.001, 0.3, 1.5, 2.5e-4])
DECIMAL_NUMBERS = st.one_of(
    st.integers(-1000, 1000),
    st.integers(-10_000, 10_000).map(lambda k: k / 10),
    st.integers(-10_000, 10_000).map(lambda k: k / 100),
    st.floats(-1e4, 1e4, allow_nan=False, allow_infinity=False),
)


@st.composite
def numeric_params(draw) -> NumericParam:
    distribution = draw(st.sampled_from(["uniform", "loguniform", "normal", "lognormal"]))
    step = draw(st.none() | STEPS)
    if distribution in ("uniform", "loguniform"):
        if distribution == "uniform":
            low = draw(DECIMAL_NUMBERS)
        else:
            low = draw(st.sampled_from([1e-5, 1e-3, 0.01, 0.5, 1, 2, 3.7, 100]))
        span = draw(st.sampled_from([0.001, 0.3, 1, 2, 7.5, 10, 1000]))
        high = low + span
        if step is not None and step > high - low:
            step = None
        return NumericParam("p", distribution, low=low, high=high, step=step)
    if distribution == "normal":
        mu, sigma = draw(DECIMAL_NUMBERS), draw(st.sampled_from([0.01, 0.5, 1, 3, 100]))
        low = draw(st.none() | st.just(mu - 2 * sigma) | DECIMAL_NUMBERS)
        high = draw(st.none() | st.just(mu + 2 * sigma) | DECIMAL_NUMBERS)
    else:
        mu, sigma = draw(st.sampled_from([1e-3, 0.5, 1, 10, 1e4])), draw(st.sampled_from([1.5, 2, 10, 100]))
        low = draw(st.none() | st.sampled_from([1e-4, 0.1, 1, 5]))
        high = draw(st.none() | st.sampled_from([0.5, 1, 10, 1000, 1e6]))
    if low is not None and high is not None and not high > low:
        low, high = None, None
    try:
        return NumericParam("p", distribution, low=low, high=high, mu=mu, sigma=sigma, step=step)
    except ValueError:  # e.g. bounds narrower than the step leave no grid point: draw another
        draw(st.nothing())


def assert_valid(param: NumericParam, value) -> None:
    """The "valid values" column of §4.3, checked exactly on the returned value."""
    assert type(value) in (int, float), value
    assert math.isfinite(value)
    if param.low is not None:
        assert value >= param.low
    if param.high is not None:
        assert value < param.high if param.distribution in ("uniform", "loguniform") else value <= param.high
    if param.distribution == "lognormal":
        assert value > 0
    if param.step is None:
        assert type(value) is float
        return
    anchor, step = param.anchor, param.step
    if isinstance(anchor, int) and isinstance(step, int):
        assert type(value) is int
        assert (value - anchor) % step == 0
        return
    assert type(value) is float
    decimals = max(_decimals(anchor), _decimals(step))
    assert _decimals(value) <= decimals, (value, decimals)
    k = (value - anchor) / step
    assert abs(k - round(k)) < 1e-6 * max(1.0, abs(k)), (value, anchor, step)


def _decimals(number) -> int:
    return max(0, -Decimal(repr(number)).as_tuple().exponent)


@settings(max_examples=300, deadline=None)
@given(numeric_params(), st.floats(allow_nan=False, allow_infinity=False), st.integers(0, 2**32))
def test_any_draw_lands_on_a_valid_value(param, x, seed):
    assert_valid(param, exact_value(param, x))
    assert_valid(param, sample_prior(SearchSpace([param]), np.random.default_rng(seed))["p"])


@settings(max_examples=200, deadline=None)
@given(numeric_params(), st.floats(-1e3, 1e3))
def test_the_nearest_grid_point_is_chosen_inside_the_bounds(param, x):
    if param.step is None:
        return
    lower = param.low if param.low is not None else (0 if param.distribution == "lognormal" else -math.inf)
    upper = param.high if param.high is not None else math.inf
    value = exact_value(param, x)
    if lower + param.step <= x <= upper - param.step:  # well inside: no clamping at a bound
        assert abs(value - x) <= param.step / 2 + 1e-9 * max(1.0, abs(x))


def test_decimal_steps_are_rounded():
    e = NumericParam("e", "normal", mu=0, sigma=1, low=-2, high=2, step=0.1)
    assert exact_value(e, 0.31) == 0.3 and repr(exact_value(e, 0.31)) == "0.3"
    assert repr(exact_value(e, -0.04)) == "0.0"  # never "-0.0"
    a = NumericParam("a", "uniform", low=0, high=10, step=0.5)
    assert [exact_value(a, x) for x in (9.99, 9.74, 0.2, -3)] == [9.5, 9.5, 0.0, 0.0]
    fine = NumericParam("f", "uniform", low=0.1, high=1, step=0.01)
    assert repr(exact_value(fine, 0.7)) == "0.7" and repr(exact_value(fine, 0.29)) == "0.29"


def test_integer_grids_give_ints():
    b = NumericParam("b", "uniform", low=1, high=100, step=1)
    assert exact_value(b, 54.6) == 55 and type(exact_value(b, 54.6)) is int
    assert exact_value(b, 99.9) == 99  # high is excluded for uniform
    assert type(exact_value(NumericParam("q", "uniform", low=1.0, high=100, step=1), 3.2)) is float
    units = NumericParam("u", "lognormal", mu=64, sigma=4, step=16)
    assert exact_value(units, 3.0) == 16  # k >= 1 without low
    assert type(exact_value(NumericParam("n", "normal", mu=5, sigma=2, step=2), -100.0)) is int


def test_continuous_values_stay_strictly_inside_half_open_bounds():
    c = NumericParam("c", "loguniform", low=1e-5, high=1e-1)
    assert exact_value(c, 1e-1) < 1e-1 and exact_value(c, 1.0) < 1e-1 and exact_value(c, 0) == 1e-5
    f = NumericParam("f", "lognormal", mu=1, sigma=10, high=1000)
    assert exact_value(f, 1000.0) == 1000.0 and exact_value(f, 0.0) > 0 and exact_value(f, -5.0) > 0


IDENTITY_VALUES = [1, "1", 2.5, True, [64, 64], False, 0, {"k": [1, None]}, "", -3]


@pytest.mark.parametrize("seed", range(5))
def test_categorical_values_come_back_exactly_as_stored(seed):
    param = CategoricalParam("i", IDENTITY_VALUES)
    space = SearchSpace([param])
    rng = np.random.default_rng(seed)
    seen = set()
    for _ in range(200):
        value = sample_prior(space, rng)["i"]
        matches = [i for i, v in enumerate(IDENTITY_VALUES) if type(v) is type(value) and v == value]
        assert matches, value
        seen.update(matches)
    assert seen == set(range(len(IDENTITY_VALUES)))


def test_returned_containers_are_copies():
    param = CategoricalParam("i", [[64, 64]])
    value = sample_prior(SearchSpace([param]), np.random.default_rng(0))["i"]
    value.append(1)
    assert param.values == ([64, 64],)
