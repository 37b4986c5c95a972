"""Whatever the input, the compiler returns diagnostics and never raises (spec §4.6: compilation is pure)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from inkling_examples import EXAMPLES

from crucible.dialects.bonsai.inkling import CODES, CompileResult, compile_inkling
from crucible.dialects.bonsai.inkling.lexer import CONTEXTUAL_KEYWORDS, KEYWORDS, OPERATORS

VOCABULARY = sorted(
    {*KEYWORDS, *CONTEXTUAL_KEYWORDS, *OPERATORS}
    | {"x", "S", "Int9", "DQN", "TRPO", "0", "-1", "1.5", ".5", "1e3", '"s"', '"open', "#", "\n", "$"}
    | {"9" * 400, "1.0e400", "4097", "0..1:3", "{0:1}"}
)
FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def assert_well_formed(result: CompileResult, source: str) -> None:
    assert result.success == (not result.errors)
    assert (result.program is not None) == result.success
    assert len(result.errors) <= 100 and len(result.warnings) <= 100
    line_count = source.count("\n") + 1
    for diagnostic in (*result.errors, *result.warnings):
        assert diagnostic.code in CODES
        assert diagnostic.text
        assert 1 <= diagnostic.line <= line_count and diagnostic.column >= 1
    positions = [(error.line, error.column) for error in result.errors]
    assert positions == sorted(positions)
    assert all(error.is_error for error in result.errors)
    assert not any(warning.is_error for warning in result.warnings)


@FUZZ
@given(st.text(max_size=400))
def test_random_text(source: str) -> None:
    assert_well_formed(compile_inkling(source), source)


@FUZZ
@given(st.lists(st.sampled_from(VOCABULARY), max_size=80), st.sampled_from([" ", "\n", "  "]))
def test_random_token_soup(words: list[str], separator: str) -> None:
    source = separator.join(words)
    assert_well_formed(compile_inkling(source), source)


@FUZZ
@given(
    st.sampled_from(sorted(EXAMPLES)),
    st.integers(min_value=0, max_value=2000),
    st.integers(min_value=0, max_value=40),
    st.lists(st.sampled_from(VOCABULARY), max_size=3),
)
def test_mutated_examples(name: str, where: int, cut: int, inserted: list[str]) -> None:
    """Cut a slice out of a valid program and put a few tokens in its place."""
    original = EXAMPLES[name]
    where = where % len(original)
    source = original[:where] + " ".join(inserted) + original[where + cut :]
    result = compile_inkling(source)
    assert_well_formed(result, source)
    assert compile_inkling(source) == result  # deterministic


HUGE = "9" * 400


def test_huge_numbers_are_reported_not_raised() -> None:
    sources = {
        f"constant Int8 x = {HUGE}": "E303",
        f"constant Float32 x = {HUGE}": "E303",
        f"schema S Int64{{0..{HUGE}:3}} x end": "E303",
        f"schema S Float64{{0..1:{HUGE}}} x end": "E302",
        f"schema S Luminance({HUGE}, 2) x end": "E414",
        "constant Int8 x = 1.0e400": "E303",
    }
    for source, code in sources.items():
        result = compile_inkling(source)
        assert [error.code for error in result.errors] == [code], source
        assert all(len(error.text) < 120 for error in result.errors)
    threshold = compile_inkling(
        EXAMPLES["find_the_center"].replace("maximize time_at_goal\n", f"score > {HUGE}\n")
    )
    assert [error.code for error in threshold.errors] == ["E303"]
