"""Compiled Inkling to the engine's TrainingPlan (spec §4.8.1–§4.8.3)."""

from __future__ import annotations

from crucible.dialects.bonsai.inkling import compile_inkling
from crucible.dialects.bonsai.plans import training_plan
from crucible.engines.rl.plan import TrainingPlan
from crucible.settings import Settings
from tests.dialects.bonsai.conftest import CARTPOLE_INK, FIND_THE_CENTER_INK


def plan_of(source: str) -> TrainingPlan:
    result = compile_inkling(source)
    assert result.success and result.program is not None and result.program.curriculum is not None, (
        result.errors
    )
    return training_plan(result.program.curriculum, Settings(bonsai_checkpoint_iterations=1234))


def test_find_the_center_defaults_to_ppo_with_the_spec_hyperparameters() -> None:
    plan = plan_of(FIND_THE_CENTER_INK)
    assert plan.learner == "PPO"
    assert plan.hyperparameters == {
        "n_steps": 2048,
        "batch_size": 64,
        "n_epochs": 10,
        "learning_rate": 3e-4,
        "gamma": 0.99,
        "gae_lambda": 0.95,
        "clip_range": 0.2,
        "policy_kwargs": {"net_arch": [64, 64], "activation_fn": "tanh"},
    }
    assert [item.name for item in plan.spaces.observation] == ["value"]
    assert plan.spaces.discrete_actions[0].values == (-1, 0, 1)
    assert plan.lessons[0].name == "seek_center" and plan.lessons[0].goal == "maximize"
    assert plan.lessons[0].config[0].values == (-1,)
    assert plan.schedule.checkpoint_iterations == 1234 and plan.schedule.max_episode_steps == 1000
    assert TrainingPlan.from_json(plan.to_json()) == plan


def test_cartpole_spaces() -> None:
    plan = plan_of(CARTPOLE_INK)
    assert [item.name for item in plan.spaces.observation] == ["position", "velocity", "angle", "rotation"]
    assert [choice.field for choice in plan.lessons[0].config] == ["episode_length", "deque_size"]


def test_dqn_parameters_map_to_sb3_keywords() -> None:
    source = CARTPOLE_INK.replace(
        "    objective open_ai_gym_default_objective\n",
        """    objective open_ai_gym_default_objective
    using algorithm DQN
        q_learning_rate => 0.001,
        gamma => 0.9,
        exploration_decay => 0.0001,
        samples_per_train => 64,
        hidden_layer_size_descriptor => [32, 16],
        hidden_layer_activation_descriptor => ["elu"],
        max_episode_steps => 200,
        test_every_episodes => 5,
        seed => 7,
        tau => 0.5
    end
""",
    )
    plan = plan_of(source)
    assert plan.learner == "DQN"
    assert plan.hyperparameters["learning_rate"] == 0.001
    assert plan.hyperparameters["gamma"] == 0.9
    assert plan.hyperparameters["train_freq"] == 64 and plan.hyperparameters["gradient_steps"] == 32
    assert plan.hyperparameters["policy_kwargs"] == {"net_arch": [32, 16], "activation_fn": "elu"}
    assert plan.hyperparameters["tau"] == 0.5
    assert (
        plan.hyperparameters["buffer_size"] == 100_000
        and plan.hyperparameters["target_update_interval"] == 10
    )
    assert plan.exploration_steps == 9600
    assert plan.schedule.max_episode_steps == 200 and plan.schedule.test_every_episodes == 5
    assert plan.seed == 7


def test_threshold_lessons_and_constraint_ranges() -> None:
    source = FIND_THE_CENTER_INK.replace(
        """        lesson seek_center
            configure
                constrain dummy with Int8{-1}
            until
                maximize time_at_goal""",
        """        lesson warm_up
            configure
                constrain dummy with Int8{0:2:8}
            until
                time_at_goal >= 5
        lesson seek_center follows warm_up
            configure
                constrain dummy with Int8{-1, 3}
            until
                maximize time_at_goal""",
    )
    plan = plan_of(source)
    first, second = plan.lessons
    assert (first.name, first.goal, first.relation, first.threshold) == ("warm_up", "threshold", ">=", 5.0)
    assert (first.config[0].start, first.config[0].step, first.config[0].count) == (0, 2, 5)
    assert second.name == "seek_center" and second.config[0].values == (-1, 3)
