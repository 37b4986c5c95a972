"""The 14 default experiments (spec §4.11; §7 scenarios 5, 6, 12, 14, 18) run in the in-process harness."""

from __future__ import annotations

import random
from collections import Counter

import numpy as np
import pytest

from crucible.dialects.streamingbandit.defaults import HOOKS, PLACEHOLDER_IDS, get_default, list_defaults
from tests.dialects.streamingbandit.conftest import create_default
from tests.dialects.streamingbandit.harness import SandboxViolation, World

NAMES = [
    "AB_Test",
    "Bootstrapped_Thompson_Sampling",
    "E-First",
    "E-Greedy",
    "Lock_In_Feedback",
    "Nested_Policies",
    "Online_Marketing_Experiment",
    "Parallel_Evaluation",
    "Social_Science_Experiment",
    "Thompson_Bayesian_Linear_Regression",
    "Thompson_Optimal_Sampling",
    "Thompson_Sampling_K-Armed_Bernoulli",
    "UCB1",
    "LinUCB",
]


def seed_all(seed: int) -> np.random.Generator:
    """Seed the server-side generators (as the worker does) and return a separate client generator."""
    np.random.seed(seed)
    random.seed(seed)
    return np.random.default_rng(seed)


# --- registry -------------------------------------------------------------------------------------------


def test_listing() -> None:
    listing = list_defaults()
    assert list(listing) == [str(i) for i in range(14)]
    assert listing["0"] == "AB Test"
    assert listing["1"] == "Bootstrapped Thompson Sampling"
    assert listing["11"] == "Thompson Sampling K-Armed Bernoulli"
    assert listing["12"] == "UCB1"
    assert listing["13"] == "LinUCB"
    assert [listing[str(i)] for i in range(12)] == sorted(
        listing[str(i)] for i in range(12)
    )  # original order


@pytest.mark.parametrize("index", range(14))
def test_each_default_has_a_name_and_four_hooks_that_compile(index: int) -> None:
    default = get_default(index)
    assert list(default) == ["name", *HOOKS]
    assert default["name"] == NAMES[index]
    assert get_default(str(index)) == default
    for hook in HOOKS:
        assert default[hook].strip(), f"{hook} is empty; empty hooks hold '# EMPTY'"
        compile(default[hook], hook, "exec")
        if "# EMPTY" in default[hook]:
            assert default[hook].strip() == "# EMPTY"


@pytest.mark.parametrize("bad", [14, -1, "14", "x", "", "1.0", True, None])
def test_unknown_default_index(bad: object) -> None:
    with pytest.raises(KeyError):
        get_default(bad)  # type: ignore[arg-type]


def test_results_are_copies() -> None:
    get_default(0)["get_action"] = "changed"
    assert get_default(0)["get_action"] != "changed"


def test_placeholders_are_where_ids_are_edited() -> None:
    for index in (5, 7):
        code = "".join(get_default(index).values())
        assert all(placeholder in code for placeholder in PLACEHOLDER_IDS)
    for index in set(range(14)) - {5, 7}:
        assert not any(p in "".join(get_default(index).values()) for p in PLACEHOLDER_IDS)


def test_nested_policies_with_placeholders_is_refused(world: World) -> None:
    exp_id = world.create(get_default(5))
    with pytest.raises(SandboxViolation, match="could not be validated"):
        world.get_action(exp_id)


# --- every default simulates ----------------------------------------------------------------------------


@pytest.mark.parametrize("index", range(14))
def test_every_default_simulates_50_rounds(world: World, index: int) -> None:
    exp_id = create_default(world, index)
    data = world.simulate(exp_id, 50, seed=1)
    assert list(data) == [str(i) for i in range(50)]
    for step in data.values():
        assert set(step) == {"context", "action", "reward", "theta"}
        assert step["action"], "get_action chose nothing"
        assert all(
            isinstance(v, str)
            for h in step["theta"].values()
            for v in (h.values() if isinstance(h, dict) else [h])
        )


@pytest.mark.parametrize("index", [0, 1, 4, 9, 11, 13])
def test_same_seed_after_a_reset_gives_the_same_run(world: World, index: int) -> None:
    exp_id = create_default(world, index)
    first = world.simulate(exp_id, 20, seed=7)
    assert world.open(exp_id).delete_theta() > 0
    assert world.simulate(exp_id, 20, seed=7) == first


# --- policies -------------------------------------------------------------------------------------------


def test_ab_test_scenario_5(world: World) -> None:
    exp_id = create_default(world, 0)
    client = seed_all(5)
    p = {"1": 0.6, "2": 0.3}
    actions, best_arms = [], []
    for _ in range(150):
        arms = world.open(exp_id).get_theta(key="treatment")
        best_arms.append(max(["1", "2"], key=lambda arm: float(arms.get(arm, {}).get("p", 0))))
        action = world.get_action(exp_id, {})["action"]
        actions.append(action)
        world.set_reward(exp_id, {}, action, {"value": int(client.random() < p[action["treatment"]])})
    assert [a["propensity"] for a in actions[:101]] == [0.5] * 101
    assert {a["treatment"] for a in actions[:101]} == {"1", "2"}
    assert [a["propensity"] for a in actions[101:]] == [1] * 49
    assert [a["treatment"] for a in actions[101:]] == best_arms[101:]
    theta = world.open(exp_id).get_theta()
    assert set(theta) == {"treatment:1", "treatment:2"}
    assert all(isinstance(v, str) for arm in theta.values() for v in arm.values())
    assert sum(int(arm["n"]) for arm in theta.values()) == 150


