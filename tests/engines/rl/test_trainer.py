"""The training loop's bookkeeping (spec §4.8.4–§4.8.6) with real SB3 learners and no network:
test passes, lessons and their constraints, episode caps, completion, checkpoints and resume."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from crucible.engines.rl import checkpoints
from crucible.engines.rl.inference import check, mirror
from crucible.engines.rl.learners import build_learner
from crucible.engines.rl.plan import ConfigChoice, LessonPlan, Schedule, TrainingPlan
from crucible.engines.rl.spaces import (
    ContinuousActionField,
    DiscreteActionField,
    ObservationField,
    SpaceSpec,
)
from crucible.engines.rl.trainer import Progress, Trainer

SPACES = SpaceSpec(
    observation=(ObservationField("value", "number"),),
    discrete_actions=(DiscreteActionField("delta", (-1, 0, 1)),),
)
PPO_SMALL = {
    "n_steps": 64,
    "batch_size": 32,
    "n_epochs": 2,
    "policy_kwargs": {"net_arch": [16, 16], "activation_fn": "tanh"},
}
DQN_SMALL = {
    "learning_starts": 50,
    "train_freq": 32,
    "gradient_steps": 4,
    "batch_size": 16,
    "buffer_size": 1000,
    "target_update_interval": 10,
    "policy_kwargs": {"net_arch": [16, 16], "activation_fn": "relu"},
}


def plan(
    learner: str = "PPO", *, lessons: tuple[LessonPlan, ...] | None = None, **schedule: Any
) -> TrainingPlan:
    return TrainingPlan(
        spaces=SPACES,
        learner=learner,  # type: ignore[arg-type]
        hyperparameters=PPO_SMALL if learner == "PPO" else DQN_SMALL,
        exploration_steps=100,
        lessons=lessons or (LessonPlan("only"),),
        schedule=Schedule(**schedule),
        seed=3,
    )


def observation(value: float) -> np.ndarray:
    return np.array([value], dtype=np.float32)


def play(trainer: Trainer, sim: int, rewards: list[float], *, terminal: bool = True) -> list[dict[str, Any]]:
    """One episode: the initial state, then one STATE per reward (the last one terminal)."""
    trainer.begin_episode(sim)
    events = trainer.step(sim, observation(0), 0.0, False).events
    for index, reward in enumerate(rewards):
        last = index == len(rewards) - 1
        result = trainer.step(sim, observation(index + 1), reward, terminal and last)
        events += result.events
        if result.stop:
            break
    return events


@pytest.fixture
def trainer_for(tmp_path: Path):  # type: ignore[no-untyped-def]
    def make(built: TrainingPlan, progress: Progress | None = None) -> Trainer:
        return Trainer(built, build_learner(built), tmp_path / "checkpoints", progress)

    return make


def test_a_test_pass_follows_every_20_training_episodes(trainer_for) -> None:  # type: ignore[no-untyped-def]
    trainer = trainer_for(plan(test_every_episodes=20, test_episodes=3))
    events: list[dict[str, Any]] = []
    for _ in range(20):
        events += play(trainer, 1, [1.0, 1.0])
    assert [event["episode"] for event in events if event["type"] == "episode"] == list(range(1, 21))
    modes = [trainer.begin_episode(1)["test"] for _ in range(1)]
    assert modes == [True]
    events = play_started(trainer, 1, [2.0, 2.0])
    events += play(trainer, 2, [3.0, 3.0])
    events += play(trainer, 1, [4.0, 4.0])
    passes = [event for event in events if event["type"] == "test_pass"]
    assert len(passes) == 1
    assert passes[0]["value"] == pytest.approx((4 + 6 + 8) / 3)
    assert passes[0]["episode"] == 20 and passes[0]["best"]
    assert any(event["type"] == "checkpoint" and event["kind"] == "best" for event in events)
    assert trainer.progress.objective_score == pytest.approx(6.0)
    assert trainer.progress.episode == 23 and trainer.progress.training_episodes == 20
    assert trainer.begin_episode(1)["test"] is False


def play_started(trainer: Trainer, sim: int, rewards: list[float]) -> list[dict[str, Any]]:
    """Like `play`, for an episode that `begin_episode` already handed out."""
    events = trainer.step(sim, observation(0), 0.0, False).events
    for index, reward in enumerate(rewards):
        events += trainer.step(sim, observation(index + 1), reward, index == len(rewards) - 1).events
    return events


def test_an_aborted_test_episode_is_run_again(trainer_for) -> None:  # type: ignore[no-untyped-def]
    trainer = trainer_for(plan(test_every_episodes=1, test_episodes=1))
    play(trainer, 1, [1.0])
    assert trainer.begin_episode(1)["test"] is True
    trainer.step(1, observation(0), 0.0, False)
    trainer.abort(1)
    assert trainer.begin_episode(2)["test"] is True


def test_the_episode_cap_stops_and_counts_the_episode(trainer_for) -> None:  # type: ignore[no-untyped-def]
    trainer = trainer_for(plan(max_episode_steps=5))
    trainer.begin_episode(1)
    trainer.step(1, observation(0), 0.0, False)
    results = [trainer.step(1, observation(step), 1.0, False) for step in range(5)]
    assert [result.stop for result in results] == [False, False, False, False, True]
    assert results[-1].action is None
    assert [event["value"] for event in results[-1].events if event["type"] == "episode"] == [5.0]
    assert trainer.progress.iteration == 5


def test_iteration_marks_every_100(trainer_for) -> None:  # type: ignore[no-untyped-def]
    trainer = trainer_for(plan())
    events: list[dict[str, Any]] = []
    for _ in range(25):
        events += play(trainer, 1, [1.0] * 10)
    assert [event["value"] for event in events if event["type"] == "iterations"] == [100, 200]


def test_threshold_lessons_switch_and_change_the_config_draws(trainer_for) -> None:  # type: ignore[no-untyped-def]
    lessons = (
        LessonPlan(
            "warm_up", (ConfigChoice("level", values=(1,)),), goal="threshold", relation=">=", threshold=1.0
        ),
        LessonPlan(
            "full",
            (ConfigChoice("level", start=5, step=1, count=3),),
            goal="threshold",
            relation=">=",
            threshold=1e9,
        ),
    )
    trainer = trainer_for(plan(lessons=lessons, test_every_episodes=1, test_episodes=1))
    assert trainer.begin_episode(1)["config"] == {"level": 1}
    events: list[dict[str, Any]] = []
    for _ in range(40):
        events += play(trainer, 1, [2.0])
    lesson_events = [event for event in events if event["type"] == "lesson"]
    assert lesson_events == [{"type": "lesson", "lesson": "full"}]
    assert any(event["type"] == "checkpoint" and event["kind"] == "latest" for event in events)
    draws = {trainer.begin_episode(1)["config"]["level"] for _ in range(50)}
    assert draws <= {5, 6, 7} and len(draws) > 1


def test_maximize_lessons_end_after_patience_and_min_iterations(trainer_for) -> None:  # type: ignore[no-untyped-def]
    built = plan(test_every_episodes=1, test_episodes=1, min_lesson_iterations=10, lesson_patience=3)
    trainer = trainer_for(built)
    finished = False
    for _ in range(30):
        trainer.begin_episode(1)
        trainer.step(1, observation(0), 0.0, False)
        result = trainer.step(1, observation(1), 1.0, True)
        if result.finished:
            finished = True
            break
    assert finished and trainer.progress.completed
    assert any(event["type"] == "completed" for event in result.events)


def test_max_iterations_completes_training(trainer_for) -> None:  # type: ignore[no-untyped-def]
    trainer = trainer_for(plan(max_iterations=30))
    finished = []
    for _ in range(10):
        trainer.begin_episode(1)
        trainer.step(1, observation(0), 0.0, False)
        for step in range(10):
            result = trainer.step(1, observation(step), 1.0, step == 9)
            if result.stop:
                finished.append(result.finished)
                break
    assert finished[:3] == [False, False, True]
    assert trainer.progress.completed


@pytest.mark.parametrize("learner", ["PPO", "DQN"])
def test_learning_updates_the_policy_and_the_mirror_matches_torch(trainer_for, learner: str) -> None:  # type: ignore[no-untyped-def]
    trainer = trainer_for(plan(learner))
    before = [parameter.detach().clone() for parameter in trainer.learner.model.policy.parameters()]
    rng = np.random.default_rng(0)
    for _ in range(40):
        play(trainer, 1, list(rng.uniform(0, 1, size=5)))
    after = list(trainer.learner.model.policy.parameters())
    assert any(not torch.equal(old, new) for old, new in zip(before, after, strict=True))
    policy = trainer.learner.model.policy
    mirrored = mirror(policy)
    assert mirrored is not None
    for value in (-2.0, 0.0, 0.5, 3.0):
        assert check(mirrored, policy, observation(value))


def test_mirror_of_a_continuous_ppo_policy(tmp_path: Path) -> None:
    spaces = SpaceSpec(
        observation=(ObservationField("x", "number"), ObservationField("y", "number")),
        continuous_actions=(ContinuousActionField("force", -1, 1),),
    )
    built = dataclasses.replace(plan(), spaces=spaces)
    learner = build_learner(built)
    mirrored = mirror(learner.model.policy)
    assert mirrored is not None
    assert check(mirrored, learner.model.policy, np.array([0.3, -0.7], dtype=np.float32))
    action = learner.act(1, np.array([0.3, -0.7], dtype=np.float32))
    assert action.shape == (1,) and -1 <= float(action[0]) <= 1


def test_checkpoint_round_trip_restores_weights_counters_and_buffers(tmp_path: Path) -> None:
    built = plan("DQN")
    trainer = Trainer(built, build_learner(built), tmp_path / "checkpoints")
    for _ in range(30):
        play(trainer, 1, [1.0, 0.5, 0.25])
    events: list[dict[str, Any]] = []
    trainer.checkpoint(events)
    path = Path(events[-1]["path"])
    assert path.is_dir() and not any(item.name.startswith(".tmp") for item in path.parent.iterdir())
    learner, saved = checkpoints.read_checkpoint(path, built)
    progress = Progress.from_json(saved)
    assert (progress.episode, progress.iteration) == (trainer.progress.episode, trainer.progress.iteration)
    assert learner.transitions == trainer.learner.transitions
    assert learner.model.replay_buffer.pos == trainer.learner.model.replay_buffer.pos  # type: ignore[attr-defined]
    for old, new in zip(
        trainer.learner.model.policy.parameters(), learner.model.policy.parameters(), strict=True
    ):
        assert torch.equal(old, new)
    policy = checkpoints.read_serving_policy(path)
    assert check(mirror(policy), trainer.learner.model.policy, observation(1.0))
