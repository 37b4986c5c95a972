"""The library's compile-free literal parser reads what `ast.literal_eval` reads (the sandbox's audit hook
refuses `compile`, so `ast.literal_eval` cannot run inside a worker)."""

from __future__ import annotations

import ast
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crucible.dialects.streamingbandit.library.literals import _literal_eval, parse_literal

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.complex_numbers(allow_nan=False, allow_infinity=False, max_magnitude=1e6)
    | st.text(max_size=8)
    | st.binary(max_size=6)
)
HASHABLE = st.none() | st.booleans() | st.integers() | st.text(max_size=6)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner)
        | st.tuples(inner, inner)
        | st.dictionaries(HASHABLE, inner, max_size=4)
        | st.frozensets(HASHABLE, max_size=3).map(set)
    ),
    max_leaves=10,
)


@given(VALUES)
@settings(max_examples=300, deadline=None)
def test_reads_back_what_repr_writes_like_literal_eval(value: object) -> None:
    text = repr(value)
    assert _literal_eval(text) == ast.literal_eval(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("(1)", 1),
        ("(1,)", (1,)),
        ("1-2j", 1 - 2j),
        ("'a' 'b'", "ab"),
        ("[1,\n 2,]", [1, 2]),
        ("-inf", -math.inf),
    ],
)
def test_python_literal_forms(text: str, expected: object) -> None:
    assert _literal_eval(text) == expected


def test_non_finite_floats_read_back() -> None:
    parsed = parse_literal("{'b': [[nan, inf]], 'n': 3}")
    assert math.isnan(parsed["b"][0][0]) and parsed["b"][0][1] == math.inf and parsed["n"] == 3


@pytest.mark.parametrize(
    "text", ["__import__('os')", "a.b", "f'x'", "1 2", "[1", "{1: 2, 3}", "-'a'", "", "x()", "[1,,2]"]
)
def test_anything_else_is_a_value_error(text: str) -> None:
    with pytest.raises(ValueError):
        _literal_eval(text)
