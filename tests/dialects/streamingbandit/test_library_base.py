"""`base` estimators and `base.List` (spec §4.4, §7 scenario 19): update rules with string inputs,
operators, and the List edge cases."""

from __future__ import annotations

import random
from collections import Counter

import numpy as np
import pytest

from crucible.dialects.streamingbandit.library import base


def test_defaults_from_an_empty_dict_and_copies_of_given_ones() -> None:
    assert base.Count({}).get_dict() == {"n": 0}
    assert base.Mean({}).get_dict() == {"n": 0, "m": 0}
    assert base.Variance({}).get_dict() == {"n": 0, "x_bar": 0, "s": 0, "v": 0}
    assert base.Proportion({}).get_dict() == {"p": 0, "n": 0}
    assert base.Covariance({}).get_dict() == {"n": 0, "x_bar": 0, "y_bar": 0, "cov": 0}
    assert set(base.Correlation({}).get_dict()) == {
        "n",
        "x_bar",
        "y_bar",
        "x_s",
        "y_s",
        "x_v",
        "y_v",
        "cov",
        "c",
    }
    stored = {"n": "4", "m": "2.5"}
    mean = base.Mean(stored)
    mean.update(5)
    assert stored == {"n": "4", "m": "2.5"}  # a shallow copy is kept
    first = base.Count({})
    first.increment()
    assert base.Count({}).get_dict() == {"n": 0}  # the class default is not shared


def test_count() -> None:
    count = base.Count({"n": "2"})
    count.update()
    count.update("3")
    count.increment()
    assert count.get_dict() == {"n": 7}
    assert count.get_value() == 7.0


def test_mean_with_string_inputs() -> None:
    mean = base.Mean({"n": "2", "m": "3.0"})
    mean.update("6")
    assert mean.get_dict() == {"n": 3, "m": 4.0}
    assert mean.get_count() == 3
    assert mean.get_value() == 4.0
    mean.increment()
    assert mean.get_dict() == {"n": 4, "m": 4.0}


def test_variance_is_the_sample_variance() -> None:
    xs = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]
    variance = base.Variance({})
    variance.update(str(xs[0]))
    assert variance.get_value() == 0.0  # n = 1: v is left alone
    for x in xs[1:]:
        variance = base.Variance({k: str(v) for k, v in variance.get_dict().items()})  # via theta text
        variance.update(str(x))
    assert variance.get_dict()["n"] == 8
    assert variance.get_dict()["x_bar"] == pytest.approx(5.0)
    assert variance.get_value() == pytest.approx(np.var(xs, ddof=1))


def test_proportion_accepts_numbers_bools_and_numeric_strings() -> None:
    proportion = base.Proportion({})
    for x in (1, "0", True, "1.0"):
        proportion.update(x)
    assert proportion.get_dict() == {"p": 0.75, "n": 4}


def test_covariance_running_co_moment() -> None:
    covariance = base.Covariance({})
    for x, y in [("1", "2"), (2, 4), (3.0, "7")]:
        covariance.update({"x": x, "y": y})
    value = covariance.get_dict()
    assert value["n"] == 3
    assert value["x_bar"] == pytest.approx(2.0)
    assert value["y_bar"] == pytest.approx(13 / 3)
    # (y − ȳ_new)(x − x̄_new) summed: 0 + 0.5 + 8/3 (the original's formula, not divided by n)
    assert covariance.get_value() == pytest.approx(19 / 6)


def test_correlation_update_rule() -> None:
    correlation = base.Correlation({})
    correlation.update({"x": "1", "y": "2"})
    assert correlation.get_value() == 0.0
    correlation.update({"x": "2", "y": "4"})
    assert correlation.get_value() == pytest.approx(0.5)
    correlation.update({"x": 3, "y": 7})
    value = correlation.get_dict()
    assert value["x_v"] == pytest.approx(1.0)  # sample variances
    assert value["y_v"] == pytest.approx(19 / 3)
    assert value["cov"] == pytest.approx(19 / 6)
    assert correlation.get_value() == pytest.approx((19 / 6) / np.sqrt(19 / 3))


def test_correlation_with_constant_x_keeps_c() -> None:
    correlation = base.Correlation({})
    correlation.update({"x": 1, "y": 1})
    correlation.update({"x": 1, "y": 2})
    assert correlation.get_value() == 0.0
    assert correlation.get_dict()["x_v"] == 0.0


