"""The compile result as the REST layer and the CLI show it (spec §3.2, §3.3, §4.6, §7 scenario 3)."""

from __future__ import annotations

from inkling_examples import FIND_THE_CENTER

from crucible.dialects.bonsai.inkling import compile_inkling

# Line 7 reads `    Int9 value`, as in acceptance scenario 3.
INT9_ON_LINE_7 = "# find the center\n" * 5 + FIND_THE_CENTER.replace("    Int8 value", "    Int9 value", 1)


def test_scenario_3_unknown_type_on_line_7() -> None:
    assert INT9_ON_LINE_7.splitlines()[6] == "    Int9 value"
    result = compile_inkling(INT9_ON_LINE_7)
    assert not result.success and result.program is None
    assert [str(error) for error in result.errors] == ["E301 unknown type 'Int9' (line 7, column 5)"]
    assert result.error_summary() == "Inkling has 1 error(s); first at line 7, column 5: unknown type 'Int9'"


def test_train_message_with_two_errors() -> None:
    source = INT9_ON_LINE_7.replace("    Int9 value\n", "    Int9 value,\n    UInt8{-1} other\n", 1)
    result = compile_inkling(source)
    assert [str(error) for error in result.errors] == [
        "E301 unknown type 'Int9' (line 7, column 5)",
        "E303 value -1 is not representable in UInt8 (line 8, column 11)",
    ]
    assert result.error_summary() == "Inkling has 2 error(s); first at line 7, column 5: unknown type 'Int9'"
    # Reported sorted by position, whatever the order they were found in.
    later_first = compile_inkling("constant Int8 big = 999\n" + INT9_ON_LINE_7)
    assert [(error.code, error.line) for error in later_first.errors] == [("E303", 1), ("E301", 8)]


def test_json_shape() -> None:
    body = compile_inkling(INT9_ON_LINE_7).to_json()
    assert body == {
        "success": False,
        "errors": [
            {
                "code": "E301",
                "text": "unknown type 'Int9'",
                "message": "unknown type 'Int9'",
                "line": 7,
                "column": 5,
            }
        ],
        "warnings": [],
        "compiler_version": "1.9.0",
    }
    assert compile_inkling(FIND_THE_CENTER).to_json() == {
        "success": True,
        "errors": [],
        "warnings": [],
        "compiler_version": "1.9.0",
    }


def test_missing_end_is_e111_just_past_the_last_token() -> None:
    source = FIND_THE_CENTER[: FIND_THE_CENTER.rindex("end")] + "\n# trailing comment\n"
    result = compile_inkling(source)
    assert [str(error) for error in result.errors] == [
        "E111 unexpected end of file, expected 'end' or 'lesson' (line 32, column 38)"
    ]
    assert source.splitlines()[31].rstrip().endswith("maximize time_at_goal")
    assert len(source.splitlines()[31].rstrip()) == 37


def test_warnings_do_not_fail_compilation() -> None:
    source = FIND_THE_CENTER.replace(
        "    objective time_at_goal\n", "    objective time_at_goal\n    using algorithm QTable\n"
    )
    result = compile_inkling(source)
    assert result.success and result.program is not None
    assert [str(warning) for warning in result.warnings] == [
        "W502 algorithm 'QTable' is mapped to 'DQN' (line 28, column 21)"
    ]


def test_bytes_input_bom_and_invalid_utf8() -> None:
    assert compile_inkling(b"\xef\xbb\xbf" + FIND_THE_CENTER.encode()).success
    result = compile_inkling(b"schema S Int8 x\xff end")
    assert [str(error) for error in result.errors] == [
        "E101 unexpected character '\ufffd' (line 1, column 16)"
    ]


def test_compilation_is_deterministic() -> None:
    source = INT9_ON_LINE_7 + "schema X Int8 a a end\nconcept c end\n"
    assert compile_inkling(source) == compile_inkling(source)
    assert compile_inkling(FIND_THE_CENTER) == compile_inkling(FIND_THE_CENTER)
