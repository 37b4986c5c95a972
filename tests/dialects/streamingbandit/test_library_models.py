"""`thompson`, `lm`, `bts`, `tbl` and `lif` (spec §4.4, §7 scenario 19), read and written through theta text."""

from __future__ import annotations

import json
import math
from collections import Counter

import numpy as np
import pytest

from crucible.dialects.streamingbandit.library import bts, lif, lm, tbl, thompson
from crucible.dialects.streamingbandit.theta_text import encode_hash

pytestmark = pytest.mark.filterwarnings("error")  # the libraries must not warn (np.matrix is built as views)


# --- thompson ---------------------------------------------------------------------------------------------


def test_bb_thompson_propensities_sum_to_one() -> None:
    np.random.seed(2)
    objects = {"1": {"p": "0.1", "n": "10"}, "2": {"p": "0.3", "n": "10"}, "3": {"p": "0.35", "n": "20"}}
    arms = thompson.BBThompsonList(objects, ["1", "2", "3", "4"])
    propensities = [arms.propensity(arm) for arm in ["1", "2", "3", "4"]]
    assert all(isinstance(p, np.floating) and 0 <= p <= 1 for p in propensities)
    assert sum(propensities) == pytest.approx(1, abs=0.05)
    assert arms.propensity("5") == 0.0


def test_bb_thompson_prefers_the_better_arm_in_proportion_to_its_propensity() -> None:
    np.random.seed(3)
    arms = thompson.BBThompsonList({"a": {"p": "0.2", "n": "50"}, "b": {"p": "0.6", "n": "50"}}, ["a", "b"])
    picks = Counter(arms.thompson() for _ in range(2000))
    assert picks["b"] / 2000 == pytest.approx(arms.propensity("b", n=4000), abs=0.03)
    assert picks["b"] > 1900


def test_bb_thompson_uses_beta_1_1_when_an_arm_has_no_successes_or_no_failures() -> None:
    arms = thompson.BBThompsonList({"a": {"p": "0", "n": "5"}, "b": {"p": "1.0", "n": "5"}}, ["a", "b", "c"])
    assert arms.beta_parameters() == [(1.0, 1.0), (1.0, 1.0), (1.0, 1.0)]
    np.random.seed(4)
    assert Counter(arms.thompson() for _ in range(600)).keys() == {"a", "b", "c"}


def test_bb_thompson_reproducible_under_a_seed() -> None:
    arms = thompson.BBThompsonList({}, ["1", "2"])
    np.random.seed(9)
    first = [arms.thompson() for _ in range(20)]
    np.random.seed(9)
    assert [arms.thompson() for _ in range(20)] == first


def test_thompson_var_list_explores_arms_with_fewer_than_two_observations_first() -> None:
    objects = {"control": {"n": "5", "x_bar": "0", "s": "4", "v": "1"}, "treatment": {"n": "1"}}
    arms = thompson.ThompsonVarList(objects, ["control", "treatment"])
    assert arms.experimentThompson() == "treatment"


def test_thompson_var_list_favours_the_more_variable_arm() -> None:
    np.random.seed(5)
    objects = {
        "control": {"n": "20", "x_bar": "0", "s": "19", "v": "1"},
        "treatment": {"n": "20", "x_bar": "1", "s": str(19 * 25), "v": "25"},
    }
    arms = thompson.ThompsonVarList(objects, ["control", "treatment"])
    picks = Counter(arms.experimentThompson() for _ in range(300))
    assert picks["treatment"] > 290


# --- lm -------------------------------------------------------------------------------------------------


def test_lm_get_coefs_equals_the_ridge_solution() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + rng.normal(scale=0.1, size=40)
    model = lm.LM({"b": [[0.0, 0.0, 0.0]], "A": np.identity(3).tolist(), "n": 0})
    for row, target in zip(X, y, strict=True):
        # through theta text each time, as a set_reward hook does
        model = lm.LM(encode_hash(model))
        model.update(str(target), row.tolist())
    ridge = np.linalg.solve(np.identity(3) + X.T @ X, X.T @ y)
    coefs = model.get_coefs()
    assert coefs.shape == (3,)
    np.testing.assert_allclose(coefs, ridge, rtol=1e-9)
    assert model.n == 40
    assert isinstance(model.A, np.matrix) and isinstance(model.b, np.matrix)
    assert model.b.shape == (1, 3) and model.A.shape == (3, 3)


