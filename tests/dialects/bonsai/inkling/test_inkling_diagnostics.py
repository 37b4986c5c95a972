"""Every error and warning code of spec §4.6, each from a minimal program, with its line and column."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from crucible.dialects.bonsai.inkling import CODES, compile_inkling, compile_project

# A valid program; each case below changes one thing in it. Line numbers are those of this text.
BASE = """\
schema State
    Int8 value
end
schema Action
    Int8{-1, 0, 1} delta
end
schema Config
    Int8 dummy
end
concept c is classifier
    predicts (Action)
    follows input(State)
    feeds output
end
simulator s(Config)
    action (Action)
    state (State)
end
curriculum cur
    train c
    with simulator s
    objective score
    lesson l
        configure
            constrain dummy with Int8{-1}
        until
            maximize score
end
"""

ESTIMATOR_BASE = BASE.replace("is classifier", "is estimator").replace(
    "Int8{-1, 0, 1} delta", "Float32 delta"
)


def edit(old: str, new: str, base: str = BASE) -> str:
    assert base.count(old) == 1, old
    return base.replace(old, new)


def at(source: str, marker: str, occurrence: int = 1) -> tuple[int, int]:
    """1-based (line, column) where the `occurrence`-th `marker` starts in `source`."""
    offset = -1
    for _ in range(occurrence):
        offset = source.index(marker, offset + 1)
    line = source.count("\n", 0, offset) + 1
    return line, offset - (source.rfind("\n", 0, offset) + 1) + 1


@dataclass(frozen=True)
class Case:
    code: str
    source: str
    where: tuple[int, int]
    text: str  # the whole message, or a fragment of it when it ends with "…"
    only: bool = True  # whether this is the only diagnostic of its severity


def case(code: str, source: str, marker: str, text: str, occurrence: int = 1, only: bool = True) -> Case:
    return Case(code, source, at(source, marker, occurrence), text, only)


_CONSTRAINT_SOURCE = edit("    Int8 dummy", "    Int8{0:10} dummy")
_CYCLE = edit("    lesson l\n", "    lesson l follows k\n")
_CYCLE = (
    _CYCLE[: _CYCLE.rindex("end")]
    + "    lesson k follows l\n        configure\n        until maximize score\nend\n"
)
_TWO_CONCEPTS = BASE + "concept d is classifier predicts (Action) follows input(State) end\n"
_TWO_TRAINED = _TWO_CONCEPTS + (
    "curriculum cur2 train d with simulator s objective score\n"
    "    lesson l configure until maximize score\nend\n"
)

_SECOND_CURRICULUM = """\
curriculum cur2 train c with simulator s objective score
    lesson l configure until maximize score