def test_ab_test_later_actions_follow_the_highest_p() -> None:
    world = World()
    exp_id = world.create(get_default(0))
    experiment = world.open(exp_id)
    experiment.set_theta({"p": 0.4, "n": 60}, key="treatment", value="1")
    experiment.set_theta({"p": "0.45", "n": "41"}, key="treatment", value="2")
    assert world.get_action(exp_id)["action"] == {"treatment": "2", "propensity": 1}
    experiment.set_theta({"n": 40}, key="treatment", value="2")  # count() = 100: still exploring
    assert world.get_action(exp_id)["action"]["propensity"] == 0.5


def test_thompson_k_armed_converges_scenario_6(world: World) -> None:
    exp_id = create_default(world, 11)
    client = seed_all(6)
    p = {"1": 0.1, "2": 0.2, "3": 0.3, "4": 0.9}
    arms = []
    for _ in range(1500):
        action = world.get_action(exp_id, {})["action"]
        assert isinstance(action["propensity"], float) and 0 <= action["propensity"] <= 1
        arms.append(action["treatment"])
        world.set_reward(exp_id, {}, action, {"value": int(client.random() < p[action["treatment"]])})
    assert Counter(arms[-300:])["4"] >= 0.8 * 300
    theta = world.open(exp_id).get_theta(key="treatment")
    assert max(theta, key=lambda arm: int(theta[arm]["n"])) == "4"
    assert sum(int(arm["n"]) for arm in theta.values()) == 1500


def test_ucb1_scenario_14(world: World) -> None:
    exp_id = create_default(world, 12)
    data = world.simulate(exp_id, 2000, seed=3)
    theta = data["1999"]["theta"]
    counts = {key.split(":")[1]: int(arm["n"]) for key, arm in theta.items()}
    assert sum(counts.values()) == 2000
    assert max(counts, key=lambda arm: counts[arm]) == "4"
    assert [data[str(i)]["action"]["treatment"] for i in range(4)] == ["1", "2", "3", "4"]  # each arm once


def test_ucb1_tries_untried_arms_first_then_takes_the_highest_bound(world: World) -> None:
    exp_id = create_default(world, 12)
    experiment = world.open(exp_id)
    experiment.set_theta({"n": 3, "m": 0.9}, key="treatment", value="1")
    experiment.set_theta({"n": 1, "m": 0.1}, key="treatment", value="3")
    assert world.get_action(exp_id)["action"] == {"treatment": "2", "propensity": 1}
    # m + sqrt(2 ln N / n), N = 301: "1" scores 0.5 + 3.38, the greedy choice "2" only 0.6 + 0.34
    for arm, n, m in [("1", 1, 0.5), ("2", 100, 0.6), ("3", 100, 0.1), ("4", 100, 0.1)]:
        experiment.set_theta({"n": n, "m": m}, key="treatment", value=arm)
    assert world.get_action(exp_id)["action"]["treatment"] == "1"
    experiment.set_theta({"n": 2000}, key="treatment", value="1")  # now N is large and "1" well known
    assert world.get_action(exp_id)["action"]["treatment"] == "2"


def test_linucb_scenario_18(world: World) -> None:
    exp_id = create_default(world, 13)
    client = seed_all(18)
    true_coefs = {"1": [-1, 3, 0], "2": [-1, 0, 3], "3": [1, -2, -2]}
    chosen, uniform = [], []
    for _ in range(1500):
        x = [1.0, float(client.random()), float(client.random())]
        action = world.get_action(exp_id, {"x": x})["action"]
        assert action["propensity"] == 1
        success = {arm: 1 / (1 + np.exp(-np.dot(c, x))) for arm, c in true_coefs.items()}
        chosen.append(success[action["treatment"]])
        uniform.append(np.mean(list(success.values())))
        world.set_reward(
            exp_id, {"x": x}, action, {"value": int(client.random() < success[action["treatment"]])}
        )
    assert np.mean(chosen[-300:]) - np.mean(uniform[-300:]) >= 0.1


def test_e_greedy_learns_the_better_arm(world: World) -> None:
    exp_id = create_default(world, 3)
    data = world.simulate(exp_id, 400, seed=2)
    late = Counter(data[str(i)]["action"]["treatment"] for i in range(300, 400))
    assert late["treatment"] >= 85
    theta = data["399"]["theta"]
    assert float(theta["treatment:treatment"]["m"]) == pytest.approx(6, abs=0.6)
    assert {data[str(i)]["action"]["propensity"] for i in range(400)} == {0.05, 0.9}


