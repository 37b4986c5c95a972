"""Evaluates range syntax (`{...}` after a type) into a value set, reporting E302/E303 (spec §4.6).

Colon ranges: a missing step is 1 on integer types; on float types `{a:b}` is the interval [a, b].
The start is always included; the stop only if a step lands on it (floats: within 1e-9·|step|).
Dot ranges `{a..b:n}` give n evenly spaced values; on integer types each is rounded half away from
zero, and a repeated value is an error.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from fractions import Fraction

from . import syntax_tree as st
from .diagnostics import DiagnosticSink
from .primitives import PrimitiveType
from .value_sets import FLOAT_TOLERANCE, MAX_ENUMERATED, Interval, Progression, Value, ValueList, ValueSet

# Looks a constant up (reporting E205 itself when it is undefined); None when it has no usable value.
ConstantResolver = Callable[[st.ConstantRef], Value | None]


def scalar_value(scalar: st.Scalar, resolve: ConstantResolver) -> Value | None:
    """The value a scalar denotes; a constant reference is looked up."""
    if isinstance(scalar, st.ConstantRef):
        return resolve(scalar)
    return scalar.value


def show_value(value: Value, limit: int = 40) -> str:
    """A value the way Inkling writes it, for messages (shortened if long)."""
    if isinstance(value, bool):
        shown = "true" if value else "false"
    elif isinstance(value, str):
        shown = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    else:
        shown = repr(value)
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


class RangeEvaluator:
    """Turns one range of one primitive type into a value set; None (after reporting) when invalid."""

    def __init__(self, sink: DiagnosticSink, resolve: ConstantResolver) -> None:
        self.sink = sink
        self.resolve = resolve

    def evaluate(self, value_range: st.Range, prim: PrimitiveType) -> ValueSet | None:
        if isinstance(value_range, st.ValueListRange):
            return self._value_list(value_range, prim)
        if not prim.is_numeric:
            return self._invalid(f"a {prim.name} range must be a list of values", value_range.position)
        if isinstance(value_range, st.ColonRange):
            return self._colon_range(value_range, prim)
        return self._dot_range(value_range, prim)

    # Value lists

    def _value_list(self, value_range: st.ValueListRange, prim: PrimitiveType) -> ValueList | None:
        values: list[Value] = []
        seen: set[Value] = set()
        valid = True
        for scalar in value_range.values:
            value = self._typed_value(scalar, prim)
            if value is None:
                valid = False
            elif value not in seen:  # one type per list, so `true` and `1` never meet here
                seen.add(value)
                values.append(value)
        return ValueList(tuple(values)) if valid else None

    def _typed_value(self, scalar: st.Scalar, prim: PrimitiveType) -> Value | None:
        value = scalar_value(scalar, self.resolve)
        if value is None:
            return None
        if prim.is_numeric:
            number = self._number(value, scalar.position, prim)
            if number is not None and not self._check_holds(number, scalar.position, prim):
                return None
            return number
        if prim.kind == "bool" and isinstance(value, bool):
            return value
        if prim.kind == "string" and isinstance(value, str):
            return value
        self._not_representable(value, scalar.position, prim)
        return None

    # Colon ranges

    def _colon_range(self, value_range: st.ColonRange, prim: PrimitiveType) -> ValueSet | None:
        start = self._endpoint(value_range.start, prim)
        stop = self._endpoint(value_range.stop, prim)
        step = self._endpoint(value_range.step, prim) if value_range.step is not None else None
        if start is None or stop is None or (value_range.step is not None and step is None):
            return None
        where = value_range.position
        if step is None and prim.is_float:
            if start > stop:
                return self._invalid(f"empty range: {show_value(start)} is above {show_value(stop)}", where)
            return self._within_type(Interval(float(start), float(stop)), prim, value_range)
        if step is None:
            step = 1
        if step == 0:
            return self._invalid("range step is zero", where)
        if (step > 0 and stop < start) or (step < 0 and stop >= start):
            text = (
                f"step {show_value(step)} goes the wrong way from {show_value(start)} to {show_value(stop)}"
            )
            return self._invalid(text, where)
        if prim.is_integer:
            count = (stop - start) // step + 1
        else:
            quotient = (stop - start) / step
            if not math.isfinite(quotient):
                return self._invalid("range has too many values", where)
            count = math.floor(quotient + FLOAT_TOLERANCE) + 1
        last = start + (count - 1) * step
        values = Progression(min(start, last), abs(step), count)
        return self._within_type(values, prim, value_range)

    # Dot ranges

    def _dot_range(self, value_range: st.DotRange, prim: PrimitiveType) -> ValueSet | None:
        start = self._endpoint(value_range.start, prim, integral=False)
        stop = self._endpoint(value_range.stop, prim, integral=False)
        steps = scalar_value(value_range.steps, self.resolve)
        if start is None or stop is None or steps is None:
            return None
        where = value_range.position
        if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
            text = f"the number of steps must be a positive integer, not {show_value(steps)}"
            return self._invalid(text, value_range.steps.position)
        if steps == 1:
            values: ValueSet = ValueList((round_half_away(exact(start)) if prim.is_integer else start,))
        elif prim.is_integer:
            values = self._integer_dot_values(exact(start), exact(stop), steps, where)
        else:
            try:
                spacing = (stop - start) / (steps - 1)
            except OverflowError:
                return self._invalid("dot range has too many values", where)
            if spacing == 0:
                return self._invalid("dot range repeats the same value", where)
            values = Progression(min(start, stop), abs(spacing), steps)
        if values is None:
            return None
        return self._within_type(values, prim, value_range)

    def _integer_dot_values(
        self, start: Fraction, stop: Fraction, steps: int, where: st.Position
    ) -> ValueSet | None:
        spacing = (stop - start) / (steps - 1)
        if spacing == 0:
            return self._invalid("dot range repeats the same value", where)
        if start.denominator == 1 and spacing.denominator == 1:
            low = min(start, stop)
            return Progression(int(low), int(abs(spacing)), steps)
        if steps > MAX_ENUMERATED:
            return self._invalid(f"dot range has more than {MAX_ENUMERATED} uneven integer values", where)
        values = [round_half_away(start + index * spacing) for index in range(steps)]
        if len(set(values)) < len(values):
            return self._invalid("dot range gives the same integer twice after rounding", where)
        return ValueList(tuple(sorted(values)))

    # Helpers

    def _endpoint(self, number: st.Number, prim: PrimitiveType, integral: bool = True) -> int | float | None:
        """A number of a colon or dot range; on integer types a colon range needs whole numbers."""
        value = scalar_value(number, self.resolve)
        if value is None:
            return None
        if not prim.is_integer or integral:
            return self._number(value, number.position, prim)
        if not _is_number(value) or (isinstance(value, float) and not math.isfinite(value)):
            self._not_representable(value, number.position, prim)
            return None
        return value

    def _number(self, value: Value, at: st.Position, prim: PrimitiveType) -> int | float | None:
        """`value` as a number of `prim`'s kind (range bounds are checked later)."""
        if not _is_number(value):
            self._not_representable(value, at, prim)
            return None
        if prim.is_float:
            try:
                return float(value)
            except OverflowError:
                self._not_representable(value, at, prim)
                return None
        if isinstance(value, float):
            if not value.is_integer():
                return self._invalid(f"non-integer value {show_value(value)} for {prim.name}", at)
            return int(value)
        return value

    def _within_type(
        self, values: ValueSet, prim: PrimitiveType, value_range: st.ColonRange | st.DotRange
    ) -> ValueSet | None:
        """E303 unless the lowest and highest values fit the type, pointing at the endpoint giving each."""
        assert values.low is not None and values.high is not None
        start, stop = value_range.start, value_range.stop
        start_value = scalar_value(start, self.resolve)
        stop_value = scalar_value(stop, self.resolve)
        written_descending = _is_number(start_value) and _is_number(stop_value) and start_value > stop_value
        low_at, high_at = (stop, start) if written_descending else (start, stop)
        if not self._check_holds(values.low, low_at.position, prim):
            return None
        if not self._check_holds(values.high, high_at.position, prim):
            return None
        return values

    def _check_holds(self, value: int | float, at: st.Position, prim: PrimitiveType) -> bool:
        if prim.holds(value):
            return True
        self._not_representable(value, at, prim)
        return False

    def _not_representable(self, value: Value, at: st.Position, prim: PrimitiveType) -> None:
        self.sink.report("E303", f"value {show_value(value)} is not representable in {prim.name}", at)

    def _invalid(self, text: str, at: st.Position) -> None:
        self.sink.report("E302", f"invalid range: {text}", at)
        return None


def exact(number: int | float) -> Fraction:
    """A number as an exact fraction; a float is read from its shortest decimal form (0.1 is 1/10)."""
    return Fraction(number) if isinstance(number, int) else Fraction(repr(number))


def round_half_away(value: Fraction) -> int:
    """Round to the nearest integer, halves away from zero (2.5 → 3, −2.5 → −3)."""
    magnitude = math.floor(abs(value) + Fraction(1, 2))
    return magnitude if value >= 0 else -magnitude


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
