"""Search spaces shared by several test files."""

import math

from crucible.engines.optimize import CategoricalParam, NumericParam, SearchSpace

IDENTITY_VALUES = (1, "1", 2.5, True, [64, 64])

# bender.md §7 scenario 7: one parameter of every kind, with the exactness traps of §4.6.
SCENARIO_7 = SearchSpace(
    [
        NumericParam("a", "uniform", low=0, high=10, step=0.5),
        NumericParam("b", "uniform", low=1, high=100, step=1),
        NumericParam("c", "loguniform", low=1e-5, high=1e-1),
        NumericParam("d", "loguniform", low=1, high=1024, base=2),
        NumericParam("e", "normal", mu=0, sigma=1, low=-2, high=2, step=0.1),
        NumericParam("f", "lognormal", mu=1, sigma=10, high=1000),
        CategoricalParam("g", [3, 5, 7]),
        CategoricalParam("h", [True, False]),
        CategoricalParam("i", list(IDENTITY_VALUES)),
    ]
)

SINUS = SearchSpace([NumericParam("x", "uniform", low=0, high=2 * math.pi)])


def assert_scenario_7_values(values: dict) -> None:
    """Every check of scenario 7, on one suggestion."""
    assert set(values) == set("abcdefghi")
    a, b, c, d, e, f, g, h, i = (values[name] for name in "abcdefghi")
    assert a in [k * 0.5 for k in range(20)] and type(a) is float
    assert type(b) is int and 1 <= b <= 99
    assert type(c) is float and 1e-5 <= c < 1e-1
    assert type(d) is float and 1 <= d < 1024
    assert type(e) is float and -2 <= e <= 2 and len(repr(e).split(".")[1]) == 1
    assert type(f) is float and 0 < f <= 1000
    assert type(g) is int and g in (3, 5, 7)
    assert type(h) is bool
    assert any(type(i) is type(v) and i == v for v in IDENTITY_VALUES), i
