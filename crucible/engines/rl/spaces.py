"""Observation and action spaces from a dialect-neutral description (spec §4.8.1).

A dialect describes its state and action fields with the small dataclasses below; this module turns
them into Gymnasium spaces, turns state values into observation arrays, and actions back into field
values. Nothing here knows which language described the fields.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from gymnasium import spaces

IMAGE_MIN_SIDE = 36  # a Luminance field at least this wide and high becomes an image observation

ObservationKind = Literal["number", "bool", "one_hot", "pixels"]


@dataclass(frozen=True)
class ObservationField:
    """One state field. `choices` for one_hot (constrained strings); width/height for pixels."""

    name: str
    kind: ObservationKind
    choices: tuple[str, ...] = ()
    width: int = 0
    height: int = 0

    @property
    def is_image(self) -> bool:
        return self.kind == "pixels" and self.width >= IMAGE_MIN_SIDE and self.height >= IMAGE_MIN_SIDE

    @property
    def size(self) -> int:
        """How many floats the field adds to the observation vector (0 for an image field)."""
        if self.kind == "one_hot":
            return len(self.choices)
        if self.kind == "pixels":
            return 0 if self.is_image else self.width * self.height
        return 1


@dataclass(frozen=True)
class DiscreteActionField:
    """A classifier output: its ordered finite value set."""

    name: str
    values: tuple[Any, ...]


@dataclass(frozen=True)
class ContinuousActionField:
    """An estimator output: clipped to [low, high]; `integer` rounds the value sent."""

    name: str
    low: float
    high: float
    integer: bool = False


@dataclass(frozen=True)
class SpaceSpec:
    """State fields in order, and action fields: all discrete (classifier) or all continuous (estimator)."""

    observation: tuple[ObservationField, ...]
    discrete_actions: tuple[DiscreteActionField, ...] = ()
    continuous_actions: tuple[ContinuousActionField, ...] = ()

    @property
    def is_discrete(self) -> bool:
        return bool(self.discrete_actions)

    def to_json(self) -> dict[str, Any]:
        return {
            "observation": [vars(item) | {"choices": list(item.choices)} for item in self.observation],
            "discrete_actions": [
                {"name": item.name, "values": list(item.values)} for item in self.discrete_actions
            ],
            "continuous_actions": [vars(item).copy() for item in self.continuous_actions],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SpaceSpec:
        return cls(
            observation=tuple(
                ObservationField(**(item | {"choices": tuple(item["choices"])}))
                for item in data["observation"]
            ),
            discrete_actions=tuple(
                DiscreteActionField(item["name"], tuple(item["values"])) for item in data["discrete_actions"]
            ),
            continuous_actions=tuple(ContinuousActionField(**item) for item in data["continuous_actions"]),
        )


class Spaces:
    """The Gymnasium spaces of a SpaceSpec and the conversions in and out of them."""

    def __init__(self, spec: SpaceSpec) -> None:
        self.spec = spec
        images = [item for item in spec.observation if item.is_image]
        self.image_field = images[0] if images else None
        self.vector_size = sum(item.size for item in spec.observation)
        self.observation_space = self._observation_space()
        self.action_space = self._action_space()
        self._radices = [len(item.values) for item in spec.discrete_actions]

    def _observation_space(self) -> spaces.Space[Any]:
        vector = spaces.Box(-np.inf, np.inf, shape=(self.vector_size,), dtype=np.float32)
        if self.image_field is None:
            return vector
        image = spaces.Box(0, 255, shape=(1, self.image_field.height, self.image_field.width), dtype=np.uint8)
        if self.vector_size == 0 and len(self.spec.observation) == 1:
            return image
        return spaces.Dict({"image": image, "vector": vector})

    def _action_space(self) -> spaces.Space[Any]:
        if self.spec.is_discrete:
            return spaces.Discrete(int(np.prod([len(item.values) for item in self.spec.discrete_actions])))
        low = np.array([item.low for item in self.spec.continuous_actions], dtype=np.float32)
        high = np.array([item.high for item in self.spec.continuous_actions], dtype=np.float32)
        return spaces.Box(low, high, dtype=np.float32)

    def observation(self, values: Mapping[str, Any]) -> Any:
        """State values (field name -> number, bool, string or pixel sequence) as an observation."""
        vector = np.zeros(self.vector_size, dtype=np.float32)
        image = None
        offset = 0
        for item in self.spec.observation:
            value = values.get(item.name)
            if item.kind == "number":
                vector[offset] = float(value or 0.0)
            elif item.kind == "bool":
                vector[offset] = 1.0 if value else 0.0
            elif item.kind == "one_hot":
                if value in item.choices:
                    vector[offset + item.choices.index(value)] = 1.0
            else:
                pixels = np.asarray(value if value is not None else (), dtype=np.float32)
                if item.is_image:
                    image = (
                        np.rint(255 * np.clip(pixels, 0, 1))
                        .astype(np.uint8)
                        .reshape(1, item.height, item.width)
                    )
                elif pixels.size == item.size:
                    vector[offset : offset + item.size] = pixels
            offset += item.size
        if self.image_field is None:
            return vector
        if isinstance(self.observation_space, spaces.Dict):
            return {"image": image, "vector": vector}
        return image

    def action_values(self, action: Any) -> dict[str, Any]:
        """An action of the action space as field values, in declaration order."""
        if self.spec.is_discrete:
            index = int(np.asarray(action).reshape(-1)[0])
            chosen: dict[str, Any] = {}
            for item, radix in zip(
                reversed(self.spec.discrete_actions), reversed(self._radices), strict=True
            ):
                chosen[item.name] = item.values[index % radix]
                index //= radix
            return {item.name: chosen[item.name] for item in self.spec.discrete_actions}
        array = np.asarray(action, dtype=np.float64).reshape(-1)
        result: dict[str, Any] = {}
        for item, value in zip(self.spec.continuous_actions, array, strict=True):
            clipped = min(max(float(value), item.low), item.high)
            result[item.name] = round(clipped) if item.integer else clipped
        return result

    def action_index(self, values: Sequence[Any]) -> int:
        """The Discrete index of one value per field (the inverse of `action_values`)."""
        index = 0
        for item, value in zip(self.spec.discrete_actions, values, strict=True):
            index = index * len(item.values) + item.values.index(value)
        return index
