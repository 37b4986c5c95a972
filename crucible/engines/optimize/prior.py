"""The prior of each parameter: what the `random` optimiser draws from, and the shape the TPE builds on.

Numeric parameters are handled in *internal coordinates*: the value itself, or its natural log for
loguniform/lognormal (the log base does not change either distribution). There, every prior is either
uniform over [lo, hi] or a normal truncated to [lo, hi].
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from crucible.engines.optimize import truncated_normal
from crucible.engines.optimize.space import CategoricalParam, NumericParam, SearchSpace
from crucible.engines.optimize.values import exact_value


@dataclass(frozen=True)
class NumericPrior:
    """A numeric prior in internal coordinates: its bounds, and the centre and width TPE mixtures use."""

    lo: float
    hi: float
    centre: float
    width: float
    is_uniform: bool

    @classmethod
    def of(cls, param: NumericParam) -> NumericPrior:
        lo, hi = to_internal(param, param.bounds.lower), to_internal(param, param.bounds.upper)
        if param.distribution in ("uniform", "loguniform"):
            return cls(lo, hi, (lo + hi) / 2, hi - lo, True)
        mu, sigma = param.mu, param.sigma
        if param.is_log:
            mu, sigma = math.log(mu), math.log(sigma)  # type: ignore[arg-type]
        return cls(lo, hi, float(mu), float(sigma), False)  # type: ignore[arg-type]

    def draw(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """`size` independent draws in internal coordinates."""
        if self.is_uniform:
            return np.clip(self.lo + rng.random(size) * (self.hi - self.lo), self.lo, self.hi)
        return truncated_normal.sample(rng, self.centre, self.width, self.lo, self.hi, size)


def to_internal(param: NumericParam, x: Any) -> Any:
    """Value → internal coordinate (ln for log distributions; ln 0 is −∞). Works on floats and arrays."""
    if not param.is_log:
        return x
    with np.errstate(divide="ignore"):
        return np.log(x) if isinstance(x, np.ndarray) else (math.log(x) if x > 0 else -math.inf)


def from_internal(param: NumericParam, z: np.ndarray) -> np.ndarray:
    """Internal coordinate → value (the inverse of `to_internal`)."""
    return np.exp(z) if param.is_log else z


def categorical_value(param: CategoricalParam, index: int) -> Any:
    """The value exactly as stored (same type); lists and objects are copied so callers cannot alter it."""
    value = param.values[index]
    return copy.deepcopy(value) if isinstance(value, (list, dict)) else value


def draw_categories(param: CategoricalParam, rng: np.random.Generator, size: int) -> np.ndarray:
    """`size` category indices drawn with the parameter's probabilities."""
    return rng.choice(len(param.values), size=size, p=np.asarray(param.weights))


def sample_prior(space: SearchSpace, rng: np.random.Generator) -> dict[str, Any]:
    """One draw from the prior of every parameter, with exact values (the `random` optimiser)."""
    values: dict[str, Any] = {}
    for param in space:
        if isinstance(param, CategoricalParam):
            values[param.name] = categorical_value(param, int(draw_categories(param, rng, 1)[0]))
        else:
            z = NumericPrior.of(param).draw(rng, 1)
            values[param.name] = exact_value(param, float(from_internal(param, z)[0]))
    return values
