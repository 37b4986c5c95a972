"""Scenario 7: every suggested value is exactly valid for its search space, through the real client."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

from _common import User, captured, report

SPACE = [
    {"name": "a", "category": "uniform", "search_space": {"low": 0, "high": 10, "step": 0.5}},
    {"name": "b", "category": "uniform", "search_space": {"low": 1, "high": 100, "step": 1}},
    {"name": "c", "category": "loguniform", "search_space": {"low": 1e-5, "high": 1e-1}},
    {"name": "d", "category": "loguniform", "search_space": {"low": 1, "high": 1024, "base": 2}},
    {
        "name": "e",
        "category": "normal",
        "search_space": {"mu": 0, "sigma": 1, "low": -2, "high": 2, "step": 0.1},
    },
    {"name": "f", "category": "lognormal", "search_space": {"mu": 1, "sigma": 10, "high": 1000}},
    {"name": "g", "category": "categorical", "search_space": {"values": [3, 5, 7]}},
    {"name": "h", "category": "categorical", "search_space": {"values": [True, False]}},
    {"name": "i", "category": "categorical", "search_space": {"values": [1, "1", 2.5, True, [64, 64]]}},
]
I_VALUES: list[Any] = [1, "1", 2.5, True, [64, 64]]


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def check(values: dict[str, Any]) -> None:
    assert set(values) == set("abcdefghi"), values
    a, b, c, d, e, f, g, h, i = (values[name] for name in "abcdefghi")
    assert is_number(a) and a in [k / 2 for k in range(20)], a
    assert type(b) is int and 1 <= b <= 99, b
    assert is_number(c) and 1e-5 <= c < 1e-1, c
    assert is_number(d) and 1 <= d < 1024, d
    assert is_number(e) and -2 <= e <= 2 and -Decimal(repr(e)).as_tuple().exponent <= 1, e
    assert is_number(f) and 0 < f <= 1000, f
    assert type(g) is int and g in (3, 5, 7), g
    assert type(h) is bool, h
    assert any(type(i) is type(v) and i == v for v in I_VALUES), i


alice = User("ALICE")
bender = alice.client()
with captured():
    bender.create_experiment(name="Exactness", metrics=[{"metric_name": "loss", "type": "loss"}])
    bender.create_algo(name="Every category", hyperparameters=SPACE)
seen: dict[str, set[str]] = {name: set() for name in "abcdefghi"}
for step in range(200):
    optimizer = "random" if step < 100 else "parzen_estimator"
    values = bender.suggest(metric="loss", optimizer=optimizer, minimum_observations=100)
    check(values)
    for name, value in values.items():
        seen[name].add(repr(value))
    loss = values["a"] + values["b"] / 10 + math.log10(values["c"]) + values["e"] ** 2
    bender.create_trial(hyperparameters=values, results={"loss": loss})

# all 200 trials are usable observations
algo = bender.get_algo().id
used = [
    alice.raw("POST", f"/api/algos/{algo}/suggest/", json={"metric": "loss", "minimum_observations": n})
    for n in (200, 201)
]
assert [r.headers["X-Bender-Optimizer-Used"] for r in used] == ["parzen_estimator", "random"]
report({name: len(values) for name, values in seen.items()})
