"""Observations: what a caller has learnt so far, and which of them an optimiser may learn from.

Callers store whatever their users logged (bender.md §4.4 does not check trial values), so filtering
happens here, once, with the same rules for every optimiser (bender.md §4.5 step 3).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from crucible.engines.optimize.space import SearchSpace, contains, is_number


@dataclass(frozen=True)
class Observation:
    """One finished trial: its parameter values, its loss (the engine always minimises) and its weight."""

    params: Mapping[str, Any]
    loss: float
    weight: float = 1.0

    def __post_init__(self) -> None:
        if not isinstance(self.params, Mapping):
            raise ValueError(f"Observation.params must be a mapping, not {type(self.params).__name__}")


def is_usable(space: SearchSpace, observation: Observation) -> bool:
    """Finite loss, finite positive weight, and a valid value for every parameter (extra keys are ignored)."""
    loss, weight, params = observation.loss, observation.weight, observation.params
    if not (is_number(loss) and math.isfinite(loss)):
        return False
    if not (is_number(weight) and math.isfinite(weight) and weight > 0):
        return False
    for param in space:
        value = params.get(param.name, _MISSING)
        if value is _MISSING or not contains(param, value):
            return False
    return True


def usable_observations(space: SearchSpace, observations: Iterable[Observation]) -> list[Observation]:
    """The observations an optimiser may learn from, in their original order."""
    return [observation for observation in observations if is_usable(space, observation)]


_MISSING = object()
