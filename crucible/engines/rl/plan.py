"""What to train, as the engine understands it: spaces, learner, hyperparameters and lessons.

A dialect builds a TrainingPlan from its own language (Bonsai: a compiled Inkling curriculum) and
hands it to the trainer process as JSON. The engine never sees the source language.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from crucible.engines.rl.spaces import SpaceSpec

LearnerName = Literal["PPO", "DQN", "SAC", "DDPG"]
Relation = Literal["==", "<", ">", "<=", ">="]


@dataclass(frozen=True)
class ConfigChoice:
    """How one config field is drawn at each episode start: from `values`, from the progression
    start + k·step (k < count), or uniformly from [low, high]."""

    field: str
    values: tuple[Any, ...] = ()
    start: float = 0.0
    step: float = 0.0
    count: int = 0
    low: float = 0.0
    high: float = 0.0

    def sample(self, rng: random.Random) -> Any:
        if self.values:
            return rng.choice(self.values)
        if self.count:
            value = self.start + rng.randrange(self.count) * self.step
            return int(value) if float(self.start).is_integer() and float(self.step).is_integer() else value
        return rng.uniform(self.low, self.high)


@dataclass(frozen=True)
class LessonPlan:
    """A lesson: its config draws and when it ends (maximize/minimize, or a threshold relation)."""

    name: str
    config: tuple[ConfigChoice, ...] = ()
    goal: Literal["maximize", "minimize", "threshold"] = "maximize"
    relation: Relation = ">="
    threshold: float = 0.0

    def threshold_met(self, score: float) -> bool:
        return {
            "==": score == self.threshold,
            "<": score < self.threshold,
            ">": score > self.threshold,
            "<=": score <= self.threshold,
            ">=": score >= self.threshold,
        }[self.relation]


@dataclass(frozen=True)
class Schedule:
    """Episode, test and termination settings (spec §4.8.3 extension parameters)."""

    max_episode_steps: int = 1000
    max_iterations: int = 5_000_000
    test_every_episodes: int = 20
    test_episodes: int = 3
    min_lesson_iterations: int = 100_000
    lesson_patience: int = 50
    checkpoint_iterations: int = 10_000
    checkpoint_seconds: float = 300.0


@dataclass(frozen=True)
class TrainingPlan:
    spaces: SpaceSpec
    learner: LearnerName
    hyperparameters: Mapping[str, Any]  # Stable-Baselines3 constructor keywords, already mapped
    exploration_steps: int  # DQN: epsilon decays linearly over this many training transitions
    lessons: tuple[LessonPlan, ...]
    schedule: Schedule = field(default_factory=Schedule)
    seed: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "spaces": self.spaces.to_json(),
            "learner": self.learner,
            "hyperparameters": dict(self.hyperparameters),
            "exploration_steps": self.exploration_steps,
            "lessons": [
                {
                    "name": lesson.name,
                    "config": [vars(choice) | {"values": list(choice.values)} for choice in lesson.config],
                    "goal": lesson.goal,
                    "relation": lesson.relation,
                    "threshold": lesson.threshold,
                }
                for lesson in self.lessons
            ],
            "schedule": vars(self.schedule).copy(),
            "seed": self.seed,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TrainingPlan:
        return cls(
            spaces=SpaceSpec.from_json(data["spaces"]),
            learner=data["learner"],
            hyperparameters=dict(data["hyperparameters"]),
            exploration_steps=int(data["exploration_steps"]),
            lessons=tuple(
                LessonPlan(
                    name=lesson["name"],
                    config=tuple(
                        ConfigChoice(**(choice | {"values": tuple(choice["values"])}))
                        for choice in lesson["config"]
                    ),
                    goal=lesson["goal"],
                    relation=lesson["relation"],
                    threshold=lesson["threshold"],
                )
                for lesson in data["lessons"]
            ),
            schedule=Schedule(**data["schedule"]),
            seed=data["seed"],
        )
