"""The one entry point every caller uses: `suggest(space, observations, optimizer, seed, options)`.

It never lets an optimiser's internal failure escape: a valid request always gets an answer, and the
answer says which optimiser actually produced it, so a caller can report a fallback to the prior
(Bender's `X-Bender-Optimizer-Used: random`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from crucible.engines.optimize.gaussian_process import GpSettings, suggest_gp
from crucible.engines.optimize.observations import Observation
from crucible.engines.optimize.options import settings_from_options
from crucible.engines.optimize.prior import sample_prior
from crucible.engines.optimize.space import SearchSpace
from crucible.engines.optimize.tpe import TpeSettings, suggest_tpe

logger = logging.getLogger(__name__)

RANDOM = "random"
DEFAULT_OPTIMIZER = "parzen_estimator"


@dataclass(frozen=True)
class Suggestion:
    """Exact parameter values, and the optimiser that produced them ("random" after any fallback)."""

    values: dict[str, Any]
    optimizer_used: str


@dataclass(frozen=True)
class _Optimizer:
    settings: type
    run: Callable[[SearchSpace, Sequence[Observation], np.random.Generator, Any], dict[str, Any] | None]


_OPTIMIZERS: dict[str, _Optimizer | None] = {
    RANDOM: None,
    "parzen_estimator": _Optimizer(TpeSettings, suggest_tpe),
    "gaussian_process": _Optimizer(GpSettings, suggest_gp),
}


def optimizer_names() -> list[str]:
    """Every optimiser `suggest` accepts, "random" first."""
    return list(_OPTIMIZERS)


def suggest(
    space: SearchSpace,
    observations: Iterable[Observation],
    optimizer: str = DEFAULT_OPTIMIZER,
    seed: int | None = None,
    options: Mapping[str, Any] | None = None,
) -> Suggestion:
    """Suggest the next parameter values to try.

    Raises ValueError (SpaceError is one) only for bad arguments: an unknown optimiser, a bad seed,
    unknown or invalid options, or something that is not a SearchSpace/Observation. Unusable
    observations are skipped, not rejected. When the optimiser cannot run (too few usable observations)
    or fails internally, the answer is a prior draw and `optimizer_used` is "random".
    Same space, observations (in the same order), optimiser, options and seed give the same answer.
    """
    if not isinstance(space, SearchSpace):
        raise ValueError(f"space must be a SearchSpace, not {type(space).__name__}")
    if optimizer not in _OPTIMIZERS:
        raise ValueError(f"unknown optimizer {optimizer!r}; valid: {', '.join(_OPTIMIZERS)}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise ValueError(f"seed must be an integer >= 0, not {seed!r}")
    observations = list(observations)
    if not set(map(type, observations)) <= {Observation}:  # the fast check; subclasses take the slow one
        for observation in observations:
            if not isinstance(observation, Observation):
                kind = type(observation).__name__
                raise ValueError(f"observations must be Observation instances, not {kind}")

    chosen = _OPTIMIZERS[optimizer]
    if chosen is None:
        if options:
            raise ValueError(f"the random optimizer takes no options, got {sorted(options)}")
        return Suggestion(sample_prior(space, np.random.default_rng(seed)), RANDOM)
    settings = settings_from_options(chosen.settings, options)
    try:
        values = chosen.run(space, observations, np.random.default_rng(seed), settings)
    except Exception:  # an engine bug must not cost the caller its answer (bender.md §4.5 step 7)
        logger.exception("optimizer %s failed; answering with a prior draw", optimizer)
        values = None
    if values is None:
        return Suggestion(sample_prior(space, np.random.default_rng(seed)), RANDOM)
    return Suggestion(values, optimizer)
