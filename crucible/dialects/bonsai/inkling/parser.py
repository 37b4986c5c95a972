"""Parses Inkling tokens into a syntax tree with Lark's LALR(1) parser, recovering from syntax errors.

Statements are parsed one at a time with Lark's interactive parser. A token that the parser refuses
either ends a complete statement (the next one starts there) or is a syntax error (E110). After an
error, tokens are skipped up to the next top-level keyword and parsing starts again, so that several
errors are reported. Running out of tokens inside a statement is E111, placed just past the last token.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources

from lark import Lark, Token, Transformer, Tree
from lark.exceptions import UnexpectedInput
from lark.lexer import Lexer
from lark.parsers.lalr_interactive_parser import InteractiveParser

from . import syntax_tree as st
from .diagnostics import MAX_REPORTED, Diagnostic
from .lexer import CONTEXTUAL_KEYWORDS, KEYWORDS, OPERATORS, lex, number_value, quote, string_value


@dataclass(frozen=True)
class BrokenStatement:
    """A statement dropped because of a syntax error; its name silences "undefined" errors about it."""

    keyword: str
    name: str | None


@dataclass(frozen=True)
class ParseResult:
    program: st.Program
    diagnostics: list[Diagnostic]
    broken: tuple[BrokenStatement, ...]


def parse(source: str) -> ParseResult:
    """Lex and parse `source`; syntax errors are reported, never raised."""
    lexed = lex(source)
    return _StatementParser(lexed.tokens, lexed.diagnostics).run()


class _NoLexer(Lexer):
    """Tokens are fed by hand (from lexer.py), so Lark's own lexer is never used."""

    def __init__(self, lexer_conf: object) -> None:
        pass

    def lex(self, *args: object) -> None:
        raise NotImplementedError


@functools.cache
def _lark() -> Lark:
    grammar = resources.files(__package__).joinpath("grammar.lark").read_text(encoding="utf-8")
    return Lark(grammar, parser="lalr", lexer=_NoLexer, start="statement")


class _StatementParser:
    def __init__(self, tokens: list[Token], diagnostics: list[Diagnostic]) -> None:
        self.tokens = tokens
        self.diagnostics = list(diagnostics)
        self.statements: list[st.Statement] = []
        self.broken: list[BrokenStatement] = []
        self.syntax_errors = 0

    def run(self) -> ParseResult:
        index = 0
        while index < len(self.tokens) and self.syntax_errors < MAX_REPORTED:
            index = self._parse_statement(index)
        return ParseResult(st.Program(tuple(self.statements)), self.diagnostics, tuple(self.broken))

    def _parse_statement(self, start: int) -> int:
        """Parse one statement from `start`; return the index where the next one should start."""
        parser = _lark().parse_interactive(start="statement")
        index = start
        while index < len(self.tokens) and _feed(parser, self.tokens[index]):
            index += 1

        if index == len(self.tokens):
            tree = _finish(parser, self.tokens[-1])
            if tree is None:
                self._syntax_error_at_end(parser, start)
            else:
                self.statements.append(_ToSyntaxTree().transform(tree))
            return index

        if index > start:
            tree = _finish(parser, self.tokens[index - 1])
            if tree is not None:
                self.statements.append(_ToSyntaxTree().transform(tree))
                return index
        token = self.tokens[index]
        expected = describe_expected(parser.accepts())
        self._error("E110", f"expected {expected}, found {quote(str(token))}", token.line, token.column)
        self._mark_broken(start, index)
        return self._resynchronise(index if index > start else index + 1)

    def _syntax_error_at_end(self, parser: InteractiveParser, start: int) -> None:
        last = self.tokens[-1]
        expected = describe_expected(parser.accepts())
        self._error("E111", f"unexpected end of file, expected {expected}", last.end_line, last.end_column)
        self._mark_broken(start, len(self.tokens))

    def _resynchronise(self, index: int) -> int:
        while index < len(self.tokens) and not self._starts_statement(index):
            index += 1
        return index

    def _starts_statement(self, index: int) -> bool:
        """Whether the token at `index` is a top-level keyword (contextual ones judged by what follows)."""
        token = self.tokens[index]
        before = self.tokens[index - 1] if index > 0 else None
        if token.type in ("SCHEMA", "CONCEPT", "CURRICULUM"):
            return True
        if token.type == "SIMULATOR":
            return before is None or before.type != "WITH"
        after = self.tokens[index + 1 : index + 3]
        if token == "constant" and token.type == "IDENT":
            return len(after) == 2 and after[0].type in _TYPE_TOKENS | {"IDENT"} and after[1].type == "IDENT"
        if token == "algorithm" and token.type == "IDENT":
            return (before is None or before.type != "USING") and [t.type for t in after] == ["IDENT", "IS"]
        return False

    def _mark_broken(self, start: int, stop: int) -> None:
        if start >= stop:
            return
        words = [str(token) for token in self.tokens[start:stop]]
        keyword = words[0]
        name_index = 2 if keyword == "constant" else 1
        name = None
        if len(words) > name_index and self.tokens[start + name_index].type == "IDENT":
            name = words[name_index]
        self.broken.append(BrokenStatement(keyword, name))

    def _error(self, code: str, text: str, line: int, column: int) -> None:
        self.diagnostics.append(Diagnostic(code, text, line, column))
        self.syntax_errors += 1


