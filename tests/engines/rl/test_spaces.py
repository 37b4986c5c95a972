"""Observation and action spaces from the dialect-neutral description (spec §4.8.1)."""

from __future__ import annotations

import numpy as np
from gymnasium import spaces

from crucible.engines.rl.spaces import (
    ContinuousActionField,
    DiscreteActionField,
    ObservationField,
    Spaces,
    SpaceSpec,
)


def test_discrete_actions_are_mixed_radix_with_the_last_field_fastest() -> None:
    spec = SpaceSpec(
        observation=(ObservationField("x", "number"),),
        discrete_actions=(DiscreteActionField("a", (-1, 0, 1)), DiscreteActionField("b", (False, True))),
    )
    built = Spaces(spec)
    assert built.action_space == spaces.Discrete(6)
    decoded = [built.action_values(index) for index in range(6)]
    assert decoded[0] == {"a": -1, "b": False}
    assert decoded[1] == {"a": -1, "b": True}
    assert decoded[2] == {"a": 0, "b": False}
    assert decoded[5] == {"a": 1, "b": True}
    assert [built.action_index([item["a"], item["b"]]) for item in decoded] == list(range(6))


def test_observation_vector_numbers_bools_one_hot_and_small_pixels() -> None:
    spec = SpaceSpec(
        observation=(
            ObservationField("n", "number"),
            ObservationField("flag", "bool"),
            ObservationField("mode", "one_hot", choices=("fast", "slow")),
            ObservationField("camera", "pixels", width=2, height=2),
        ),
        discrete_actions=(DiscreteActionField("a", (0, 1)),),
    )
    built = Spaces(spec)
    assert built.observation_space.shape == (1 + 1 + 2 + 4,)
    vector = built.observation({"n": 2.5, "flag": True, "mode": "slow", "camera": [0.1, 0.2, 0.3, 0.4]})
    assert vector.dtype == np.float32
    assert np.allclose(vector, [2.5, 1, 0, 1, 0.1, 0.2, 0.3, 0.4])


def test_large_luminance_is_an_image_alone_or_in_a_dict() -> None:
    image_only = Spaces(
        SpaceSpec(
            observation=(ObservationField("camera", "pixels", width=40, height=36),),
            discrete_actions=(DiscreteActionField("a", (0, 1)),),
        )
    )
    assert image_only.observation_space == spaces.Box(0, 255, shape=(1, 36, 40), dtype=np.uint8)
    observed = image_only.observation({"camera": [1.0] * (40 * 36)})
    assert observed.shape == (1, 36, 40) and observed.max() == 255
    mixed = Spaces(
        SpaceSpec(
            observation=(
                ObservationField("camera", "pixels", width=40, height=40),
                ObservationField("speed", "number"),
            ),
            discrete_actions=(DiscreteActionField("a", (0, 1)),),
        )
    )
    assert isinstance(mixed.observation_space, spaces.Dict)
    assert set(mixed.observation({"camera": [0.5] * 1600, "speed": 3.0})) == {"image", "vector"}


def test_continuous_actions_are_clipped_and_integers_rounded() -> None:
    built = Spaces(
        SpaceSpec(
            observation=(ObservationField("x", "number"),),
            continuous_actions=(
                ContinuousActionField("force", -2.5, 2.5),
                ContinuousActionField("steps", 0, 10, integer=True),
            ),
        )
    )
    assert built.action_space == spaces.Box(
        np.array([-2.5, 0], dtype=np.float32), np.array([2.5, 10], dtype=np.float32)
    )
    assert built.action_values(np.array([7.0, 3.6])) == {"force": 2.5, "steps": 4}


def test_space_spec_json_round_trip() -> None:
    spec = SpaceSpec(
        observation=(
            ObservationField("mode", "one_hot", choices=("a", "b")),
            ObservationField("p", "pixels", width=3, height=2),
        ),
        discrete_actions=(DiscreteActionField("a", (1, 2)),),
    )
    assert SpaceSpec.from_json(spec.to_json()) == spec
