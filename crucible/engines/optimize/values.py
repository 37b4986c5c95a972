"""Value exactness (bender.md §4.6): turning a drawn float into the exact JSON value a caller gets back.

A drawn number is placed on the grid anchor + k·step (the nearest grid point inside the bounds), integer
grids give Python ints, and decimal grids are rounded so that 0.1 steps give 0.3, not 0.30000000000000004.
Without a step the draw is only clamped into the bounds, which float rounding can otherwise overshoot.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

import numpy as np

_MAX_CORRECTIONS = 8

if TYPE_CHECKING:
    from crucible.engines.optimize.space import NumericParam


@dataclass(frozen=True)
class Bounds:
    """Where returned values may lie: [lower, upper) or [lower, upper], with an open 0 for lognormal."""

    lower: float
    upper: float
    includes_high: bool
    excludes_low: bool

    def above_lower(self, value: float) -> bool:
        return value > self.lower if self.excludes_low else value >= self.lower

    def below_upper(self, value: float) -> bool:
        return value <= self.upper if self.includes_high else value < self.upper

    def hold_observed(self, values: np.ndarray) -> np.ndarray:
        """Which observed values lie inside; `high` counts as inside even when draws stay below it
        (bender.md §4.5). NaN, standing for "not a finite number", is never inside."""
        with np.errstate(invalid="ignore"):
            inside = (values >= self.lower) & (values <= self.upper)
            if self.excludes_low:
                inside &= values > self.lower
        return inside

    def clamp(self, values: np.ndarray) -> np.ndarray:
        """The closest values that may be returned (vectorised): the open ends become the nearest
        float inside, since float rounding of a draw can land exactly on them."""
        lowest = np.nextafter(self.lower, np.inf) if self.excludes_low else self.lower
        highest = self.upper if self.includes_high else np.nextafter(self.upper, -np.inf)
        return np.clip(values, lowest, highest)


@dataclass(frozen=True)
class Grid:
    """The grid points anchor + k·step for k_min ≤ k ≤ k_max (None: unbounded on that side).

    `decimals` is None for integer grids (int anchor and step give ints); otherwise grid values are
    rounded to the larger number of decimals of anchor and step.
    """

    anchor: int | float
    step: int | float
    decimals: int | None
    k_min: int | None
    k_max: int | None

    @classmethod
    def build(cls, anchor: int | float, step: int | float, bounds: Bounds) -> Grid:
        integral = isinstance(anchor, int) and isinstance(step, int)
        decimals = None if integral else max(_decimals(anchor), _decimals(step))
        grid = cls(anchor, step, decimals, None, None)
        k_min = None if math.isinf(bounds.lower) else grid._first_index_above(bounds)
        k_max = None if math.isinf(bounds.upper) else grid._last_index_below(bounds)
        return cls(anchor, step, decimals, k_min, k_max)

    @property
    def is_empty(self) -> bool:
        return self.k_min is not None and self.k_max is not None and self.k_min > self.k_max

    def value(self, k: int) -> int | float:
        """The exact grid value at index k."""
        if self.decimals is None:
            return self.anchor + k * self.step  # type: ignore[return-value]  # int arithmetic is exact
        return round(self.anchor + k * self.step, self.decimals) + 0.0  # + 0.0 turns -0.0 into 0.0

    def nearest_indices(self, x: np.ndarray) -> np.ndarray:
        """Index of the nearest grid point inside the bounds, for each float in `x` (vectorised)."""
        with np.errstate(over="ignore"):  # absurd draws give ±inf, turned into the largest finite index
            k = np.rint((np.asarray(x, dtype=float) - self.anchor) / self.step)
        lo = -np.inf if self.k_min is None else self.k_min
        hi = np.inf if self.k_max is None else self.k_max
        return np.clip(np.nan_to_num(k, nan=0.0), lo, hi)

    def place(self, x: float) -> int | float:
        """The exact value of the grid point nearest to x that lies inside the bounds."""
        return self.value(int(self.nearest_indices(np.array([x]))[0]))

    # The first guess from float division can be off by one either way; the exact rounded grid values decide.
    # A step below the float resolution of the bounds would make these walks endless, hence the cap.

    def _first_index_above(self, bounds: Bounds) -> int:
        k = _guess(math.ceil, bounds.lower - self.anchor, self.step)
        for _ in range(_MAX_CORRECTIONS):
            if not bounds.above_lower(self.value(k)):
                k += 1
            elif bounds.above_lower(self.value(k - 1)):
                k -= 1
            else:
                return k
        raise ValueError("'step' is too small for the magnitude of the bounds")

    def _last_index_below(self, bounds: Bounds) -> int:
        k = _guess(math.floor, bounds.upper - self.anchor, self.step)
        for _ in range(_MAX_CORRECTIONS):
            if not bounds.below_upper(self.value(k)):
                k -= 1
            elif bounds.below_upper(self.value(k + 1)):
                k += 1
            else:
                return k
        raise ValueError("'step' is too small for the magnitude of the bounds")


def exact_value(param: NumericParam, x: float) -> int | float:
    """The value returned for a draw x: on the grid when there is a step, else clamped into the bounds."""
    if param.grid is not None:
        return param.grid.place(x)
    return float(param.bounds.clamp(np.float64(x)))


def snap(param: NumericParam, x: np.ndarray) -> np.ndarray:
    """Vectorised float approximation of `exact_value`, for scoring many candidates at once."""
    if param.grid is None:
        return param.bounds.clamp(x)
    return param.grid.anchor + param.grid.nearest_indices(x) * param.grid.step


def _guess(rounding: Callable[[float], int], distance: float, step: float) -> int:
    try:
        return rounding(distance / step)
    except (OverflowError, ValueError):
        raise ValueError("'step' is too small for the magnitude of the bounds") from None


def _decimals(number: int | float) -> int:
    """Decimal places in the shortest repr of a number: 0.1 → 1, 2.5e-7 → 8, 3 → 0."""
    exponent = Decimal(repr(number)).as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0
