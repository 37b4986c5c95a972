"""The shared optimisation engine: search spaces, observations and samplers, with no HTTP and no dialect.

Bender's `suggest` and Polyaxon's hyperparameter groups both call it; each dialect translates its own wire
format into this model. Typical use:

    space = SearchSpace([
        NumericParam("lr", "loguniform", low=1e-5, high=1e-1),
        CategoricalParam("act", ("relu", "tanh")),
    ])
    answer = suggest(space, [Observation({"lr": 0.01, "act": "relu"}, loss=0.3)], seed=7)
    answer.values, answer.optimizer_used
"""

from crucible.engines.optimize.discrete import grid, grid_size, sample_distinct
from crucible.engines.optimize.observations import Observation, is_usable, usable_observations
from crucible.engines.optimize.optimizers import DEFAULT_OPTIMIZER, Suggestion, optimizer_names, suggest
from crucible.engines.optimize.prior import sample_prior
from crucible.engines.optimize.space import (
    CategoricalParam,
    NumericParam,
    Param,
    SearchSpace,
    SpaceError,
    contains,
    json_equal,
)

__all__ = [
    "DEFAULT_OPTIMIZER",
    "CategoricalParam",
    "NumericParam",
    "Observation",
    "Param",
    "SearchSpace",
    "SpaceError",
    "Suggestion",
    "contains",
    "grid",
    "grid_size",
    "is_usable",
    "json_equal",
    "optimizer_names",
    "sample_distinct",
    "sample_prior",
    "suggest",
    "usable_observations",
]
