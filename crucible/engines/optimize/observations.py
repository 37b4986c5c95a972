"""Observations: what a caller has learnt so far, and which of them an optimiser may learn from.

Callers store whatever their users logged (bender.md §4.4 does not check trial values), so filtering
happens here, once, with the same rules for every optimiser (bender.md §4.5 step 3).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from crucible.engines.optimize.space import CategoricalParam, SearchSpace, contains, finite_float


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
    weight = finite_float(observation.weight)
    if finite_float(observation.loss) is None or weight is None or weight <= 0:
        return False
    params = observation.params
    return all(param.name in params and contains(param, params[param.name]) for param in space)


def usable_observations(space: SearchSpace, observations: Iterable[Observation]) -> list[Observation]:
    """The observations an optimiser may learn from, in their original order."""
    observations = list(observations)
    return [o for o, usable in zip(observations, usable_mask(space, observations), strict=True) if usable]


def usable_mask(space: SearchSpace, observations: Sequence[Observation]) -> np.ndarray:
    """`is_usable` for many observations at once, a column of values at a time.

    The TPE filters on every suggestion, so this is on the hot path: checking 1,000 observations one
    value at a time costs milliseconds, checking them as numpy columns a fraction of that."""
    weights = _float_column([o.weight for o in observations])
    mask = np.isfinite(_float_column([o.loss for o in observations])) & (weights > 0)  # NaN > 0 is False
    for param in space:
        column = [o.params.get(param.name, _MISSING) for o in observations]
        if isinstance(param, CategoricalParam):
            mask &= np.fromiter(
                (param.index_of(v) is not None for v in column), dtype=bool, count=len(column)
            )
        else:
            mask &= param.bounds.hold_observed(_float_column(column))
    return mask


def _float_column(values: list[Any]) -> np.ndarray:
    """Each value as a float, NaN where `finite_float` gives None (non-numbers, booleans, ±inf, NaN)."""
    kinds = set(map(type, values))
    if kinds <= {int, float}:
        try:
            column = np.array(values, dtype=float)
        except OverflowError:  # an int beyond the float range; the slow path below gives it NaN
            pass
        else:
            column[~np.isfinite(column)] = np.nan
            return column
    converted = (finite_float(v) for v in values)
    return np.fromiter((math.nan if v is None else v for v in converted), dtype=float, count=len(values))


_MISSING = object()