def test_lm_defaults_and_string_fields() -> None:
    model = lm.LM({})
    assert model.get_dict() == {"b": [[0.0, 0.0]], "A": [[1.0, 0.0], [0.0, 1.0]], "n": 0}
    stored = {"b": "[[1.0, 2.0]]", "A": "[[2.0, 0.0], [0.0, 4.0]]", "n": "7"}
    model = lm.LM(stored)
    np.testing.assert_allclose(model.get_coefs(), [0.5, 0.5])
    assert model.n == 7


def test_lm_update_with_discount_and_intercept() -> None:
    model = lm.LM({}, add_intercept=True)
    model.update(3, [2], discount=0.5)
    assert model.get_dict() == {"b": [[1.5, 3.0]], "A": [[1.5, 1.0], [1.0, 3.0]], "n": 1}


def test_lm_predict_is_a_matrix_whose_trace_is_the_prediction() -> None:
    model = lm.LM({"b": [[1.0, 2.0]], "A": [[1.0, 0.0], [0.0, 1.0]], "n": 1})
    prediction = model.predict([3, 4])
    assert isinstance(prediction, np.matrix)
    assert prediction.shape == (2, 2)
    assert np.trace(prediction) == pytest.approx(1 * 3 + 2 * 4)


# --- bts ------------------------------------------------------------------------------------------------

PRIOR = {"b": [[0.0, 0.0]], "A": np.identity(2).tolist(), "n": 0}


def test_bts_builds_100_noisy_replicates_from_default_params() -> None:
    np.random.seed(6)
    model = bts.BTS({}, lm.LM, m=100, default_params=PRIOR)
    replicates = model.get_dict()
    assert sorted(replicates) == list(range(100))
    assert all(
        np.shape(r["b"]) == (1, 2) and np.shape(r["A"]) == (2, 2) and r["n"] == 0 for r in replicates.values()
    )
    spread = np.std([r["b"][0][0] for r in replicates.values()])
    assert 0.07 < spread < 0.13  # N(0, 0.1) noise
    assert bts.BTS({}, lm.LM, m=3, default_params=PRIOR, param_noise=False).get_dict()[2] == PRIOR


def test_bts_without_default_params_copies_params() -> None:
    model = bts.BTS({"b": [[1.0, 1.0]]}, lm.LM, m=4)
    assert model.get_dict() == {i: {"b": [[1.0, 1.0]]} for i in range(4)}


def test_bts_updates_about_half_of_the_replicates_per_call() -> None:
    np.random.seed(7)
    model = bts.BTS({}, lm.LM, m=100, default_params=PRIOR)
    changed = []
    for step in range(10):
        before = model.get_dict()
        model.update(1.0, [1.0, float(step)])
        after = model.get_dict()
        changed.append(sum(after[i] != before[i] for i in range(100)))
    assert all(30 <= c <= 70 for c in changed)
    assert 40 <= np.mean(changed) <= 60
    counts = [r["n"] for r in model.get_dict().values()]
    assert sum(counts) == sum(changed)


def test_bts_round_trips_through_one_theta_hash() -> None:
    np.random.seed(8)
    model = bts.BTS({}, lm.LM, m=100, default_params=PRIOR)
    model.update(2.0, [1.0, 3.0])
    stored = encode_hash(model)
    assert sorted(stored, key=int) == [str(i) for i in range(100)]
    assert all(isinstance(v, str) for v in stored.values())
    again = bts.BTS(stored, lm.LM, m=100, default_params=PRIOR)
    assert again.get_dict() == model.get_dict()
    sample = again.sample()
    assert sample in list(model.get_dict().values())
    assert lm.LM(sample).get_coefs().shape == (2,)


def test_bts_accepts_dict_replicates_and_passes_args_to_the_model() -> None:
    params = {str(i): {"b": [[0.0, 0.0]], "A": [[1.0, 0.0], [0.0, 1.0]], "n": 0} for i in range(4)}
    np.random.seed(1)
    model = bts.BTS(params, lm.LM, m=4)
    for _ in range(5):
        model.update(1.0, [2.0], None, True)  # LM(rep, p=None, add_intercept=True)
    assert all(r["b"][0][0] == r["n"] for r in model.get_dict().values())


