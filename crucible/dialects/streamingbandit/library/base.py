"""`base`: online estimators kept in theta (Count, Mean, Variance, Proportion, Covariance, Correlation) and
`List`, a named set of them (one per arm).

Each estimator wraps a dict straight from `self.get_theta(...)`, whose values are strings, so every value is
coerced with `int()`/`float()` when used; `get_dict()` gives the dict to hand to `self.set_theta`.
Update rules, operators and defaults are those of spec §4.4, including the original's quirks.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar


def as_int(value: Any) -> int:
    """`int()` that also reads integral text written as a float (e.g. "3.0")."""
    try:
        return int(value)
    except ValueError:
        return int(float(value))


class Estimator:
    """A dict of statistics with one main value; `+ - * /` with a number change the main value in place
    and return None (as the original), refusing results outside [lowest, highest]."""

    default: ClassVar[dict[str, Any]] = {}
    main: ClassVar[str] = ""
    lowest: ClassVar[float] = -math.inf
    highest: ClassVar[float] = math.inf
    integral_sums: ClassVar[bool] = False
    """Count and Mean add and subtract with `int()` on both sides (they still multiply with `float()`)."""

    def __init__(self, theta: Mapping[str, Any] | None = None) -> None:
        self.value: dict[str, Any] = dict(theta) if theta else dict(self.default)

    def get_dict(self) -> dict[str, Any]:
        return self.value

    def get_value(self) -> float:
        return float(self.value[self.main])

    def _apply(self, operation: Callable[[Any, Any], Any], other: Any, integral: bool) -> None:
        convert = as_int if integral else float
        result = operation(convert(self.value[self.main]), convert(other))
        if result < self.lowest or result > self.highest:
            raise ValueError(
                f"{type(self).__name__} value {result!r} is outside [{self.lowest}, {self.highest}]"
            )
        self.value[self.main] = result

    def __add__(self, other: Any) -> None:
        self._apply(lambda a, b: a + b, other, integral=self.integral_sums)

    def __sub__(self, other: Any) -> None:
        self._apply(lambda a, b: a - b, other, integral=self.integral_sums)

    def __mul__(self, other: Any) -> None:
        self._apply(lambda a, b: a * b, other, integral=False)

    def __truediv__(self, other: Any) -> None:
        self._apply(lambda a, b: a / b, other, integral=False)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.value!r})"


class Count(Estimator):
    """Number of observations `n`."""

    default: ClassVar[dict[str, Any]] = {"n": 0}
    main: ClassVar[str] = "n"
    integral_sums: ClassVar[bool] = True

    def update(self, value: Any = 1) -> None:
        self.value["n"] = as_int(self.value["n"]) + as_int(value)

    def increment(self) -> None:
        self.value["n"] = as_int(self.value["n"]) + 1


class Mean(Count):
    """Running mean `m` of `n` observations."""

    default: ClassVar[dict[str, Any]] = {"n": 0, "m": 0}
    main: ClassVar[str] = "m"

    def update(self, x: Any) -> None:  # type: ignore[override]
        n = as_int(self.value["n"]) + 1
        m = float(self.value["m"])
        self.value["n"] = n
        self.value["m"] = m + (float(x) - m) / n

    def get_count(self) -> int:
        return as_int(self.value["n"])


class Variance(Estimator):
    """Welford running variance: `v` is the sample variance s/(n−1) once n ≥ 2."""

    default: ClassVar[dict[str, Any]] = {"n": 0, "x_bar": 0, "s": 0, "v": 0}
    main: ClassVar[str] = "v"
    lowest: ClassVar[float] = 0.0

    def update(self, x: Any) -> None:  # type: ignore[override]
        x = float(x)
        x_bar = float(self.value["x_bar"])
        d = x - x_bar
        n = as_int(self.value["n"]) + 1
        x_bar = x_bar + d / n
        s = float(self.value["s"]) + d * (x - x_bar)
        self.value.update(n=n, x_bar=x_bar, s=s)
        if n >= 2:
            self.value["v"] = s / (n - 1)


class Proportion(Estimator):
    """Running proportion `p` of `n` observations (x is 0/1, a bool, or numeric text)."""

    default: ClassVar[dict[str, Any]] = {"p": 0, "n": 0}
    main: ClassVar[str] = "p"
    lowest: ClassVar[float] = 0.0
    highest: ClassVar[float] = 1.0

    def update(self, x: Any) -> None:  # type: ignore[override]
        n = as_int(self.value["n"]) + 1
        p = float(self.value["p"])
        self.value["n"] = n
        self.value["p"] = p + (float(x) - p) / n


class Covariance(Estimator):
    """Running co-moment `cov` of x and y (not divided by n, as the original)."""

    default: ClassVar[dict[str, Any]] = {"n": 0, "x_bar": 0, "y_bar": 0, "cov": 0}
    main: ClassVar[str] = "cov"
    lowest: ClassVar[float] = 0.0

    def update(self, value: Mapping[str, Any]) -> None:  # type: ignore[override]
        x, y = float(value["x"]), float(value["y"])
        n = as_int(self.value["n"]) + 1
        x_bar = float(self.value["x_bar"])
        y_bar = float(self.value["y_bar"])
        x_bar += (x - x_bar) / n
        y_bar += (y - y_bar) / n
        cov = float(self.value["cov"]) + (y - y_bar) * (x - x_bar)
        self.value.update(n=n, x_bar=x_bar, y_bar=y_bar, cov=cov)


class Correlation(Estimator):
    """Running correlation `c` from the co-moment and the two sample variances (original formula)."""

    default: ClassVar[dict[str, Any]] = {
        "n": 0,
        "x_bar": 0,
        "y_bar": 0,
        "x_s": 0,
        "y_s": 0,
        "x_v": 0,
        "y_v": 0,
        "cov": 0,
        "c": 0,
    }
    main: ClassVar[str] = "c"
    lowest: ClassVar[float] = -1.0
    highest: ClassVar[float] = 1.0

    def update(self, value: Mapping[str, Any]) -> None:  # type: ignore[override]
        x, y = float(value["x"]), float(value["y"])
        x_bar = float(self.value["x_bar"])
        y_bar = float(self.value["y_bar"])
        dx, dy = x - x_bar, y - y_bar
        n = as_int(self.value["n"]) + 1
        x_bar += dx / n
        y_bar += dy / n
        x_s = float(self.value["x_s"]) + dx * (x - x_bar)
        y_s = float(self.value["y_s"]) + dy * (y - y_bar)
        cov = float(self.value["cov"]) + (y - y_bar) * (x - x_bar)
        self.value.update(n=n, x_bar=x_bar, y_bar=y_bar, x_s=x_s, y_s=y_s, cov=cov)
        if n >= 2:
            x_v, y_v = x_s / (n - 1), y_s / (n - 1)
            self.value.update(x_v=x_v, y_v=y_v)
            if x_v > 0 and y_v > 0:  # constant x or y so far: leave c as it was rather than divide by 0
                self.value["c"] = cov / (math.sqrt(x_v) * math.sqrt(y_v))


class List:
    """One estimator of type `_t` per name in `value_names`, read from a multi-key `get_theta` result."""

    def __init__(
        self, objects: Mapping[Any, Any] | None, _t: type[Estimator], value_names: Iterable[Any]
    ) -> None:
        objects = objects or {}
        self.value_names: list[Any] = list(value_names)
        self.num_values: int = len(self.value_names)
        self.size: int = self.num_values
        self.base_list: dict[Any, Any] = {}
        for name in self.value_names:
            found = objects.get(name, objects.get(str(name), {}))
            self.base_list[name] = _t(found)

    def get_dict(self) -> dict[Any, Any]:
        return {name: self.base_list[name].get_dict() for name in self.value_names}

    def get_value(self) -> dict[Any, float]:
        return {name: self.base_list[name].get_value() for name in self.value_names}

    def max(self) -> Any:
        """The first name with the largest main value; a random name while that value is still 0."""
        best, best_value = self._extreme(lambda value, current: value > current)
        return self.random() if best_value == 0 else best

    def min(self) -> Any:
        """The first name with the smallest main value."""
        return self._extreme(lambda value, current: value < current)[0]

    def count(self) -> int:
        """Σ n over all names; 0 when the first estimator keeps no `n`."""
        if not self.value_names or "n" not in self.base_list[self.value_names[0]].get_dict():
            return 0
        return sum(as_int(self.base_list[name].get_dict().get("n", 0)) for name in self.value_names)

    def random(self) -> Any:
        return random.choice(self.value_names)

    def _extreme(self, better: Callable[[float, float], bool]) -> tuple[Any, float]:
        if not self.value_names:
            raise ValueError("List has no value names")
        best = self.value_names[0]
        best_value = self.base_list[best].get_value()
        for name in self.value_names[1:]:
            value = self.base_list[name].get_value()
            if better(value, best_value):
                best, best_value = name, value
        return best, best_value
