"""Lexical rules, grammar and syntax-error recovery of the Inkling compiler (spec §4.6)."""

from __future__ import annotations

from inkling_examples import FIND_THE_CENTER

from crucible.dialects.bonsai.inkling import compile_inkling
from crucible.dialects.bonsai.inkling import syntax_tree as st
from crucible.dialects.bonsai.inkling.lexer import lex
from crucible.dialects.bonsai.inkling.parser import parse


def token_types(source: str) -> list[tuple[str, str]]:
    return [(token.type, str(token)) for token in lex(source).tokens]


def errors(source: str) -> list[str]:
    return [str(error) for error in compile_inkling(source).errors]


# --- Lexer ----------------------------------------------------------------------------------------


def test_dot_dot_never_belongs_to_a_number() -> None:
    assert token_types("0..2") == [("INT", "0"), ("_DOTDOT", ".."), ("INT", "2")]
    assert token_types("0...5") == [("INT", "0"), ("_DOTDOT", ".."), ("FLOAT", ".5")]


def test_float_forms_and_exponents() -> None:
    assert token_types("1.5 .5 1. 2.5e3 1.0f2 .5E-2") == [
        ("FLOAT", "1.5"),
        ("FLOAT", ".5"),
        ("FLOAT", "1."),
        ("FLOAT", "2.5e3"),
        ("FLOAT", "1.0f2"),
        ("FLOAT", ".5E-2"),
    ]
    # An exponent only follows a float form: `1e5` is INT then IDENT.
    assert token_types("1e5") == [("INT", "1"), ("IDENT", "e5")]


def test_f_exponent_reads_like_e() -> None:
    result = compile_inkling("constant Float32 k = 1.5f2")
    assert result.success and result.program is not None
    assert result.program.constants["k"] == 150.0


def test_operators_and_comments() -> None:
    assert [kind for kind, _ in token_types("=> .. : , ( ) { } [ ] = == < > <= >= + - # gone")] == [
        "_ARROW",
        "_DOTDOT",
        "_COLON",
        "_COMMA",
        "LPAR",
        "_RPAR",
        "LBRACE",
        "_RBRACE",
        "LSQB",
        "_RSQB",
        "_EQUAL",
        "EQEQ",
        "LT",
        "GT",
        "LE",
        "GE",
        "PLUS",
        "MINUS",
    ]


def test_string_escapes() -> None:
    result = compile_inkling(r'constant String s = "say \"hi\" \\ \n"')
    assert result.success and result.program is not None
    assert result.program.constants["s"] == 'say "hi" \\ \\n'


def test_keywords_are_case_sensitive() -> None:
    assert token_types("schema Schema Int8 INT8") == [
        ("SCHEMA", "schema"),
        ("IDENT", "Schema"),
        ("T_INT8", "Int8"),
        ("IDENT", "INT8"),
    ]
    assert errors("Schema S Int8 x end") == [
        "E110 expected 'algorithm', 'concept', 'constant', 'curriculum', 'schema' or 'simulator', "
        "found 'Schema' (line 1, column 1)"
    ]


def test_contextual_keywords_are_identifiers_elsewhere() -> None:
    source = "schema S Int8 algorithm, Int8 constant, Int8 control, Int8 classifier, Int8 estimator end"
    result = compile_inkling(source)
    assert result.success and result.program is not None
    assert result.program.schemas[0].field_names == (
        "algorithm",
        "constant",
        "control",
        "classifier",
        "estimator",
    )


def test_reserved_words_are_not_identifiers() -> None:
    assert errors("schema S Int8 yield end") == [
        "E110 expected identifier or '{', found 'yield' (line 1, column 15)"
    ]


def test_columns_count_code_points_and_lines_count_newlines() -> None:
    source = 'constant String s = "🙂🙂" constant Int9 x = 1\r\n\tconstant Int9 y = 2'
    assert errors(source) == [
        "E301 unknown type 'Int9' (line 1, column 35)",
        "E301 unknown type 'Int9' (line 2, column 11)",
    ]


