"""Polyaxonfile decoding/validation and the hptuning → engine translation (spec §4.1, §4.7)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from crucible.dialects.polyaxon import content, search
from crucible.engines.optimize import CategoricalParam, NumericParam


def test_decoding_order() -> None:
    assert content.decode('{"kind": "experiment"}') == {"kind": "experiment"}
    assert content.decode("{'run': {'cmd': None}, 'x': True}") == {"run": {"cmd": None}, "x": True}
    assert content.decode("kind: experiment\nx: [1, 2]\n") == {"kind": "experiment", "x": [1, 2]}
    for bad in ("", "[1, 2]", "a: [", 3):
        with pytest.raises(content.ContentError):
            content.decode(bad)


def test_derived_fields_and_rendering() -> None:
    parsed = content.parse(
        {
            "version": 1,
            "kind": "experiment",
            "declarations": {"lr": 0.1},
            "tags": ["a"],
            "environment": {"resources": {"cpu": {"requests": 1, "limits": 2}}},
            "run": {"cmd": ["python train.py --lr={{ lr }}", "echo {{ missing }}done"]},
        },
        "experiment",
    )
    assert parsed.params == {"lr": 0.1} and parsed.tags == ["a"]
    assert parsed.resources == {"cpu": {"requests": 1, "limits": 2}}
    rendered = content.render_command(parsed.data, parsed.params)
    assert rendered.command == "python train.py --lr=0.1 && echo done"
    assert len(rendered.warnings) == 1 and "`missing`" in rendered.warnings[0]
    assert content.render_command({"run": {}}, {}).command is None


def test_deep_merge_replaces_lists() -> None:
    base = {"params": {"lr": 0.1, "b": 1}, "run": {"cmd": ["a"]}}
    merged = content.deep_merge(base, {"params": {"lr": 0.5}, "run": {"cmd": ["b"]}})
    assert merged == {"params": {"lr": 0.5, "b": 1}, "run": {"cmd": ["b"]}}


def group_plan(**hptuning: Any) -> search.Plan:
    return search.plan(hptuning)


def test_matrix_options_map_onto_the_engine() -> None:
    plan = group_plan(
        matrix={
            "a": {"values": [1, 2]},
            "b": {"pvalues": [["x", 0.3], ["y", 0.7]]},
            "c": {"range": "0:10:5"},
            "d": {"linspace": {"start": 0, "stop": 1, "num": 3}},
            "e": {"logspace": "0:2:3"},
            "f": {"geomspace": [1, 100, 3]},
            "g": {"range": [0, 1, 0.5]},
        }
    )
    params = {p.name: p for p in plan.space}
    assert params["a"].values == (1, 2)  # type: ignore[union-attr]
    assert params["b"].probabilities == (0.3, 0.7)  # type: ignore[union-attr]
    assert params["c"].values == (0, 5)  # type: ignore[union-attr]
    assert params["d"].values == (0.0, 0.5, 1.0)  # type: ignore[union-attr]
    assert params["e"].values == (1.0, 10.0, 100.0)  # type: ignore[union-attr]
    assert params["f"].values == pytest.approx((1.0, 10.0, 100.0))  # type: ignore[union-attr]
    assert params["g"].values == (0.0, 0.5)  # type: ignore[union-attr]
    assert plan.algorithm == "grid" and plan.concurrency == 1
    assert len(search.batch(plan, search.initial_state(plan, 0)) or []) == 2 * 2 * 2 * 3 * 3 * 3 * 2


def test_distributions() -> None:
    plan = group_plan(
        matrix={
            "u": {"uniform": "0.001:0.1"},
            "q": {"quniform": [0, 10, 2]},
            "lu": {"loguniform": {"low": -5, "high": 0}},
            "n": {"normal": "0:1"},
            "ln": {"qlognormal": "0:1:0.5"},
        },
        random_search={"n_experiments": 50},
        seed=3,
    )
    params = {p.name: p for p in plan.space}
    assert isinstance(params["lu"], NumericParam) and params["lu"].low == pytest.approx(math.exp(-5))
    draws = search.batch(plan, search.initial_state(plan, 0)) or []
    assert len(draws) == 50
    assert all(0.001 <= d["u"] < 0.1 and d["q"] in (0, 2, 4, 6, 8, 10) for d in draws)
    assert all(math.exp(-5) <= d["lu"] <= 1 and d["ln"] > 0 for d in draws)
    assert draws == search.batch(plan, search.initial_state(plan, 99))  # the seed decides, not the state


def test_random_search_on_discrete_space_is_distinct_and_capped() -> None:
    plan = group_plan(
        matrix={"a": {"values": [1, 2, 3]}, "b": {"values": ["x", "y"]}}, random_search={"n_experiments": 10}
    )
    draws = search.batch(plan, search.initial_state(plan, 5)) or []
    assert len(draws) == 6 and len({(d["a"], d["b"]) for d in draws}) == 6


@pytest.mark.parametrize(
    ("hptuning", "message"),
    [
        ({"matrix": {}}, "non-empty"),
        (
            {"matrix": {"lr": {"uniform": "0:1"}}},
            "`lr` defines a distribution, and it cannot be used with grid search.",
        ),
        ({"matrix": {"a": {"values": [1], "range": "0:2:1"}}}, "exactly one option"),
        ({"matrix": {"a": {"values": [1]}}, "random_search": {"n_experiments": 0}}, "n_experiments"),
        ({"matrix": {"a": {"pvalues": [[1, 0.5], [2, 0.4]]}}}, "sum to 1"),
        ({"matrix": {"a": {"pvalues": [[1, 0], [2, 1]]}}}, "(0, 1]"),
        ({"matrix": {"a": {"values": [1]}}, "concurrency": 0}, "concurrency"),
        (
            {"matrix": {"a": {"values": [1]}}, "grid_search": {}, "random_search": {"n_experiments": 1}},
            "at most one",
        ),
        ({"matrix": {"a": {"bogus": [1]}}}, "unknown option"),
        ({"matrix": {"a": {"uniform": "1:0"}}, "random_search": {"n_experiments": 1}}, "low < high"),
        (
            {
                "matrix": {"a": {"values": [1]}},
                "bo": {
                    "n_initial_trials": 1,
                    "n_iterations": 1,
                    "metric": {"name": "m"},
                    "utility_function": {"acquisition_function": "zzz"},
                },
            },
            "acquisition",
        ),
        ({"matrix": {"a": {"values": [1]}}, "hyperband": {"max_iter": 9}}, "resource"),
        ({"matrix": {"a": {"values": [1]}}, "whatever": 1}, "Unknown field"),
    ],
)
def test_validation_errors(hptuning: dict[str, Any], message: str) -> None:
    with pytest.raises(search.SearchError, match=None) as error:
        search.plan(hptuning)
    assert message in str(error.value)


def test_hyperband_schedule() -> None:
    plan = group_plan(
        matrix={"lr": {"uniform": "0:1"}},
        hyperband={
            "max_iter": 9,
            "eta": 3,
            "resource": {"name": "steps", "type": "int"},
            "metric": {"name": "loss", "optimization": "minimize"},
        },
    )
    state = search.initial_state(plan, 1)
    assert state["s_max"] == 2
    assert search.hyperband_rung(plan, state) == (9, 1.0)
    state["rung"] = 1
    assert search.hyperband_rung(plan, state) == (3, 3.0)
    state["rung"] = 2
    assert search.hyperband_rung(plan, state) == (1, 9.0)
    state["bracket"], state["rung"] = 0, 0
    assert search.hyperband_rung(plan, state) == (3, 9.0)


def test_bo_uses_the_gaussian_process_after_the_initial_trials() -> None:
    plan = group_plan(
        matrix={"x": {"uniform": "0:1"}, "c": {"values": ["a", "b"]}},
        bo={"n_initial_trials": 3, "n_iterations": 2, "metric": {"name": "score", "optimization": "maximize"},
            "utility_function": {"acquisition_function": "ei", "eps": 0.01, "gaussian_process": {"kernel": "rbf"}}},
    )  # fmt: skip
    state = search.initial_state(plan, 4)
    finished = []
    for issued in range(5):
        state["issued"] = issued
        config = search.bo_next(plan, state, finished)
        assert config is not None and 0 <= config["x"] <= 1 and config["c"] in ("a", "b")
        finished.append(search.Finished(config, {"score": -((config["x"] - 0.3) ** 2)}))
    state["issued"] = 5
    assert search.bo_next(plan, state, finished) is None
    assert isinstance(plan.space.params[1], CategoricalParam)
    assert np.isfinite(finished[-1].metrics["score"])