def test_bts_checks_its_arguments() -> None:
    with pytest.raises(ValueError):
        bts.BTS({}, lm.LM(), m=2)
    with pytest.raises(ValueError):
        bts.BTS([1, 2], lm.LM, m=2)


# --- tbl ------------------------------------------------------------------------------------------------


def test_tbl_update_rule_and_text_round_trip() -> None:
    model = tbl.ThompsonBayesianLinear({"J": "[[1, 1]]", "P": "[[1.0, 0.0], [0.0, 1.0]]", "err": "2"})
    model.update("4", [1, 3], discount=0.5)
    assert model.get_dict() == {"J": [[2.0, 4.0]], "P": [[1.25, 0.75], [0.75, 3.25]], "err": 2.0}
    again = tbl.ThompsonBayesianLinear(encode_hash(model))
    assert again.get_dict() == model.get_dict()
    assert tbl.ThompsonBayesianLinear({}).get_dict() == {
        "J": [[0.0, 0.0]],
        "P": [[1.0, 0.0], [0.0, 1.0]],
        "err": 1.0,
    }


def test_tbl_samples_from_the_posterior() -> None:
    np.random.seed(10)
    model = tbl.ThompsonBayesianLinear({"J": [[2.0, 6.0]], "P": [[2.0, 0.0], [0.0, 4.0]], "err": 1})
    draws = np.array([model.sample() for _ in range(4000)])
    assert draws.shape == (4000, 2)
    np.testing.assert_allclose(draws.mean(axis=0), [1.0, 1.5], atol=0.05)
    np.testing.assert_allclose(draws.var(axis=0), [0.5, 0.25], atol=0.05)


# --- lif ------------------------------------------------------------------------------------------------


def test_lif_fills_its_window_then_shifts_it_fifo() -> None:
    model = lif.LiF({}, x0=2.0, a=1.0, t=3, gamma=0.1, omega=1.0)
    assert model.Yw.shape == (3, 3) and np.isnan(model.Yw).all()
    for step in range(1, 4):
        suggestion = model.suggest()
        assert suggestion == {"x": 2.0 + math.cos(step), "t": step, "x0": 2.0}
        assert model.update(suggestion["t"], suggestion["x"], 1.0, suggestion["x0"]) is True
    assert model.window_full()
    assert model.Yw[:, 0].tolist() == [1.0, 2.0, 3.0]
    np.testing.assert_allclose(model.Yw[:, 2], [math.cos(1), math.cos(2), math.cos(3)])
    suggestion = model.suggest()  # full window: x0 steps by gamma · ΣYw[:, 2] / T
    x0 = 2.0 + 0.1 * (math.cos(1) + math.cos(2) + math.cos(3)) / 3
    assert suggestion == {"x": pytest.approx(x0 + math.cos(4)), "t": 4, "x0": pytest.approx(x0)}
    model.update(4, suggestion["x"], 2.0, suggestion["x0"])
    assert model.Yw[:, 0].tolist() == [2.0, 3.0, 4.0]  # oldest row dropped
    assert model.Yw[2, 2] == pytest.approx(2.0 * math.cos(4))


def test_lif_version_1_empties_the_window_after_a_step() -> None:
    model = lif.LiF({}, x0=0.0, t=2, lifversion=1)
    for _ in range(2):
        s = model.suggest()
        model.update(s["t"], s["x"], 1.0, s["x0"])
    model.suggest()
    assert np.isnan(model.Yw).all()


def test_lif_theta_text_is_json_with_nan_tokens() -> None:
    model = lif.LiF({}, x0=3.0, t=4)
    s = model.suggest()
    model.update(s["t"], s["x"], -1.5, s["x0"])
    stored = encode_hash(model)
    assert stored["t"] == "1" and stored["x0"] == "3.0"
    assert "NaN" in stored["Yw"]
    assert len(json.loads(stored["Yw"])) == 4
    again = lif.LiF(stored, x0=99.0, t=4)
    assert again.t == 1 and again.x0 == 3.0
    np.testing.assert_array_equal(again.Yw, model.Yw)  # NaN rows included