def test_e101_reports_one_error_per_run_and_goes_on() -> None:
    assert errors("schema S Int8 x $$$ end\nschema T Int8 y ? end") == [
        "E101 unexpected character '$' (line 1, column 17)",
        "E101 unexpected character '?' (line 2, column 17)",
    ]
    assert errors("schema S Int8 x\u00a0end") == ["E101 unexpected character U+00A0 (line 1, column 16)"]


def test_e102_ends_at_the_line_end_and_lexing_goes_on() -> None:
    assert errors('constant String s = "abc\nconstant Int9 x = 1') == [
        "E102 unterminated string '\"abc' (line 1, column 21)",
        "E301 unknown type 'Int9' (line 2, column 10)",
    ]


# --- Grammar --------------------------------------------------------------------------------------


def test_find_the_center_parses_into_the_expected_tree() -> None:
    program = parse(FIND_THE_CENTER).program
    kinds = [type(statement).__name__ for statement in program.statements]
    assert kinds == [
        "SchemaStatement",
        "SchemaStatement",
        "SchemaStatement",
        "ConceptStatement",
        "SimulatorStatement",
        "CurriculumStatement",
    ]
    move = program.statements[1]
    assert isinstance(move, st.SchemaStatement)
    (delta,) = move.fields
    assert isinstance(delta, st.ScalarField) and isinstance(delta.range, st.ValueListRange)
    assert [value.value for value in delta.range.values] == [-1, 0, 1]  # type: ignore[union-attr]
    assert delta.range.values[0].position == st.Position(6, 10)
    curriculum = program.statements[5]
    assert isinstance(curriculum, st.CurriculumStatement)
    (lesson,) = curriculum.lessons
    assert lesson.name == st.Name("seek_center", st.Position(28, 16))
    assert isinstance(lesson.until, st.ObjectiveGoal) and lesson.until.direction.text == "maximize"


def test_range_forms() -> None:
    program = parse("schema S Int8{1:2:9} a, Int8{0:4} b, Float32{0..1:5} c, Int8{n, -2, +3} d end").program
    schema = program.statements[0]
    assert isinstance(schema, st.SchemaStatement)
    a, b, c, d = (field.range for field in schema.fields)  # type: ignore[union-attr]
    assert isinstance(a, st.ColonRange) and (a.start.value, a.step.value, a.stop.value) == (1, 2, 9)  # type: ignore
    assert isinstance(b, st.ColonRange) and b.step is None
    assert isinstance(c, st.DotRange) and (c.start.value, c.stop.value, c.steps.value) == (0, 1, 5)  # type: ignore
    assert isinstance(d, st.ValueListRange)
    assert d.values[0] == st.ConstantRef("n", st.Position(1, 62))
    assert [value.text for value in d.values[1:]] == ["-2", "+3"]  # type: ignore[union-attr]


def test_schema_references_bare_named_anonymous_and_empty() -> None:
    source = """
    concept c is estimator predicts Out follows input(In), input() feeds output end
    simulator s() action (Float32 x) state (In) end
    """
    concept, simulator = parse(source).program.statements
    assert isinstance(concept, st.ConceptStatement) and isinstance(simulator, st.SimulatorStatement)
    predicts = concept.clauses[1]
    assert isinstance(predicts, st.PredictsClause)
    assert predicts.schema == st.NamedSchemaRef(st.Name("Out", st.Position(2, 37)))
    follows = concept.clauses[2]
    assert isinstance(follows, st.FollowsClause)
    assert isinstance(follows.sources[1], st.InputSource)
    assert isinstance(follows.sources[1].schema, st.EmptySchemaRef)
    assert isinstance(simulator.config, st.EmptySchemaRef)
    assert isinstance(simulator.clauses[0].schema, st.InlineSchemaRef)


