"""Range semantics (spec §4.6 static rules) and the value-set operations the checker and engine use."""

from __future__ import annotations

import random
import time

import pytest

from crucible.dialects.bonsai.inkling import Interval, Progression, ValueList, compile_inkling
from crucible.dialects.bonsai.inkling.value_sets import ValueSet, is_subset, same_values


def field_values(declaration: str) -> ValueSet | None:
    """The value set of the one field of `schema S <declaration> end`."""
    result = compile_inkling(f"constant Int8 n = 4\nschema S {declaration} end")
    assert result.success, [str(error) for error in result.errors]
    assert result.program is not None
    schema = result.program.schema("S")
    assert schema is not None
    return schema.fields[0].values


def listed(declaration: str) -> tuple:
    values = field_values(declaration)
    assert values is not None and not isinstance(values, Interval)
    return values.ordered_values()


def test_spec_examples() -> None:
    assert listed("Int8{0:3:10} x") == (0, 3, 6, 9)
    assert listed("Float32{0..2:5} x") == (0.0, 0.5, 1.0, 1.5, 2.0)
    values = field_values("Int64{0..100:25} x")
    assert isinstance(values, ValueList) and values.count == 25
    assert values.values[:3] == (0, 4, 8) and values.values[-1] == 100  # 4.1666… rounds to 4


def test_colon_ranges() -> None:
    assert listed("Int8{0:3} x") == (0, 1, 2, 3)
    assert listed("Int8{10:-3:0} x") == (1, 4, 7, 10)  # enumerated ascending
    assert listed("Int8{2:2} x") == (2,)
    assert listed("Float32{0:0.3:1} x") == pytest.approx((0.0, 0.3, 0.6, 0.9))
    assert len(listed("Float64{0:0.1:0.3} x")) == 4  # the stop is within 1e-9·step of a step
    assert listed("UInt8{0:1:n} x") == (0, 1, 2, 3, 4)
    assert field_values("Float32{-1.5:2} x") == Interval(-1.5, 2.0)


def test_dot_ranges_round_half_away_from_zero_on_integers() -> None:
    assert listed("Int8{-5..5:5} x") == (-5, -3, 0, 3, 5)
    assert listed("Int8{3..-3:3} x") == (-3, 0, 3)
    assert listed("Float64{1..0:3} x") == (0.0, 0.5, 1.0)
    assert listed("Int8{7..9:1} x") == (7,)


def test_value_lists_keep_written_order_and_drop_duplicates() -> None:
    assert listed("Int8{3, 1, 3, 2} x") == (3, 1, 2)
    assert listed('String{"b", "a", "b"} x') == ("b", "a")
    assert listed("Bool{true} x") == (True,)
    assert listed("Float32{1, 0.5} x") == (1.0, 0.5)


def test_huge_ranges_are_never_expanded() -> None:
    started = time.perf_counter()
    values = field_values("Int64{0:1:9000000000000000000} x")
    assert isinstance(values, Progression) and values.count == 9000000000000000001
    assert values.contains(123456789) and not values.contains(-1)
    assert time.perf_counter() - started < 1.0
    with pytest.raises(ValueError):
        values.ordered_values()


@pytest.mark.parametrize(
    ("declaration", "code"),
    [
        ("Int8{0:0:3} x", "E302"),
        ("Int8{3:1} x", "E302"),
        ("Float32{2:1} x", "E302"),
        ("Int8{0:1.5:3} x", "E302"),
        ("Int8{0..1:4} x", "E302"),
        ("Float32{1..1:3} x", "E302"),
        ("Int8{0..9:0} x", "E302"),
        ("String{0:1} x", "E302"),
        ("Int8{-129} x", "E303"),
        ("UInt64{18446744073709551616} x", "E303"),
        ("Float32{3.5e38} x", "E303"),
        ('Bool{"true"} x', "E303"),
        ("Int8{true} x", "E303"),
    ],
)
def test_invalid_ranges(declaration: str, code: str) -> None:
    result = compile_inkling(f"schema S {declaration} end")
    assert [error.code for error in result.errors] == [code], [str(error) for error in result.errors]


def test_type_bounds_are_inclusive() -> None:
    assert listed("Int8{-128, 127} x") == (-128, 127)
    assert listed("UInt64{18446744073709551615} x") == (18446744073709551615,)
    # The stop is a limit: 130 does not fit Int8, but no value reaches it.
    assert listed("Int8{0:50:130} x") == (0, 50, 100)
    assert [str(error) for error in compile_inkling("schema S Int8{0:50:150} x end").errors] == [
        "E303 value 150 is not representable in Int8 (line 1, column 20)"
    ]


def test_subsets() -> None:
    evens = Progression(0, 2, 6)  # 0..10
    assert is_subset(Progression(2, 4, 3), evens)  # 2, 6, 10
    assert not is_subset(Progression(1, 2, 3), evens)
    assert not is_subset(Progression(0, 2, 7), evens)
    assert is_subset(ValueList((4, 0)), evens)
    assert is_subset(evens, Progression(0, 1, 11))
    assert is_subset(Progression(0, 10**12, 10**6), Progression(0, 1, 10**18 + 1))
    assert is_subset(ValueList((0.25, 1.0)), Interval(0.0, 1.0))
    assert is_subset(Interval(0.2, 0.4), Interval(0.0, 1.0))
    assert not is_subset(Interval(0.0, 1.0), ValueList((0.0, 1.0)))
    assert is_subset(Interval(1.0, 1.0), ValueList((1.0,)))
    assert is_subset(Progression(0.0, 0.1, 11), Progression(0.0, 0.05, 21))
    assert not is_subset(ValueList(("a",)), Interval(0.0, 1.0))
    assert not is_subset(ValueList((True,)), ValueList((1,)))


def test_same_values_ignores_how_a_range_is_written() -> None:
    assert same_values(ValueList((2, 0, 1)), Progression(0, 1, 3))
    assert not same_values(ValueList((0, 1)), Progression(0, 1, 3))


def test_sampling_stays_in_the_set() -> None:
    rng = random.Random(7)
    for values in (ValueList((1, 5)), Progression(0, 3, 4), Interval(-1.0, 1.0)):
        for _ in range(50):
            assert values.contains(values.sample(rng))


def test_ranges_take_part_in_matching_only_when_both_sides_give_one() -> None:
    template = """
    schema In {state} end
    concept c is classifier predicts (Int8{{0, 1}} a) follows input({concept}) end
    simulator s() action (Int8 a) state (In) end
    curriculum k train c with simulator s objective o lesson l configure until maximize o end
    """

    def codes(state: str, concept: str) -> list[str]:
        return [error.code for error in compile_inkling(template.format(state=state, concept=concept)).errors]

    assert codes("Double x", "Float64 x") == []
    assert codes("Int8{0, 1, 2} x", "Int8{0:2} x") == []
    assert codes("Int8{0, 1, 2} x", "Int8 x") == []
    assert codes("Int8{0, 1} x", "Int8{0:2} x") == ["E405"]
    assert codes("Luminance(2, 2) x", "Luminance(2, 3) x") == ["E405"]
    assert codes("Int8 x, Int8 y", "Int8 y, Int8 x") == ["E405"]
    assert codes("Int8 x", "Int16 x") == ["E405"]
