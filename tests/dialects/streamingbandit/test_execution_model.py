"""The execution model of spec §4.2 as the harness reproduces it (what the sandbox runtime must match)."""

from __future__ import annotations

import numpy
import pytest

from tests.dialects.streamingbandit.harness import SandboxViolation, World


def test_top_level_names_are_globals_for_functions_but_do_not_outlive_the_hook(world: World) -> None:
    exp_id = world.create(
        {
            "get_action": (
                "arms = ['a', 'b']\n"
                "def pick():\n"
                "    return arms[int(np.random.binomial(1, 0.0))]\n"
                "class Policy:\n"
                "    def choose(self_):\n"
                "        return base.List({}, base.Mean, arms).min()\n"
                "self.action['first'] = pick()\n"
                "self.action['second'] = Policy().choose()\n"
                "self.action['had_arms_before'] = 'leftover' in dir()\n"
                "leftover = 1\n"
            ),
            "set_reward": "self.reward['seen'] = leftover\n",
        }
    )
    assert world.get_action(exp_id)["action"] == {"first": "a", "second": "a", "had_arms_before": False}
    assert world.get_action(exp_id)["action"]["had_arms_before"] is False
    with pytest.raises(NameError):
        world.set_reward(exp_id, {}, {}, {})


def test_allowed_imports_bind_the_injected_objects(world: World) -> None:
    exp_id = world.create(
        {
            "get_action": (
                "import numpy\n"
                "import numpy as np\n"
                "import scipy\n"
                "from scipy import stats\n"
                "import random\n"
                "self.action['x'] = np.asscalar(numpy.float64(0.5))\n"
                "self.action['p'] = float(stats.norm.cdf(0))\n"
                "self.action['same'] = np is numpy and scipy is sp\n"
                "self.action['r'] = random.random() < 1\n"
            )
        }
    )
    assert world.get_action(exp_id)["action"] == {"x": 0.5, "p": 0.5, "same": True, "r": True}


def test_other_imports_are_refused(world: World) -> None:
    exp_id = world.create({"get_action": "import os\n"})
    with pytest.raises(SandboxViolation, match="import"):
        world.get_action(exp_id)


def test_action_context_reward_by_mutation_or_rebinding(world: World) -> None:
    exp_id = world.create(
        {
            "get_action": "self.action = {'treatment': 'b'}\nself.context['seen'] = True\nself.debug([1, 2])\n",
            "set_reward": "self.reward = {'value': self.reward['value'] * 2}\n",
        }
    )
    assert world.get_action(exp_id, {"u": 1}) == {
        "action": {"treatment": "b"},
        "context": {"u": 1, "seen": True, "_debug": [1, 2]},
    }
    assert world.set_reward(exp_id, {}, {"treatment": "b"}, {"value": 2})["reward"] == {"value": 4}


def test_results_leave_as_json_values(world: World) -> None:
    exp_id = world.create(
        {
            "get_action": "self.action = {'n': np.int64(3), 't': (1, 2), 1: np.array([0.5]), 'm': np.matrix([[1]])}\n"
        }
    )
    action = world.get_action(exp_id)["action"]
    assert action == {"n": 3, "t": [1, 2], "1": [0.5], "m": [[1]]}
    assert type(action["n"]) is int


def test_log_data_adds_the_experiment_id(world: World) -> None:
    exp_id = world.create(
        {"set_reward": "row = {'v': np.float64(1.5)}\nself.log_data(row)\nself.reward['row'] = row\n"}
    )
    result = world.set_reward(exp_id, {}, {}, {})
    assert result["reward"]["row"] == {"v": 1.5, "exp_id": exp_id}
    assert world.open(exp_id).get_log_data() == [{"v": 1.5, "exp_id": exp_id}]


def test_theta_reads_back_as_text(world: World) -> None:
    exp_id = world.create(
        {
            "get_action": (
                "self.set_theta({'p': np.float64(0.5), 'n': np.int64(2)}, key='treatment', value=1)\n"
                "self.action = self.get_theta(key='treatment')\n"
            )
        }
    )
    assert world.get_action(exp_id)["action"] == {"1": {"p": "0.5", "n": "2"}}


def test_nested_experiments_same_owner_only(world: World) -> None:
    inner = world.create({"get_action": "self.action['from'] = self.exp_id\n"}, owner="alice")
    foreign = world.create({"get_action": "self.action['from'] = 'mallory'\n"}, owner="mallory")
    outer = world.create(
        {"get_action": "self.action = Experiment(target, key='notUsedForLoopBack').run_action_code({})\n"},
        owner="alice",
    )
    world.experiments[outer].code["get_action"] = (
        f"target = '{inner}'\n" + world.experiments[outer].code["get_action"]
    )
    assert world.get_action(outer)["action"] == {"from": inner}
    world.experiments[outer].code["get_action"] = (
        world.experiments[outer].code["get_action"].replace(inner, foreign)
    )
    with pytest.raises(SandboxViolation, match="could not be validated"):
        world.get_action(outer)


def test_nesting_depth_is_limited(world: World) -> None:
    exp_id = world.create({"get_action": "self.action = Experiment(self.exp_id).run_action_code({})\n"})
    with pytest.raises(SandboxViolation, match="nesting"):
        world.get_action(exp_id)


def test_seeded_simulation_repeats_and_uses_both_generators(world: World) -> None:
    exp_id = world.create(
        {
            "get_context": "self.context['u'] = random.random()\n",
            "get_action": "self.action['x'] = np.random.rand()\n",
        }
    )
    first = world.simulate(exp_id, 5, seed=12)
    assert world.simulate(exp_id, 5, seed=12) == first
    assert world.simulate(exp_id, 5, seed=13) != first
    numpy.random.seed(12)
    assert first["0"]["action"]["x"] == numpy.random.rand()