def test_count_and_mean_operators_add_integers_and_multiply_floats() -> None:
    count = base.Count({"n": "5"})
    assert (count + "2") is None
    assert count.get_dict() == {"n": 7}
    count - 3
    assert count.get_dict() == {"n": 4}
    count * 1.5
    assert count.get_dict() == {"n": 6.0}
    count / 4
    assert count.get_dict() == {"n": 1.5}
    mean = base.Mean({"n": "2", "m": "2.5"})
    mean + 1.9
    assert mean.get_dict()["m"] == 3  # int(2.5) + int(1.9)
    mean * "0.5"
    assert mean.get_dict()["m"] == 1.5


def test_bounded_operators_refuse_results_out_of_range() -> None:
    proportion = base.Proportion({"p": "0.75", "n": "4"})
    proportion - 0.25
    assert proportion.get_value() == 0.5
    with pytest.raises(ValueError):
        proportion + 0.6
    assert proportion.get_value() == 0.5  # unchanged after the refusal
    variance = base.Variance({"n": 3, "x_bar": 1, "s": 2, "v": "1.0"})
    with pytest.raises(ValueError):
        variance - 2
    variance * 3
    assert variance.get_value() == 3.0
    covariance = base.Covariance({"n": 3, "x_bar": 1, "y_bar": 1, "cov": "1.0"})
    with pytest.raises(ValueError):
        covariance - 1.5
    correlation = base.Correlation({**base.Correlation({}).get_dict(), "c": "0.5"})
    correlation * 2
    assert correlation.get_value() == 1.0
    with pytest.raises(ValueError):
        correlation + 0.1
    with pytest.raises(ValueError):
        correlation - 2.5


def test_list_reads_a_nested_get_theta_result() -> None:
    objects = {"1": {"p": "0.5", "n": "10"}, "2": {"p": "0.25", "n": "4"}}
    arms = base.List(objects, base.Proportion, ["1", "2", "3"])
    assert arms.num_values == 3
    assert arms.size == 3
    assert arms.get_value() == {"1": 0.5, "2": 0.25, "3": 0.0}
    assert arms.get_dict()["3"] == {"p": 0, "n": 0}
    assert arms.count() == 14
    assert arms.max() == "1"
    assert arms.min() == "3"
    assert isinstance(arms.base_list["2"], base.Proportion)


def test_list_max_is_random_while_the_best_is_zero() -> None:
    random.seed(5)
    arms = base.List({}, base.Mean, ["a", "b", "c"])
    picks = Counter(arms.max() for _ in range(300))
    assert set(picks) == {"a", "b", "c"}
    negative = base.List({"a": {"n": 1, "m": -1}, "b": {"n": 1, "m": -2}}, base.Mean, ["a", "b"])
    assert negative.max() == "a"


def test_list_ties_go_to_the_first_name() -> None:
    arms = base.List({"b": {"n": 2, "m": "3"}, "c": {"n": 1, "m": "3"}}, base.Mean, ["a", "b", "c"])
    assert arms.max() == "b"
    low = base.List({"a": {"n": 1, "m": 1}, "b": {"n": 1, "m": 1}}, base.Mean, ["a", "b"])
    assert low.min() == "a"


def test_list_count_is_zero_when_the_first_estimator_has_no_n() -> None:
    arms = base.List({"a": {"m": "1"}, "b": {"n": "3", "m": "2"}}, base.Mean, ["a", "b"])
    assert arms.count() == 0
    assert base.List({}, base.Mean, ["a", "b"]).count() == 0
    assert base.List({}, base.Mean, []).count() == 0


def test_list_random_uses_stdlib_random() -> None:
    arms = base.List({}, base.Proportion, ["1", "2", "3", "4"])
    random.seed(11)
    first = [arms.random() for _ in range(20)]
    random.seed(11)
    assert [arms.random() for _ in range(20)] == first
    assert set(first) <= {"1", "2", "3", "4"}


def test_list_with_numeric_names_reads_text_keys() -> None:
    arms = base.List({"1": {"n": "2", "m": "0.5"}}, base.Mean, [1, 2])
    assert arms.get_value() == {1: 0.5, 2: 0.0}
