"""Discrete spaces: full grid enumeration and distinct random draws (Polyaxon's grid and random search).

Both work on spaces whose parameters are all categorical; Polyaxon's discrete matrix options
(values, pvalues, range, linspace, logspace, geomspace) become categoricals in its dialect.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from typing import Any

import numpy as np

from crucible.engines.optimize.prior import categorical_value
from crucible.engines.optimize.space import CategoricalParam, SearchSpace, SpaceError

_ENUMERATION_LIMIT = 1_000_000  # spaces up to this size are sampled exactly, without replacement
_ATTEMPTS_PER_DRAW = 100  # larger spaces use rejection; this bounds the work instead of hanging


def grid(space: SearchSpace) -> Iterator[dict[str, Any]]:
    """Every configuration, as the Cartesian product in declaration order with the last parameter fastest."""
    params = _categoricals(space)
    for indices in itertools.product(*(range(len(p.values)) for p in params)):
        yield {p.name: categorical_value(p, i) for p, i in zip(params, indices, strict=True)}


def grid_size(space: SearchSpace) -> int:
    """How many configurations `grid` yields (1 for an empty space: the empty configuration)."""
    return math.prod(len(p.values) for p in _categoricals(space))


def sample_distinct(space: SearchSpace, n: int, rng: np.random.Generator) -> list[dict[str, Any]]:
    """Up to `n` distinct configurations drawn from the prior without replacement.

    Values with probability 0 are never drawn, so the cap is the number of configurations made only of
    values with positive probability. The order is the order of successive weighted draws."""
    params = _categoricals(space)
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"n must be an integer >= 0, not {n!r}")
    weights = [np.asarray(p.weights) for p in params]
    size = math.prod(int(np.count_nonzero(w)) for w in weights)
    n = min(n, size)
    if size <= _ENUMERATION_LIMIT:
        rows = _draw_enumerated(weights, n, rng)
    else:
        rows = _draw_by_rejection(weights, n, rng)
    return [{p.name: categorical_value(p, int(i)) for p, i in zip(params, row, strict=True)} for row in rows]


def _draw_enumerated(weights: list[np.ndarray], n: int, rng: np.random.Generator) -> list[tuple[int, ...]]:
    """Weighted sampling without replacement over every configuration (Gumbel top-k: sorting
    log weight + Gumbel noise gives the order of successive weighted draws)."""
    log_weight = np.zeros(1)
    with np.errstate(divide="ignore"):
        for w in weights:
            log_weight = np.add.outer(log_weight, np.log(w)).ravel()
    keys = log_weight + rng.gumbel(size=log_weight.size)
    top = np.argsort(-keys, kind="stable")[:n]
    shape = tuple(len(w) for w in weights)
    return list(zip(*np.unravel_index(top, shape), strict=True)) if shape else [()] * n


def _draw_by_rejection(weights: list[np.ndarray], n: int, rng: np.random.Generator) -> list[tuple[int, ...]]:
    """Prior draws, skipping repeats; for spaces too large to enumerate, where repeats are rare."""
    seen: set[tuple[int, ...]] = set()
    rows: list[tuple[int, ...]] = []
    for _ in range(_ATTEMPTS_PER_DRAW * n):
        row = tuple(int(rng.choice(len(w), p=w)) for w in weights)
        if row not in seen:
            seen.add(row)
            rows.append(row)
            if len(rows) == n:
                return rows
    raise ValueError(f"could not draw {n} distinct configurations; the probabilities are too concentrated")


def _categoricals(space: SearchSpace) -> list[CategoricalParam]:
    params = []
    for param in space:
        if not isinstance(param, CategoricalParam):
            raise SpaceError("grid and distinct draws need categorical parameters only", param.name)
        params.append(param)
    return params
