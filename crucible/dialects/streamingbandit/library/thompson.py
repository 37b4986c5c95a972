"""`thompson` (also injected as `thmp`): Thompson sampling over a `base.List` of arms.

Draws use numpy's legacy global generator, so a seeded run repeats exactly.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from crucible.dialects.streamingbandit.library import base


class BBThompsonList(base.List):
    """Beta-Bernoulli Thompson sampling over arms kept as `base.Proportion` (p, n)."""

    def __init__(self, objects: Mapping[Any, Any] | None, value_names: Iterable[Any]) -> None:
        super().__init__(objects, base.Proportion, value_names)

    def beta_parameters(self) -> list[tuple[float, float]]:
        """(a, b) per arm in order: a = p·n successes, b = n − a failures; Beta(1, 1) while either is 0."""
        parameters = []
        for name in self.value_names:
            value = self.base_list[name].get_dict()
            n = float(value["n"])
            a = float(value["p"]) * n
            b = n - a
            # `<=` rather than `==`: rounding may leave p a hair above 1 and b a hair below 0.
            parameters.append((1.0, 1.0) if a <= 0 or b <= 0 else (a, b))
        return parameters

    def thompson(self) -> Any:
        """The arm with the strictly largest Beta draw (ties → earlier arm; None if no draw is > 0)."""
        best, best_draw = None, 0.0
        for name, (a, b) in zip(self.value_names, self.beta_parameters(), strict=True):
            draw = np.random.beta(a, b)
            if draw > best_draw:
                best, best_draw = name, draw
        return best

    def propensity(self, value: Any, n: int = 1000) -> np.floating[Any]:
        """Share of `n` simulated Thompson rounds that `value` wins: its probability of being chosen."""
        if value not in self.value_names:
            return np.float64(0.0)
        draws = np.column_stack([np.random.beta(a, b, size=int(n)) for a, b in self.beta_parameters()])
        winners = np.argmax(draws, axis=1)
        return np.mean(winners == self.value_names.index(value))


class ThompsonVarList(base.List):
    """Thompson sampling on variances: pick the arm whose sampled spread per observation is largest."""

    def __init__(self, objects: Mapping[Any, Any] | None, value_names: Iterable[Any]) -> None:
        super().__init__(objects, base.Variance, value_names)

    def experimentThompson(self) -> Any:
        """First arm with n < 2; else the arm with the largest √(s / χ²(n−1)) / n (None if none is > 0).

        Camel case because experiment code calls it by the original's name.
        """
        for name in self.value_names:
            if base.as_int(self.base_list[name].get_dict()["n"]) < 2:
                return name
        best, best_draw = None, 0.0
        for name in self.value_names:
            value = self.base_list[name].get_dict()
            n = base.as_int(value["n"])
            draw = np.sqrt(float(value["s"]) / np.random.chisquare(n - 1)) / n
            if draw > best_draw:
                best, best_draw = name, draw
        return best
