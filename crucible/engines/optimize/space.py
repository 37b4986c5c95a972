"""Search spaces: the parameters an optimiser may choose, and the rules that make a space valid.

The rules are those of the Bender spec (bender.md §4.3); Polyaxon's matrix options are translated into the
same model by its dialect. A space that passes these checks can never make a sampler crash later.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from crucible.engines.optimize.values import Bounds, Grid

Distribution = Literal["uniform", "loguniform", "normal", "lognormal"]
DISTRIBUTIONS: tuple[str, ...] = ("uniform", "loguniform", "normal", "lognormal")
LOG_DISTRIBUTIONS: tuple[str, ...] = ("loguniform", "lognormal")

# Which optional fields each distribution understands; anything else set is a caller mistake.
_FIELDS: dict[str, tuple[str, ...]] = {
    "uniform": ("low", "high", "step", "anchor"),
    "loguniform": ("low", "high", "step", "base", "anchor"),
    "normal": ("mu", "sigma", "low", "high", "step", "anchor"),
    "lognormal": ("mu", "sigma", "low", "high", "step", "base", "anchor"),
}
_PROBABILITY_TOLERANCE = 1e-6


class SpaceError(ValueError):
    """A parameter or search space breaks a rule; `reason` is the message without the parameter name."""

    def __init__(self, reason: str, param: str | None = None) -> None:
        self.reason = reason
        self.param = param
        super().__init__(f"parameter {param!r}: {reason}" if param is not None else reason)


def is_number(value: Any) -> bool:
    """True for int and float values (numpy ones included), False for booleans, which JSON keeps apart."""
    kind = type(value)
    if kind is float or kind is int:  # the common case, without the slow abstract-class check
        return True
    return isinstance(value, numbers.Real) and kind is not bool


def _or(value: float | None, default: float) -> float:
    return default if value is None else float(value)


def finite_float(value: Any) -> float | None:
    """The value as a float when it is a finite number (not a boolean), else None.
    Ints too large for a float count as not finite: no bound or density could use them."""
    if not is_number(value):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _check_number(name: str, key: str, value: Any) -> int | float:
    """Reject non-numbers, booleans and non-finite numbers; return a plain Python int or float."""
    if not is_number(value):
        raise SpaceError(f"{key!r} must be a number, not {value!r}", name)
    if finite_float(value) is None:
        raise SpaceError(f"{key!r} must be a finite number, not {value!r}", name)
    return int(value) if isinstance(value, numbers.Integral) else float(value)


@dataclass(frozen=True)
class NumericParam:
    """A numeric parameter drawn from a distribution, optionally placed on the grid anchor + k·step.

    `low`/`high` of None mean open bounds (−∞/+∞; 0 for lognormal). When `step` is set and `anchor` is not,
    the anchor follows Bender: `low` if given, else `mu` for normal, else 0 for lognormal (v = k·step, k ≥ 1).
    Polyaxon's quantised options (round(x/q)·q) pass `anchor=0` explicitly.
    `base` does not change any distribution (uniform in log_b space is uniform in ln space, and
    log_b v ~ N(log_b mu, log_b sigma) is ln v ~ N(ln mu, ln sigma)); it is validated and kept for callers.
    """

    name: str
    distribution: Distribution
    low: float | None = None
    high: float | None = None
    mu: float | None = None
    sigma: float | None = None
    step: float | None = None
    base: float = 10
    anchor: float | None = None
    bounds: Bounds = field(init=False, repr=False, compare=False)
    grid: Grid | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._normalise_fields()
        self._check_rules()
        bounds = Bounds(
            lower=_or(self.low, 0.0 if self.distribution == "lognormal" else -math.inf),
            upper=_or(self.high, math.inf),
            includes_high=self.distribution in ("normal", "lognormal"),
            excludes_low=self.distribution == "lognormal" and self.low is None,
        )
        object.__setattr__(self, "bounds", bounds)
        object.__setattr__(self, "grid", self._build_grid(bounds))

    def _normalise_fields(self) -> None:
        """Known name and distribution; numbers only, as plain ints/floats, in fields that apply."""
        name, dist = self.name, self.distribution
        if not isinstance(name, str) or not name:
            raise SpaceError(f"a parameter name must be a non-empty string, not {name!r}")
        if dist not in DISTRIBUTIONS:
            raise SpaceError(
                f"unknown distribution {dist!r}; expected one of {', '.join(DISTRIBUTIONS)}", name
            )
        for key in ("low", "high", "mu", "sigma", "step", "anchor"):
            value = getattr(self, key)
            if value is None:
                continue
            if key not in _FIELDS[dist]:
                raise SpaceError(f"{key!r} does not apply to a {dist} parameter", name)
            object.__setattr__(self, key, _check_number(name, key, value))
        object.__setattr__(self, "base", _check_number(name, "base", self.base))
        if self.base != 10 and "base" not in _FIELDS[dist]:
            raise SpaceError(f"'base' does not apply to a {dist} parameter", name)

    def _check_rules(self) -> None:
        """The rules table of bender.md §4.3, one message per rule."""
        name, dist = self.name, self.distribution
        low, high, mu, sigma, step = self.low, self.high, self.mu, self.sigma, self.step
        if self.base <= 0 or self.base == 1:
            raise SpaceError(f"'base' must be > 0 and != 1, got {self.base!r}", name)
        if dist in ("uniform", "loguniform") and (low is None or high is None):
            raise SpaceError(f"a {dist} parameter requires 'low' and 'high'", name)
        if dist in ("normal", "lognormal") and (mu is None or sigma is None):
            raise SpaceError(f"a {dist} parameter requires 'mu' and 'sigma'", name)
        if low is not None and high is not None and not high > low:
            raise SpaceError(f"'high' must be greater than 'low', got low={low!r}, high={high!r}", name)
        if dist == "loguniform" and not low > 0:  # type: ignore[operator]
            raise SpaceError(f"a loguniform parameter requires 'low' > 0, got {low!r}", name)
        if dist == "normal" and not sigma > 0:  # type: ignore[operator]
            raise SpaceError(f"a normal parameter requires 'sigma' > 0, got {sigma!r}", name)
        if dist == "lognormal":
            if not mu > 0:  # type: ignore[operator]
                raise SpaceError(f"a lognormal parameter requires 'mu' > 0, got {mu!r}", name)
            if not sigma > 1:  # type: ignore[operator]
                raise SpaceError(f"a lognormal parameter requires 'sigma' > 1, got {sigma!r}", name)
            if low is not None and not low > 0:
                raise SpaceError(f"a lognormal parameter requires 'low' > 0 when given, got {low!r}", name)
            if low is None and high is not None and not high > 0:
                raise SpaceError(f"a lognormal parameter requires 'high' > 0, got {high!r}", name)
        if step is None:
            if self.anchor is not None:
                raise SpaceError("'anchor' needs a 'step'", name)
        elif dist in ("uniform", "loguniform"):
            if not 0 < step <= high - low:  # type: ignore[operator]
                raise SpaceError(f"'step' must satisfy 0 < step <= high - low, got step={step!r}", name)
        elif not step > 0:
            raise SpaceError(f"'step' must be > 0, got {step!r}", name)

    def _build_grid(self, bounds: Bounds) -> Grid | None:
        if self.step is None:
            return None
        if self.anchor is None:
            object.__setattr__(self, "anchor", self._default_anchor())
        try:
            grid = Grid.build(self.anchor, self.step, bounds)  # type: ignore[arg-type]
        except ValueError as error:
            raise SpaceError(str(error), self.name) from None
        if grid.is_empty:
            message = f"no grid point anchor + k*step (anchor={self.anchor!r}) lies within the bounds"
            raise SpaceError(message, self.name)
        return grid

    def _default_anchor(self) -> int | float:
        if self.low is not None:
            return self.low
        if self.distribution == "normal":
            return self.mu  # type: ignore[return-value]
        return 0  # lognormal without low: v = k·step with k >= 1, since v > 0

    @property
    def is_log(self) -> bool:
        """True when the distribution lives in log space (loguniform, lognormal)."""
        return self.distribution in LOG_DISTRIBUTIONS


@dataclass(frozen=True)
class CategoricalParam:
    """A parameter whose value is one of `values` (any JSON values but null), drawn with `probabilities`."""

    name: str
    values: tuple[Any, ...]
    probabilities: tuple[float, ...] | None = None
    _index: dict[Any, int] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        name = self.name
        if not isinstance(name, str) or not name:
            raise SpaceError(f"a parameter name must be a non-empty string, not {name!r}")
        values = self.values
        if isinstance(values, (str, bytes, Mapping)) or not isinstance(values, Sequence):
            raise SpaceError("'values' must be a list of JSON values", name)
        if len(values) == 0:
            raise SpaceError("'values' must not be empty", name)
        for value in values:
            if value is None:
                raise SpaceError("'values' must not contain null", name)
            if not _is_json_value(value):
                raise SpaceError(f"'values' must hold JSON values only, not {value!r}", name)
        object.__setattr__(self, "values", tuple(values))
        index: dict[Any, int] = {}
        for position, value in enumerate(self.values):
            index.setdefault(json_key(value), position)  # the first of JSON-equal duplicates wins
        object.__setattr__(self, "_index", index)

        probabilities = self.probabilities
        if probabilities is None:
            return
        if isinstance(probabilities, (str, bytes, Mapping)) or not isinstance(probabilities, Sequence):
            raise SpaceError("'probabilities' must be a list of numbers", name)
        if len(probabilities) != len(values):
            lengths = f"{len(probabilities)} != {len(values)}"
            raise SpaceError(f"'probabilities' must have the same length as 'values' ({lengths})", name)
        for p in probabilities:
            _check_number(name, "probabilities", p)
            if p < 0:
                raise SpaceError(f"each probability must be >= 0, got {p!r}", name)
        total = math.fsum(probabilities)
        if abs(total - 1) > _PROBABILITY_TOLERANCE:
            raise SpaceError(f"'probabilities' must sum to 1, got {total!r}", name)
        object.__setattr__(self, "probabilities", tuple(float(p) for p in probabilities))

    @property
    def weights(self) -> tuple[float, ...]:
        """The prior probability of each value (uniform when no probabilities were given)."""
        if self.probabilities is None:
            return (1.0 / len(self.values),) * len(self.values)
        return self.probabilities

    def index_of(self, value: Any) -> int | None:
        """Position of the first value JSON-equal to `value`, or None when it is not one of the values."""
        try:
            return self._index.get(json_key(value))
        except TypeError:  # not a JSON value at all
            return None


Param = NumericParam | CategoricalParam


@dataclass(frozen=True)
class SearchSpace:
    """An ordered sequence of parameters with unique names; order matters for grids and determinism."""

    params: tuple[Param, ...]

    def __init__(self, params: Sequence[Param]) -> None:
        params = tuple(params)
        seen: set[str] = set()
        for param in params:
            if not isinstance(param, (NumericParam, CategoricalParam)):
                raise SpaceError(f"not a parameter: {param!r}")
            if param.name in seen:
                raise SpaceError("duplicate parameter name", param.name)
            seen.add(param.name)
        object.__setattr__(self, "params", params)

    def __iter__(self) -> Iterator[Param]:
        return iter(self.params)

    def __len__(self) -> int:
        return len(self.params)

    @property
    def names(self) -> list[str]:
        return [param.name for param in self.params]


def contains(param: Param, value: Any) -> bool:
    """Whether an observed value can be learnt from (bender.md §4.5): on-grid is not required, and the
    upper bound counts as inside even for uniform parameters, whose draws stay below it."""
    if isinstance(param, CategoricalParam):
        return param.index_of(value) is not None
    number = finite_float(value)
    return number is not None and bool(param.bounds.hold_observed(np.array([number]))[0])


def json_key(value: Any) -> Any:
    """A hashable key such that two JSON values have equal keys exactly when they are JSON-equal:
    numbers compare by value (1 == 1.0), booleans, numbers and strings never equal each other,
    and lists and objects compare structurally by the same rule."""
    kind = type(value)
    if kind is str:
        return ("s", value)
    if kind is bool:
        return ("b", value)
    if kind is int or kind is float:
        return ("n", value)
    if value is None:
        return ("z",)
    if isinstance(value, (bool, np.bool_)):
        return ("b", bool(value))
    if isinstance(value, str):
        return ("s", str(value))
    if is_number(value):
        return ("n", value.item() if hasattr(value, "item") else value)
    if isinstance(value, (list, tuple)):
        return ("l", tuple(json_key(item) for item in value))
    if isinstance(value, Mapping):
        return ("d", frozenset((str(k), json_key(v)) for k, v in value.items()))
    raise TypeError(f"not a JSON value: {value!r}")


def json_equal(a: Any, b: Any) -> bool:
    """JSON equality as bender.md §4.6 defines it (see `json_key`)."""
    try:
        return json_key(a) == json_key(b)
    except TypeError:
        return False


def _is_json_value(value: Any) -> bool:
    if value is None or isinstance(value, (bool, str)):
        return True
    if is_number(value):
        return finite_float(value) is not None
    if isinstance(value, (list, tuple)):
        return all(_is_json_value(item) for item in value)
    if isinstance(value, Mapping):
        return all(isinstance(k, str) and _is_json_value(v) for k, v in value.items())
    return False