def _feed(parser: InteractiveParser, token: Token) -> bool:
    """Feed `token`; False if refused (parser unchanged). A contextual keyword is tried as keyword first.

    A refused token may have triggered reductions before the refusal (LALR), so the two parser stacks
    are saved and put back. Saving them is much cheaper than copying the whole parser for every token.
    """
    candidates = [token]
    if token.type == "IDENT" and str(token) in CONTEXTUAL_KEYWORDS:
        candidates.insert(0, Token.new_borrow_pos(CONTEXTUAL_KEYWORDS[str(token)], str(token), token))
    stacks = parser.parser_state
    saved_states, saved_values = list(stacks.state_stack), list(stacks.value_stack)
    for candidate in candidates:
        try:
            parser.feed_token(candidate)
        except UnexpectedInput:
            stacks.state_stack[:] = saved_states
            stacks.value_stack[:] = saved_values
            continue
        return True
    return False


def _finish(parser: InteractiveParser, last: Token) -> Tree | None:
    """The statement's tree if the statement is complete here, else None (the parser is left as it was)."""
    trial = parser.copy(deepcopy_values=False)
    try:
        return trial.feed_eof(last)
    except UnexpectedInput:
        return None


_TYPE_TOKENS = frozenset(token_type for token_type in KEYWORDS.values() if token_type.startswith("T_"))
_KEYWORD_SPELLING = {token_type: word for word, token_type in {**KEYWORDS, **CONTEXTUAL_KEYWORDS}.items()}
_OPERATOR_SPELLING = {token_type: text for text, token_type in OPERATORS.items()}
_LITERAL_NAMES = {"IDENT": "identifier", "INT": "integer", "FLOAT": "decimal number", "STRING": "string"}
_NUMBER_TOKENS = frozenset({"INT", "FLOAT", "PLUS", "MINUS", "IDENT"})


def describe_expected(token_types: set[str]) -> str:
    """Human wording of what the parser would have accepted, e.g. `',' or 'end'`."""
    remaining = set(token_types) - {"$END", "RESERVED"}
    names: list[str] = []
    if remaining >= _TYPE_TOKENS:
        names.append("type")
        remaining -= _TYPE_TOKENS | {"IDENT", "LUMINANCE", "MATRIX"}
    if remaining >= _NUMBER_TOKENS:
        names.append("number")
        remaining -= _NUMBER_TOKENS
    for token_type in remaining:
        if token_type in _LITERAL_NAMES:
            names.append(_LITERAL_NAMES[token_type])
        elif token_type in _OPERATOR_SPELLING:
            names.append(f"'{_OPERATOR_SPELLING[token_type]}'")
        else:
            names.append(f"'{_KEYWORD_SPELLING.get(token_type, token_type)}'")
    if "$END" in token_types and not names:
        return "end of file"
    names.sort(key=lambda name: (name.startswith("'"), name.strip("'").lower()))
    if len(names) == 1:
        return names[0]
    return ", ".join(names[:-1]) + " or " + names[-1]