end
"""
_TWO_ACTIVATIONS = 'using algorithm PPO hidden_layer_activation_descriptor => ["relu", "tanh"] end\n'

CASES = [
    Case("E101", edit("    Int8 value", "    Int8 value $"), (2, 16), "unexpected character '$'"),
    case("E102", BASE + 'constant String label = "abc\n', '"abc', "unterminated string '\"abc'"),
    case(
        "E110",
        edit("Int8{-1, 0, 1} delta", "Int8{-1, 0, 1} delta speed"),
        "speed",
        "expected ',' or 'end', found 'speed'",
    ),
    Case("E111", BASE[: BASE.rindex("end")], (27, 27), "unexpected end of file, expected 'end' or 'lesson'"),
    case("E201", BASE + "schema State Int8 other end\n", "State Int8 other", "duplicate name 'State'"),
    case(
        "E201",
        edit("    Int8 value", "    Int8 value,\n    Bool value"),
        "value",
        "duplicate name 'value'",
        2,
    ),
    case(
        "E201",
        edit("    feeds output", "    feeds output\n    is estimator"),
        "is estimator",
        "duplicate 'is' clause in concept 'c'",
    ),
    case("E202", edit("predicts (Action)", "predicts (Actions)"), "Actions", "undefined schema 'Actions'"),
    case("E203", edit("train c", "train d"), "d\n    with", "undefined concept 'd'", only=False),
    case("E204", edit("with simulator s", "with simulator t"), "t\n    objective", "undefined simulator 't'"),
    case("E205", edit("    Int8 dummy", "    Int8{low} dummy"), "low", "undefined constant 'low'"),
    case(
        "E205",
        "constant Int8 a = b\nconstant Int8 b = a\n",
        "a\n",
        "constant 'a' is defined in terms of itself",
    ),
    case("E206", edit("    lesson l\n", "    lesson l follows k\n"), "k\n", "undefined lesson 'k'"),
    Case("E301", edit("    Int8 value", "    Int9 value"), (2, 5), "unknown type 'Int9'"),
    case("E301", edit("is classifier", "is Estimator"), "Estimator", "unknown concept kind 'Estimator'"),
    case("E302", edit("Int8{-1, 0, 1}", "Int8{0:0:3}"), "{0:0", "invalid range: range step is zero"),
    case(
        "E302",
        edit("Int8{-1, 0, 1}", "Int8{3:1}"),
        "{3:1",
        "invalid range: step 1 goes the wrong way from 3 to 1",
    ),
    case("E302", edit("Int8{-1, 0, 1}", "Int8{1:-1:3}"), "{1:", "invalid range: step -1 goes the wrong way…"),
    case(
        "E302", edit("Int8{-1, 0, 1}", "Int8{0.5, 1}"), "0.5", "invalid range: non-integer value 0.5 for Int8"
    ),
    case(
        "E302",
        edit("Int8{-1, 0, 1}", "Int8{0..1:4}"),
        "{0..",
        "invalid range: dot range gives the same integer…",
    ),
    case(
        "E302", edit("Int8{-1, 0, 1}", "Int8{0..2:2.5}"), "2.5", "invalid range: the number of steps must be…"
    ),
    case("E302", edit("Int8{-1, 0, 1}", "Int8{0..2:0}"), "0}", "invalid range: the number of steps must be…"),
    case(
        "E302",
        edit("    Int8 value", "    Matrix(Float32, 2, 2) value"),
        "Matrix",
        "Matrix types are not supported",
    ),
    case(
        "E302",
        edit("    Int8 value", "    Vector(Float32, 3) value"),
        "Vector",
        "Vector types are not supported",
    ),
    case(
        "E302", edit("    Int8 dummy", "    Bool{0:1} dummy"), "{0:1}", "invalid range: a Bool range must be…"
    ),
    case("E303", edit("Int8{-1}", "Int8{300}"), "300", "value 300 is not representable in Int8"),
    case(
        "E303",
        edit("    Int8 dummy", "    UInt8{-1, 2} dummy").replace("Int8{-1}", "UInt8{2}"),
        "-1, 2}",
        "value -1 is…",
    ),
    case(
        "E303",
        edit("    Int8 dummy", "    UInt8{0:1000} dummy").replace("Int8{-1}", "UInt8{2}"),
        "1000",
        "value 1000…",
    ),
    case("E303", BASE + "constant Int8 big = 300\n", "300", "value 300 is not representable in Int8"),
    case("E303", BASE + "constant Int8 half = 1.5\n", "1.5", "constant 'half' of type Int8 cannot hold 1.5"),
    case(
        "E303",
        BASE + 'constant Bool flag = "yes"\n',
        '"yes"',
        "constant 'flag' of type Bool cannot hold \"yes\"",
    ),
    case("E303", edit("Int8{-1, 0, 1}", 'Int8{-1, "a"}'), '"a"', 'value "a" is not representable in Int8'),
    case(
        "E303",
        edit("    Int8 dummy", "    Float32{0, 1.0e39} dummy"),
        "1.0e39",
        "value 1e+39 is not representable…",
    ),
    case("E401", edit("    predicts (Action)\n", ""), "c is", "concept 'c' has no 'predicts' clause"),
    case(
        "E401",
        edit(" is classifier", ""),
        "c\n",
        "concept 'c' has no 'is classifier' or 'is estimator' clause",
    ),
    case("E401", edit("    follows input(State)\n", ""), "c is", "concept 'c' does not follow input(...)"),
    case("E402", _TWO_CONCEPTS, "d is", "concept 'd' has no curriculum"),
    case(
        "E403",
        BASE + _SECOND_CURRICULUM,
        "c with",
        "concept 'c' has more than one curriculum",
    ),
    case(
        "E404",
        edit("action (Action)", "action (State)"),
        "s\n",
        "action schema of simulator 's' does not match…",
    ),
    case("E404", edit("    action (Action)\n", ""), "s\n", "simulator 's' has no action schema"),
    case(
        "E405",
        edit("state (State)", "state (Int8 value, Bool extra)"),
        "s\n",
        "state schema of simulator 's' does…",
    ),
    case(
        "E406",
        edit("constrain dummy", "constrain dumb"),
        "dumb",
        "field 'dumb' is not in the config schema 'Config'",
    ),
    case(
        "E406",
        edit("with Int8{-1}", "with Int16{-1}"),
        "Int16",
        "type Int16 differs from Int8 of field 'dummy'",
    ),
    case("E406", _CONSTRAINT_SOURCE, "{-1}", "range is not a subset of the range of field 'dummy'"),
    case(
        "E406",
        edit("with simulator s", "with simulator s(State)"),
        "State",
        "config schema 'State' does not…",
        4,
    ),
    case(
        "E407",
        edit("Int8{-1, 0, 1} delta", "Float32 delta"),
        "Float32",
        "classifier output field 'delta' has no…",
    ),
    case(
        "E407",
        edit("Int8{-1, 0, 1} delta", "Int16 delta"),
        "Int16",
        "classifier output field 'delta' has no…",
    ),
    case(
        "E407",
        edit("Int8{-1, 0, 1} delta", "Int16{0:99} delta, Int16{0:99} turn"),
        "predicts",
        "concept 'c' has 10000 joint actions, more than 4096",
    ),
    case(
        "E408",
        edit("is classifier", "is estimator"),
        "Int8{-1",
        "estimator output field 'delta' must be Float32…",
    ),
    case(
        "E408",
        edit("Float32 delta", "Float32{0:0.5:1} delta", ESTIMATOR_BASE),
        "Float32{",
        "estimator field 'delta' needs a {low:high} range, not a step, list or dots",
    ),
    case(
        "E409",
        edit("    objective score\n", "    objective score\n    using algorithm SAC\n"),
        "SAC",
        "algorithm 'SAC'…",
    ),
    case(
        "E409",
        edit("objective score\n", "objective score\n    using algorithm Magic\n"),
        "Magic",
        "unknown algorithm…",
    ),
    case("E409", BASE + "algorithm a is Magic end\n", "Magic", "unknown algorithm 'Magic'"),
    case("E411", _CYCLE, "l follows", "lessons 'l', 'k' follow each other in a cycle"),
    case(
        "E411", edit("    lesson l\n", "    lesson l follows l\n"), "l follows", "lesson 'l' follows itself"
    ),
    case("E412", edit("    objective score\n", ""), "cur\n", "curriculum 'cur' has no 'objective' clause"),
    case(
        "E412", edit("    with simulator s\n", ""), "cur\n", "curriculum 'cur' has no 'with simulator' clause"
    ),
    case("E412", BASE[: BASE.index("    lesson l")] + "end\n", "cur\n", "curriculum 'cur' has no lessons"),
    case("E413", _TWO_TRAINED, "d is", "more than one trained concept per BRAIN: 'd' after 'c'"),
    case(
        "E413",
        edit("follows input(State)", "follows input(State), c"),
        "c\n    feeds",
        "concept 'c' follows concept…",
    ),
    case(
        "E414",
        edit("    Int8 value", "    Luminance(0, 8) value"),
        "0,",
        "Luminance width 0 is outside 1..4096",
    ),
    case(
        "E414",
        edit("    Int8 value", "    Luminance(8, 4097) value"),
        "4097",
        "Luminance height 4097 is outside…",
    ),
    case(
        "E414",
        edit("    Int8 dummy", "    Luminance(8, 8) dummy"),
        "Luminance",
        "Luminance field 'dummy' is not…",
    ),
    case(
        "E414",
        edit("    Int8 value", "    String value"),
        "String",
        "String field 'value' in state schema needs a…",
    ),
    case(
        "W501",
        edit("objective score\n", "objective score\n using algorithm PPO foo => 1 end\n"),
        "foo",
        "unknown…",
    ),
    case(
        "W502",
        edit("objective score\n", "objective score\n    using algorithm QTable\n"),
        "QTable",
        "algorithm 'QTable' is mapped to 'DQN'",
    ),
    case(
        "W503",
        edit(
            "objective score\n", "objective score\n    using algorithm PPO conv_layer_descriptor => [3] end\n"
        ),
        "conv_",
        "algorithm parameter 'conv_layer_descriptor' is accepted but not supported",
    ),
    case(
        "W503",
        edit("objective score\n", "objective score\n" + _TWO_ACTIVATIONS),
        "hidden_",
        "only the first activation \"relu\" of 'hidden_layer_activation_descriptor' is used",
    ),
    case(
        "W504",
        edit("        until\n", "        train from a in b select c send d\n        until\n"),
        "train from",
        "'train' clause of lesson 'l' is ignored",
    ),
    case(
        "W506", ESTIMATOR_BASE, "Float32 delta", "estimator output field 'delta' has no range; using [-1, 1]"
    ),
]


def _matches(text: str, expected: str) -> bool:
    return text.startswith(expected[:-1]) if expected.endswith("…") else text == expected


@pytest.mark.parametrize("item", CASES, ids=[f"{item.code}-{index}" for index, item in enumerate(CASES)])
def test_code_is_reported_at_the_offending_token(item: Case) -> None:
    result = compile_inkling(item.source)
    reported = result.errors if item.code.startswith("E") else result.warnings
    found = [d for d in reported if d.code == item.code and (d.line, d.column) == item.where]
    assert found, f"no {item.code} at {item.where}; got {[str(d) for d in reported]}"
    assert any(_matches(d.text, item.text) for d in found), [d.text for d in found]
    if item.only:
        assert [d.code for d in reported] == [item.code], [str(d) for d in reported]
    if item.code.startswith("W"):
        assert result.success and not result.errors


def test_every_code_of_the_spec_is_covered() -> None:
    covered = {item.code for item in CASES} | {"E410"}
    assert covered == set(CODES)


def test_base_program_is_valid() -> None:
    result = compile_inkling(BASE)
    assert result.success and not result.warnings


def test_e410_project_without_exactly_one_ink_file() -> None:
    none = compile_project({"bonsai_brain.bproj": "{}", "sim.py": "print()"})
    two = compile_project({"a.ink": BASE, "b/b.ink": BASE})
    for result in (none, two):
        assert not result.success and result.program is None
        assert [(d.code, d.line, d.column) for d in result.errors] == [("E410", 0, 0)]
    assert two.errors[0].text == "project must contain exactly one .ink file, found 2 (a.ink, b/b.ink)"
    assert compile_project({"x.ink": BASE, "readme.txt": "hi"}).success


def test_long_lesson_cycle_is_reported_once_and_shortened() -> None:
    ring = "".join(
        f"    lesson l{i} follows l{(i + 1) % 7}\n        configure until maximize score\n" for i in range(7)
    )
    source = BASE[: BASE.index("    lesson l\n")] + ring + "end\n"
    result = compile_inkling(source)
    assert [(error.code, error.text) for error in result.errors] == [
        ("E411", "lessons 'l0', 'l1', 'l2', 'l3', 'l4', … follow each other in a cycle")
    ]
    assert (result.errors[0].line, result.errors[0].column) == at(source, "l0")
