"""From a compiled Inkling curriculum to the engine's dialect-neutral TrainingPlan (spec §4.8.1–§4.8.3).

This is where Inkling meets the learning engine: field types become observation and action fields,
Inkling algorithm parameters become Stable-Baselines3 keywords, lessons become config draws and goals.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from crucible.dialects.bonsai.inkling import (
    Curriculum,
    Field,
    Interval,
    OptimizeGoal,
    Progression,
    ValueList,
    ValueSet,
)
from crucible.engines.rl.plan import ConfigChoice, LessonPlan, Schedule, TrainingPlan
from crucible.engines.rl.spaces import (
    ContinuousActionField,
    DiscreteActionField,
    ObservationField,
    SpaceSpec,
)
from crucible.settings import Settings

DEFAULTS: dict[str, dict[str, Any]] = {
    "DQN": {
        "learning_rate": 2.3e-3,
        "batch_size": 64,
        "buffer_size": 100_000,
        "learning_starts": 1000,
        "gamma": 0.99,
        "target_update_interval": 10,
        "train_freq": 256,
        "gradient_steps": 128,
        "policy_kwargs": {"net_arch": [256, 256], "activation_fn": "relu"},
    },
    "PPO": {
        "n_steps": 2048,
        "batch_size": 64,
        "n_epochs": 10,
        "learning_rate": 3e-4,
        "gamma": 0.99,
        "gae_lambda": 0.95,
        "clip_range": 0.2,
        "policy_kwargs": {"net_arch": [64, 64], "activation_fn": "tanh"},
    },
    "SAC": {"buffer_size": 300_000, "learning_starts": 1000},
    "DDPG": {},
}
DEFAULT_EXPLORATION_STEPS = 10_000
ACTIVATIONS = {"relu", "tanh", "elu", "linear", "logistic"}
SCHEDULE_PARAMETERS = (
    "max_episode_steps",
    "max_iterations",
    "test_every_episodes",
    "test_episodes",
    "min_lesson_iterations",
    "lesson_patience",
)


def observation_field(item: Field) -> ObservationField:
    if item.is_luminance:
        return ObservationField(item.name, "pixels", width=item.width or 0, height=item.height or 0)
    primitive = item.primitive
    assert primitive is not None
    if primitive.kind == "bool":
        return ObservationField(item.name, "bool")
    if primitive.kind == "string":
        values = item.values.ordered_values() if isinstance(item.values, ValueList | Progression) else ()
        return ObservationField(item.name, "one_hot", choices=tuple(str(value) for value in values))
    return ObservationField(item.name, "number")


def space_spec(curriculum: Curriculum) -> SpaceSpec:
    observation = tuple(observation_field(item) for item in curriculum.state_schema.fields)
    fields = curriculum.action_schema.fields
    if curriculum.concept.is_estimator:
        continuous = []
        for item in fields:
            values = item.values
            low, high = (values.low, values.high) if values is not None else (-1.0, 1.0)
            primitive = item.primitive
            integer = primitive is not None and primitive.is_integer
            continuous.append(
                ContinuousActionField(item.name, float(low or -1.0), float(high or 1.0), integer)
            )
        return SpaceSpec(observation, continuous_actions=tuple(continuous))
    discrete = []
    for item in fields:
        assert item.values is not None and not isinstance(item.values, Interval)
        discrete.append(DiscreteActionField(item.name, tuple(item.values.ordered_values())))
    return SpaceSpec(observation, discrete_actions=tuple(discrete))


def config_choice(field_name: str, values: ValueSet) -> ConfigChoice:
    if isinstance(values, ValueList):
        return ConfigChoice(field_name, values=tuple(values.values))
    if isinstance(values, Progression):
        return ConfigChoice(field_name, start=values.start, step=values.step, count=values.count)
    return ConfigChoice(field_name, low=values.low, high=values.high)


def hyperparameters(curriculum: Curriculum) -> tuple[dict[str, Any], int, dict[str, Any], int | None]:
    """SB3 keywords, DQN exploration steps, schedule overrides and seed from the algorithm clause."""
    learner = curriculum.algorithm.runs
    params: Mapping[str, Any] = curriculum.algorithm.parameters
    kwargs: dict[str, Any] = {
        key: (dict(value) if isinstance(value, dict) else value) for key, value in DEFAULTS[learner].items()
    }
    policy_kwargs: dict[str, Any] = dict(kwargs.pop("policy_kwargs", {}))
    exploration_steps = DEFAULT_EXPLORATION_STEPS
    schedule: dict[str, Any] = {}
    seed = None
    for name, value in params.items():
        if name == "q_learning_rate" or (name == "mu_learning_rate" and "q_learning_rate" not in params):
            kwargs["learning_rate"] = float(value)
        elif name == "gamma":
            kwargs["gamma"] = float(value)
        elif name == "exploration_decay":
            exploration_steps = (
                max(1, round(0.96 / float(value))) if float(value) > 0 else DEFAULT_EXPLORATION_STEPS
            )
        elif name == "samples_per_train":
            samples = max(1, int(value))
            if learner == "PPO":
                kwargs["n_steps"] = samples
            else:
                kwargs["train_freq"] = samples
                kwargs["gradient_steps"] = max(1, samples // 2)
        elif name == "hidden_layer_size_descriptor":
            sizes = value if isinstance(value, tuple | list) else (value,)
            policy_kwargs["net_arch"] = [int(size) for size in sizes]
        elif name == "hidden_layer_activation_descriptor":
            names = value if isinstance(value, tuple | list) else (value,)
            if names and str(names[0]) in ACTIVATIONS:
                policy_kwargs["activation_fn"] = str(names[0])
        elif name in SCHEDULE_PARAMETERS:
            schedule[name] = int(value)
        elif name == "seed":
            seed = int(value)
        elif name != "mu_learning_rate":
            kwargs[name] = value  # an SB3 keyword passed through verbatim
    if policy_kwargs:
        kwargs["policy_kwargs"] = policy_kwargs
    return kwargs, exploration_steps, schedule, seed


def lesson_plans(curriculum: Curriculum) -> tuple[LessonPlan, ...]:
    plans = []
    for lesson in curriculum.lessons:
        config = tuple(config_choice(item.field, item.values) for item in lesson.constraints)
        if isinstance(lesson.until, OptimizeGoal):
            plans.append(LessonPlan(lesson.name, config, goal=lesson.until.direction))
        else:
            plans.append(
                LessonPlan(
                    lesson.name,
                    config,
                    goal="threshold",
                    relation=lesson.until.relation,
                    threshold=float(lesson.until.value),
                )
            )
    return tuple(plans)


def training_plan(curriculum: Curriculum, settings: Settings) -> TrainingPlan:
    kwargs, exploration_steps, schedule, seed = hyperparameters(curriculum)
    return TrainingPlan(
        spaces=space_spec(curriculum),
        learner=curriculum.algorithm.runs,
        hyperparameters=kwargs,
        exploration_steps=exploration_steps,
        lessons=lesson_plans(curriculum),
        schedule=Schedule(
            **schedule,
            checkpoint_iterations=settings.bonsai_checkpoint_iterations,
            checkpoint_seconds=settings.bonsai_checkpoint_seconds,
        ),
        seed=seed,
    )