def test_e_first_stops_learning_after_100_rewards(world: World) -> None:
    exp_id = create_default(world, 2)
    data = world.simulate(exp_id, 160, seed=4)
    assert data["99"]["theta"] == data["159"]["theta"]
    assert sum(int(arm["n"]) for arm in data["159"]["theta"].values()) == 100
    assert {data[str(i)]["action"]["treatment"] for i in range(100, 160)} == {"treatment"}
    assert {data[str(i)]["action"]["propensity"] for i in range(100, 160)} == {1}


def test_bayesian_linear_thompson_learns_the_top_of_the_parabola(world: World) -> None:
    exp_id = create_default(world, 9)
    data = world.simulate(exp_id, 300, seed=1)
    xs = np.array([data[str(i)]["action"]["x"] for i in range(300)])
    rewards = np.array([data[str(i)]["reward"]["value"] for i in range(300)])
    assert all(isinstance(x, float) for x in xs.tolist())
    assert np.median(np.abs(xs[-100:] - 5)) < 0.75
    assert rewards[-100:].mean() > 9.0  # the maximum is 10
    assert set(data["299"]["theta"]) == {"simulation:simulation"}


def test_lock_in_feedback_moves_x0_towards_the_optimum(world: World) -> None:
    exp_id = create_default(world, 4)
    data = world.simulate(exp_id, 600, seed=1)
    assert data["0"]["action"]["x0"] == 3.0
    assert data["599"]["action"]["x0"] == pytest.approx(5, abs=0.3)
    theta = data["599"]["theta"]
    assert set(theta) == {"Yw", "t", "x0"}
    assert theta["t"] == "600"


def test_bootstrapped_thompson_prices_within_the_range(world: World) -> None:
    exp_id = create_default(world, 1)
    data = world.simulate(exp_id, 30, seed=2)
    assert all(5 <= data[str(i)]["action"]["price"] <= 20 for i in range(30))
    assert sorted(data["29"]["theta"], key=int) == [str(i) for i in range(100)]


def test_thompson_optimal_sampling_samples_the_noisier_arm_more(world: World) -> None:
    exp_id = create_default(world, 10)
    data = world.simulate(exp_id, 200, seed=3)
    counts = Counter(data[str(i)]["action"]["treatment"] for i in range(200))
    assert counts["treatment"] > counts["control"] >= 2


def test_nested_policies_delegate_and_forward_rewards(world: World) -> None:
    exp_id = create_default(world, 5)
    first, second = (e for e in world.experiments if e != exp_id)
    data = world.simulate(exp_id, 60, seed=8)
    used = Counter(data[str(i)]["action"]["experiment"] for i in range(60))
    assert set(used) == {first, second}
    assert all(data[str(i)]["action"]["propensity"] in (0.25, 0.5, 0.025, 0.45) for i in range(60))
    assert data["59"]["theta"] == {}  # none of its own
    for nested in (first, second):
        nested_theta = world.open(nested).get_theta(key="treatment")
        assert sum(int(arm["n"]) for arm in nested_theta.values()) == used[nested]


def test_parallel_evaluation_replays_matching_actions(world: World) -> None:
    exp_id = create_default(world, 7)
    first, second = (e for e in world.experiments if e != exp_id)
    data = world.simulate(exp_id, 80, seed=9)
    theta = data["79"]["theta"]
    assert set(theta) == {f"policy_means:{first}", f"policy_means:{second}"}
    for policy in (first, second):
        matched = int(theta[f"policy_means:{policy}"]["n"])
        assert 20 < matched < 70  # about half of the random actions match
        policy_theta = world.open(policy).get_theta(key="treatment")
        assert sum(int(arm["n"]) for arm in policy_theta.values()) == matched


def test_social_science_reads_its_own_write_in_the_same_call(world: World) -> None:
    exp_id = create_default(world, 8)
    random.seed(3)
    first = world.get_action(exp_id, {"userid": "u1"})["action"]
    assert first["note"] == "First allocation"
    assert first["condition"] in {"baseline", "random", "lockin"}
    again = [world.get_action(exp_id, {"userid": "u1"})["action"] for _ in range(10)]
    assert all(a == {"condition": first["condition"], "scenario": 1} for a in again)
    assert world.open(exp_id).get_theta(key="userid") == {"u1": {"condition": first["condition"]}}
    conditions = {world.get_action(exp_id, {"userid": f"v{i}"})["action"]["condition"] for i in range(30)}
    assert conditions == {"baseline", "random", "lockin"}


def test_online_marketing_and_social_science_log_their_rewards(world: World) -> None:
    marketing = create_default(world, 6)
    social = create_default(world, 8)
    world.simulate(marketing, 5, seed=1)
    world.simulate(social, 3, seed=1)
    rows = world.open(marketing).get_log_data()
    assert len(rows) == 5
    assert all(0 <= row["discount"] <= row["maxpercentage"] for row in rows)
    assert world.open(social).get_log_data(limit=1)[0]["userid"] == "21234"
