"""`bts`: bootstrapped Thompson sampling — m replicates of a model, each updated on a random half of the data.

Replicates are stored as one theta hash with fields "0".."m−1", each the Python-literal text of a model's
`get_dict()`; `sample()` returns one replicate's dict for the caller to wrap in its model class.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import numpy as np

from crucible.dialects.streamingbandit.library.literals import parse_literal


class BTS:
    """m replicates of `update_method` (a model class such as `lm.LM` with `update(y, x)` and `get_dict()`)."""

    def __init__(
        self,
        params: Mapping[Any, Any],
        update_method: type,
        m: int = 100,
        default_params: Mapping[str, Any] | None = None,
        param_noise: bool = True,
        noisesd: float = 0.1,
    ) -> None:
        if not isinstance(update_method, type):
            raise ValueError("update_method must be a class, e.g. lm.LM")
        if not isinstance(params, Mapping):
            raise ValueError("params must be a dict, e.g. self.get_theta()")
        self.update_method = update_method
        self.m = int(m)
        if len(params) == self.m:
            self.replicates = [_replicate(params, i) for i in range(self.m)]
        elif default_params:
            defaults = {name: parse_literal(value) for name, value in default_params.items()}
            self.replicates = [_perturbed(defaults, param_noise, float(noisesd)) for _ in range(self.m)]
        else:
            self.replicates = [copy.deepcopy(dict(params)) for _ in range(self.m)]

    def sample(self) -> dict[str, Any]:
        """One replicate's parameters, chosen uniformly (a copy, safe to change)."""
        return copy.deepcopy(self.replicates[np.random.randint(self.m)])

    def update(self, y: Any, x: Any, *args: Any, **kwargs: Any) -> None:
        """Update each replicate with probability ½ (the online bootstrap); `args` go to the model class."""
        chosen = np.random.binomial(1, 0.5, size=self.m)
        for i in np.flatnonzero(chosen):
            model = self.update_method(self.replicates[i], *args)
            model.update(y, x, **kwargs)
            self.replicates[i] = model.get_dict()

    def get_dict(self) -> dict[int, dict[str, Any]]:
        return dict(enumerate(self.replicates))


def _replicate(params: Mapping[Any, Any], i: int) -> dict[str, Any]:
    """Replicate i from a stored hash (field "i", literal text) or an in-memory dict (key i or "i")."""
    value = params[str(i)] if str(i) in params else params[i]
    parsed = parse_literal(value)
    if not isinstance(parsed, Mapping):
        raise ValueError(f"BTS replicate {i} is not a dict")
    return dict(parsed)


def _perturbed(defaults: Mapping[str, Any], param_noise: bool, noisesd: float) -> dict[str, Any]:
    """A copy of the default parameters; list-valued ones get N(v, noisesd) noise of the same shape."""
    replicate: dict[str, Any] = {}
    for name, value in defaults.items():
        if param_noise and isinstance(value, list | tuple | np.ndarray):
            replicate[name] = np.random.normal(np.asarray(value, dtype=float), noisesd).tolist()
        else:
            replicate[name] = copy.deepcopy(value)
    return replicate
