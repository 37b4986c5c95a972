"""The set of values an Inkling range allows (spec §4.6 static rules, §4.8.1 spaces, §4.8.5 sampling).

Three shapes cover every range: an explicit list (`{1, 5, 2}`), an arithmetic progression
(`{0:3:10}`, `{0..2:5}`), and a continuous interval (`Float32{0:1}`). Progressions are never
expanded in memory, so `Int64{0:1000000000000}` costs nothing to check.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from functools import cached_property

Value = int | float | bool | str

FLOAT_TOLERANCE = 1e-9
MAX_ENUMERATED = 100_000


@dataclass(frozen=True)
class ValueList:
    """Values in written order, duplicates dropped."""

    values: tuple[Value, ...]

    @property
    def count(self) -> int:
        return len(self.values)

    def ordered_values(self) -> tuple[Value, ...]:
        return self.values

    def contains(self, value: Value) -> bool:
        if _key(value) in self._keys:
            return True
        return _is_number(value) and any(_same_value(value, item) for item in self.values)

    @cached_property
    def _keys(self) -> frozenset[tuple[str, Value]]:
        return frozenset(_key(item) for item in self.values)

    @property
    def low(self) -> float | None:
        numbers = [item for item in self.values if _is_number(item)]
        return min(numbers) if numbers else None

    @property
    def high(self) -> float | None:
        numbers = [item for item in self.values if _is_number(item)]
        return max(numbers) if numbers else None

    def sample(self, rng: random.Random) -> Value:
        return rng.choice(self.values)


@dataclass(frozen=True)
class Progression:
    """`count` values `start + k·step`, ascending (`step` > 0). Integer-typed when start and step are ints."""

    start: int | float
    step: int | float
    count: int

    @property
    def low(self) -> int | float:
        return self.start

    @property
    def high(self) -> int | float:
        return self.value(self.count - 1)

    @property
    def is_integer(self) -> bool:
        return isinstance(self.start, int) and isinstance(self.step, int)

    def value(self, index: int) -> int | float:
        return self.start + index * self.step

    def ordered_values(self) -> tuple[int | float, ...]:
        """All values, ascending. Refuses progressions too long to list."""
        if self.count > MAX_ENUMERATED:
            raise ValueError(f"range has {self.count} values, more than {MAX_ENUMERATED} to list")
        return tuple(self.value(index) for index in range(self.count))

    def contains(self, value: Value) -> bool:
        if not _is_number(value):
            return False
        if self.is_integer:
            if isinstance(value, float):
                if not value.is_integer():
                    return False
                value = int(value)
            offset = value - self.start
            return offset % self.step == 0 and 0 <= offset // self.step < self.count
        index = (value - self.start) / self.step
        nearest = round(index)
        return abs(index - nearest) <= FLOAT_TOLERANCE and 0 <= nearest < self.count

    def sample(self, rng: random.Random) -> int | float:
        return self.value(rng.randrange(self.count))


@dataclass(frozen=True)
class Interval:
    """Every float in [low, high] (a float colon range without a step)."""

    low: float
    high: float

    def contains(self, value: Value) -> bool:
        return _is_number(value) and self.low <= value <= self.high

    def sample(self, rng: random.Random) -> float:
        return rng.uniform(self.low, self.high)


ValueSet = ValueList | Progression | Interval


def count(values: ValueSet) -> int | None:
    """How many values; None for a continuous interval."""
    return None if isinstance(values, Interval) else values.count


def is_subset(inner: ValueSet, outer: ValueSet) -> bool:
    """Whether every value of `inner` is in `outer`."""
    if isinstance(outer, Interval):
        low, high = inner.low, inner.high
        if low is None or high is None:
            return False
        return outer.low <= low and high <= outer.high
    if isinstance(inner, Interval):
        return inner.low == inner.high and outer.contains(inner.low)
    if inner.count > outer.count:
        return False
    if isinstance(inner, Progression) and isinstance(outer, Progression):
        return _progression_within(inner, outer)
    return all(outer.contains(value) for value in inner.ordered_values())


def same_values(first: ValueSet, second: ValueSet) -> bool:
    """Whether two ranges allow exactly the same values (order does not matter)."""
    return is_subset(first, second) and is_subset(second, first)


def _progression_within(inner: Progression, outer: Progression) -> bool:
    if not (outer.contains(inner.low) and outer.contains(inner.high)):
        return False
    if inner.count == 1:
        return True
    ratio = inner.step / outer.step
    if inner.is_integer and outer.is_integer:
        return inner.step % outer.step == 0
    return abs(ratio - round(ratio)) <= FLOAT_TOLERANCE * max(1.0, abs(ratio))


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _key(value: Value) -> tuple[str, Value]:
    """A set key under which `true` and `1` differ but `1` and `1.0` do not."""
    if isinstance(value, bool):
        return ("bool", value)
    return ("number", value) if _is_number(value) else ("string", value)


def _same_value(first: Value, second: Value) -> bool:
    """Equality that keeps `true` apart from `1` and compares floats with the range tolerance."""
    if isinstance(first, bool) or isinstance(second, bool):
        return isinstance(first, bool) and isinstance(second, bool) and first == second
    if _is_number(first) and _is_number(second):
        if isinstance(first, int) and isinstance(second, int):
            return first == second
        return math.isclose(first, second, rel_tol=FLOAT_TOLERANCE, abs_tol=0.0) or first == second
    return first == second