# --- Lark tree -> syntax tree ---------------------------------------------------------------------


def _position(token: Token) -> st.Position:
    return st.Position(token.line, token.column)


def _name(token: Token) -> st.Name:
    return st.Name(str(token), _position(token))


def _is_token(item: object, *types: str) -> bool:
    return isinstance(item, Token) and item.type in types


class _ToSyntaxTree(Transformer):
    """Builds syntax_tree nodes from one statement's Lark tree. Tokens carry the positions."""

    # Statements

    def constant(self, items: list) -> st.ConstantStatement:
        _keyword, type_name, name, value = items
        return st.ConstantStatement(type_name, _name(name), value)

    def schema(self, items: list) -> st.SchemaStatement:
        _keyword, name, fields = items
        return st.SchemaStatement(_name(name), fields)

    def concept(self, items: list) -> st.ConceptStatement:
        return st.ConceptStatement(_name(items[1]), tuple(items[2:]))

    def simulator(self, items: list) -> st.SimulatorStatement:
        return st.SimulatorStatement(_name(items[1]), items[2], tuple(items[3:]))

    def algorithm(self, items: list) -> st.AlgorithmStatement:
        _keyword, name, _is, kind, params = items
        return st.AlgorithmStatement(_name(name), _name(kind), params)

    def curriculum(self, items: list) -> st.CurriculumStatement:
        clauses = tuple(item for item in items[4:] if not isinstance(item, st.Lesson))
        lessons = tuple(item for item in items[4:] if isinstance(item, st.Lesson))
        return st.CurriculumStatement(_name(items[1]), _name(items[3]), clauses, lessons)

    # Schemas and fields

    def fields(self, items: list) -> tuple[st.Field, ...]:
        return tuple(items)

    def type_name(self, items: list) -> st.Name:
        return _name(items[0])

    def scalar_field(self, items: list) -> st.ScalarField:
        if len(items) == 3:
            return st.ScalarField(items[0], items[1], _name(items[2]))
        return st.ScalarField(items[0], None, _name(items[1]))

    def luminance_field(self, items: list) -> st.LuminanceField:
        keyword, _lpar, width, height, name = items
        return st.LuminanceField(_name(keyword), self._literal(width), self._literal(height), _name(name))

    def structured_field(self, items: list) -> st.StructuredField:
        return st.StructuredField(_name(items[0]), _name(items[-1]))

    def type_args(self, items: list) -> None:
        return None

    def empty_schema_ref(self, items: list) -> st.EmptySchemaRef:
        return st.EmptySchemaRef(_position(items[0]))

    def named_schema_ref(self, items: list) -> st.NamedSchemaRef:
        return st.NamedSchemaRef(_name(items[1]))

    def inline_schema_ref(self, items: list) -> st.InlineSchemaRef:
        return st.InlineSchemaRef(items[1], _position(items[0]))

    # Ranges and scalars

    def range(self, items: list) -> st.Range:
        brace, body = items
        kind, values = body
        position = _position(brace)
        if kind == "value_list":
            return st.ValueListRange(tuple(values), position)
        if kind == "colon_range":
            return st.ColonRange(values[0], None, values[1], position)
        if kind == "colon_step_range":
            return st.ColonRange(values[0], values[1], values[2], position)
        return st.DotRange(values[0], values[1], values[2], position)

    def value_list(self, items: list) -> tuple[str, list]:
        return "value_list", items

    def colon_range(self, items: list) -> tuple[str, list]:
        return "colon_range", items

    def colon_step_range(self, items: list) -> tuple[str, list]:
        return "colon_step_range", items

    def dot_range(self, items: list) -> tuple[str, list]:
        return "dot_range", items

    def number_literal(self, items: list) -> st.NumberLiteral:
        if len(items) == 1:
            return self._literal(items[0])
        sign, digits = items
        value = number_value(str(digits))
        return st.NumberLiteral(-value if sign == "-" else value, f"{sign}{digits}", _position(sign))

    def constant_ref(self, items: list) -> st.ConstantRef:
        return st.ConstantRef(str(items[0]), _position(items[0]))

    def string_literal(self, items: list) -> st.StringLiteral:
        token = items[0]
        return st.StringLiteral(string_value(str(token)), str(token), _position(token))

    def bool_literal(self, items: list) -> st.BoolLiteral:
        return st.BoolLiteral(items[0] == "true", _position(items[0]))

    @staticmethod
    def _literal(token: Token) -> st.NumberLiteral:
        return st.NumberLiteral(number_value(str(token)), str(token), _position(token))

    # Concepts and simulators

    def is_clause(self, items: list) -> st.IsClause:
        return st.IsClause(_name(items[0]), _name(items[1]))

    def predicts_clause(self, items: list) -> st.PredictsClause:
        keyword, target = items
        schema = st.NamedSchemaRef(_name(target)) if isinstance(target, Token) else target
        return st.PredictsClause(_name(keyword), schema)

    def follows_clause(self, items: list) -> st.FollowsClause:
        return st.FollowsClause(_name(items[0]), tuple(items[1:]))

    def input_source(self, items: list) -> st.InputSource:
        return st.InputSource(_name(items[0]), items[1])

    def concept_source(self, items: list) -> st.ConceptSource:
        return st.ConceptSource(_name(items[0]))

    def feeds_clause(self, items: list) -> st.FeedsClause:
        return st.FeedsClause(_name(items[0]), tuple(_name(item) for item in items[1:]))

    def action_clause(self, items: list) -> st.ActionClause:
        return st.ActionClause(_name(items[0]), items[1])

    def state_clause(self, items: list) -> st.StateClause:
        return st.StateClause(_name(items[0]), items[1])

    # Algorithms

    def params(self, items: list) -> tuple[st.Param, ...]:
        return tuple(items)

    def param(self, items: list) -> st.Param:
        return st.Param(_name(items[0]), items[1])

    def list_value(self, items: list) -> st.ListValue:
        return st.ListValue(tuple(items[1:]), _position(items[0]))

    # Curricula and lessons

    def with_simulator_clause(self, items: list) -> st.WithSimulatorClause:
        config = items[3] if len(items) == 4 else None
        return st.WithSimulatorClause(_name(items[0]), _name(items[2]), config)

    def objective_clause(self, items: list) -> st.ObjectiveClause:
        return st.ObjectiveClause(_name(items[0]), _name(items[1]))

    def using_clause(self, items: list) -> st.UsingAlgorithmClause:
        return st.UsingAlgorithmClause(_name(items[0]), _name(items[2]), tuple(items[3:]))

    def lesson(self, items: list) -> st.Lesson:
        name = _name(items[1])
        follows: tuple[st.Name, ...] = ()
        configure = None
        flows: list[st.FlowClause] = []
        for item in items[2:-2]:
            if isinstance(item, st.ConfigureClause):
                configure = item
            elif isinstance(item, st.FlowClause):
                flows.append(item)
            else:
                follows = item
        assert configure is not None
        return st.Lesson(name, follows, configure, tuple(flows), items[-1])

    def lesson_follows(self, items: list) -> tuple[st.Name, ...]:
        return tuple(_name(item) for item in items[1:])

    def configure(self, items: list) -> st.ConfigureClause:
        schema = _name(items[1]) if len(items) > 1 and _is_token(items[1], "IDENT") else None
        constraints = tuple(item for item in items if isinstance(item, st.Constraint))
        return st.ConfigureClause(_name(items[0]), schema, constraints)

    def constraint(self, items: list) -> st.Constraint:
        keyword, field, _with, type_name, value_range = items
        return st.Constraint(_name(keyword), _name(field), type_name, value_range)

    def train_flow(self, items: list) -> st.FlowClause:
        return st.FlowClause(_name(items[0]))

    def test_flow(self, items: list) -> st.FlowClause:
        return st.FlowClause(_name(items[0]))

    def flow(self, items: list) -> None:
        return None

    def objective_goal(self, items: list) -> st.ObjectiveGoal:
        return st.ObjectiveGoal(_name(items[0]), _name(items[1]))

    def threshold_goal(self, items: list) -> st.ThresholdGoal:
        objective, relation, value = items
        return st.ThresholdGoal(_name(objective), relation, value)

    def relation(self, items: list) -> st.Name:
        return _name(items[0])