def test_algorithm_parameters_with_and_without_commas() -> None:
    source = """
    algorithm a is DQN gamma => 0.9 samples_per_train => 8, hidden_layer_size_descriptor => [32, 32] end
    curriculum c train x
        using algorithm a gamma => 0.8, seed => 3 max_iterations => 10 end
        lesson l configure train from a in b select c send d until score < -1.5
    end
    """
    algorithm, curriculum = parse(source).program.statements
    assert isinstance(algorithm, st.AlgorithmStatement) and isinstance(curriculum, st.CurriculumStatement)
    assert [param.name.text for param in algorithm.params] == [
        "gamma",
        "samples_per_train",
        "hidden_layer_size_descriptor",
    ]
    (using,) = curriculum.clauses
    assert isinstance(using, st.UsingAlgorithmClause)
    assert [param.name.text for param in using.params] == ["gamma", "seed", "max_iterations"]
    (lesson,) = curriculum.lessons
    assert [flow.keyword.text for flow in lesson.flows] == ["train"]
    assert isinstance(lesson.until, st.ThresholdGoal) and lesson.until.relation.text == "<"


# --- Syntax errors and recovery -------------------------------------------------------------------


def test_e111_points_just_past_the_last_token() -> None:
    source = "schema S\n    Int8 x   # the end is missing\n\n"
    assert errors(source) == ["E111 unexpected end of file, expected ',' or 'end' (line 2, column 11)"]
    assert errors("schema S Int8{1, 2") == [
        "E111 unexpected end of file, expected ',' or '}' (line 1, column 19)"
    ]


def test_missing_end_before_the_next_statement_is_e110_there_and_parsing_restarts_there() -> None:
    assert errors("schema S Int8 x\nschema T Int9 y end") == [
        "E110 expected ',' or 'end', found 'schema' (line 2, column 1)",
        "E301 unknown type 'Int9' (line 2, column 10)",
    ]


def test_errors_in_several_statements_are_all_reported_in_order() -> None:
    source = """\
schema A Int8 x Int8 y end
schema B Int8 ok end
concept c is classifier predicts (B) follows input(B) feeds output output end
simulator s(B) action (B) state state (B) end
schema C Int8 z,
"""
    assert errors(source) == [
        "E110 expected ',' or 'end', found 'Int8' (line 1, column 17)",
        "E110 expected ',', 'end', 'feeds', 'follows', 'is' or 'predicts', found 'output' "
        "(line 3, column 68)",
        "E110 expected '(', found 'state' (line 4, column 33)",
        "E111 unexpected end of file, expected type (line 5, column 17)",
    ]


def test_syntax_and_semantic_errors_are_reported_together_sorted() -> None:
    source = "schema S Int9 x end\nschema T Int8 y Int8 z end\nconstant Int8 big = 1000"
    assert errors(source) == [
        "E301 unknown type 'Int9' (line 1, column 10)",
        "E110 expected ',' or 'end', found 'Int8' (line 2, column 17)",
        "E303 value 1000 is not representable in Int8 (line 3, column 21)",
    ]


def test_statement_lost_to_a_syntax_error_causes_no_undefined_errors() -> None:
    source = FIND_THE_CENTER.replace("Int8{-1, 0, 1} delta", "Int8{-1, 0, 1} delta delta")
    assert errors(source) == ["E110 expected ',' or 'end', found 'delta' (line 6, column 26)"]


def test_recovery_skips_with_simulator_but_stops_at_contextual_algorithm() -> None:
    source = """\
curriculum c train x x with simulator s objective o lesson l configure until maximize o end
schema S Int8 a a end
algorithm alg is PPO end
schema T Int9 b end
"""
    assert errors(source) == [
        "E110 expected 'end', 'lesson', 'objective', 'using' or 'with', found 'x' (line 1, column 22)",
        "E110 expected ',' or 'end', found 'a' (line 2, column 17)",
        "E301 unknown type 'Int9' (line 4, column 10)",
    ]


def test_at_most_100_errors_are_reported() -> None:
    result = compile_inkling("schema end\n" * 150)
    assert len(result.errors) == 100
    assert result.errors[0].line == 1 and result.errors[-1].line == 100
    assert len(compile_inkling("$ " * 150).errors) == 100
