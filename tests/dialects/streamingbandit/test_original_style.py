"""Scenario 15: experiment code in the original users' style runs unmodified (N=100, seed=1)."""

from __future__ import annotations

import pytest

from tests.dialects.streamingbandit.harness import World
from tests.dialects.streamingbandit.original_style import EXPERIMENTS

NEEDS_IDS = ("nested_policies", "parallel_evaluation")

LIBRARY_USES = [
    "base.Count",
    "base.Mean",
    "base.Variance",
    "base.Proportion",
    "base.Covariance",
    "base.Correlation",
    "base.List",
    "thmp.BBThompsonList",
    "thmp.ThompsonVarList",
    ".propensity(",
    "lm.LM",
    ".predict(",
    "bts.BTS",
    "tbl.ThompsonBayesianLinear",
    "lif.LiF",
    "lifversion=1",
    "np.asscalar",
    'Experiment(exp_id, key="notUsedForLoopBack")',
    "self.set_theta(BTS)",  # bare _theta hash
    "self.set_theta(Lif)",
]


def create_fixture(world: World, name: str) -> str:
    code = EXPERIMENTS[name]
    if name in NEEDS_IDS:
        first = world.create(EXPERIMENTS["e_first"])
        second = world.create(EXPERIMENTS["e_greedy"])
        code = {
            hook: text.replace("FIRST_ID", first).replace("SECOND_ID", second) for hook, text in code.items()
        }
    return world.create(code)


def test_the_fixture_covers_every_library_class() -> None:
    code = "".join(text for hooks in EXPERIMENTS.values() for text in hooks.values())
    missing = [use for use in LIBRARY_USES if use not in code]
    assert not missing


@pytest.mark.parametrize("name", sorted(EXPERIMENTS))
def test_original_style_code_simulates_100_rounds(name: str) -> None:
    world = World()
    exp_id = create_fixture(world, name)
    data = world.simulate(exp_id, 100, seed=1)
    assert len(data) == 100
    assert data["99"]["action"]


def test_bare_theta_hashes_hold_the_bts_replicates_and_lif_window() -> None:
    world = World()
    bts_id = create_fixture(world, "bootstrapped_thompson_sampling")
    lif_id = create_fixture(world, "lock_in_feedback")
    world.simulate(bts_id, 5, seed=1)
    world.simulate(lif_id, 5, seed=1)
    assert list(world.theta) == [f"exp:{bts_id}:_theta", f"exp:{lif_id}:_theta"]
    assert len(world.theta[f"exp:{bts_id}:_theta"]) == 100
    assert set(world.theta[f"exp:{lif_id}:_theta"]) == {"Yw", "t", "x0"}


def test_estimators_fixture_keeps_each_estimator_under_its_key() -> None:
    world = World()
    exp_id = create_fixture(world, "estimators")
    data = world.simulate(exp_id, 100, seed=1)
    experiment = world.open(exp_id)
    assert experiment.get_theta(key="calls") == {"n": "100"}
    assert data["99"]["action"]["calls"] == 100
    stats = experiment.get_theta(key="pair", name="stats")
    assert set(stats) == {"cov", "cor"}
    assert stats["cov"]["n"] == "100"
    users = experiment.get_theta(key="user", all_float=True)
    assert sum(user["n"] for user in users.values()) == 100
    slope = float(experiment.get_theta(key="model")["n"])
    assert slope == 100
    assert abs(data["99"]["action"]["prediction"] - (2 * data["99"]["context"]["x"] + 1)) < 0.5
