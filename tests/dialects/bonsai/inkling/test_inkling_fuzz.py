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
