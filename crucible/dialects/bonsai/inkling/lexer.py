"""Turns Inkling source text into the tokens that grammar.lark declares (spec §4.6, lexical rules).

The lexer never stops at a bad character: it reports E101/E102 and carries on, so that the parser
can still find the errors that follow. Columns are counted in code points (Python `str` indices).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lark import Token

from .diagnostics import Diagnostic

# Reserved words and the token type each one lexes to. Keywords are case-sensitive.
KEYWORDS: dict[str, str] = {
    "action": "ACTION",
    "concept": "CONCEPT",
    "configure": "CONFIGURE",
    "constrain": "CONSTRAIN",
    "curriculum": "CURRICULUM",
    "end": "_END",
    "false": "FALSE",
    "feeds": "FEEDS",
    "follows": "FOLLOWS",
    "from": "FROM",
    "in": "IN",
    "input": "INPUT",
    "is": "IS",
    "lesson": "LESSON",
    "maximize": "MAXIMIZE",
    "minimize": "MINIMIZE",
    "objective": "OBJECTIVE",
    "output": "OUTPUT",
    "predicts": "PREDICTS",
    "schema": "SCHEMA",
    "select": "SELECT",
    "send": "SEND",
    "simulator": "SIMULATOR",
    "state": "STATE",
    "test": "TEST",
    "train": "TRAIN",
    "true": "TRUE",
    "until": "UNTIL",
    "using": "USING",
    "with": "WITH",
    "Luminance": "LUMINANCE",
    "Matrix": "MATRIX",
    "Double": "T_DOUBLE",
    "Float64": "T_FLOAT64",
    "Float32": "T_FLOAT32",
    "Int8": "T_INT8",
    "Int16": "T_INT16",
    "Int32": "T_INT32",
    "Int64": "T_INT64",
    "UInt8": "T_UINT8",
    "UInt16": "T_UINT16",
    "UInt32": "T_UINT32",
    "UInt64": "T_UINT64",
    "Bool": "T_BOOL",
    "String": "T_STRING",
    # Reserved by Inkling but used by no statement of the supported subset.
    "and": "RESERVED",
    "else": "RESERVED",
    "generator": "RESERVED",
    "if": "RESERVED",
    "not": "RESERVED",
    "or": "RESERVED",
    "return": "RESERVED",
    "stream": "RESERVED",
    "then": "RESERVED",
    "var": "RESERVED",
    "yield": "RESERVED",
}

# Contextual keywords lex as IDENT; the parser retypes them where the grammar expects the keyword.
CONTEXTUAL_KEYWORDS: dict[str, str] = {
    "algorithm": "ALGORITHM",
    "classifier": "CLASSIFIER",
    "constant": "CONSTANT",
    "control": "CONTROL",
    "estimator": "ESTIMATOR",
}

OPERATORS: dict[str, str] = {
    "=>": "_ARROW",
    "..": "_DOTDOT",
    "==": "EQEQ",
    "<=": "LE",
    ">=": "GE",
    ":": "_COLON",
    ",": "_COMMA",
    "(": "LPAR",
    ")": "_RPAR",
    "{": "LBRACE",
    "}": "_RBRACE",
    "[": "LSQB",
    "]": "_RSQB",
    "=": "_EQUAL",
    "<": "LT",
    ">": "GT",
    "+": "PLUS",
    "-": "MINUS",
}

# Tried in this order at each position; the first alternative that matches wins.
_TOKEN_PATTERN = re.compile(
    r"""
      (?P<space>[ \t\r\n\f\v]+)
    | (?P<comment>\#[^\n]*)
    | (?P<float>(?:[0-9]+\.(?!\.)[0-9]*|\.[0-9]+)(?:[eEfF][+-]?[0-9]+)?)
    | (?P<int>[0-9]+)
    | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
    | (?P<string>"(?:[^"\\\n]|\\.)*")
    | (?P<unterminated>"(?:[^"\\\n]|\\.)*\\?)
    | (?P<operator>=>|\.\.|==|<=|>=|[:,(){}\[\]=<>+\-])
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class LexResult:
    tokens: list[Token]
    diagnostics: list[Diagnostic]


def lex(source: str) -> LexResult:
    """Split `source` into tokens (comments and whitespace dropped), reporting E101/E102 on the way."""
    tokens: list[Token] = []
    diagnostics: list[Diagnostic] = []
    line, line_start = 1, 0
    position, length = 0, len(source)
    while position < length:
        match = _TOKEN_PATTERN.match(source, position)
        column = position - line_start + 1
        if match is None:
            bad_start = position
            while position < length and _TOKEN_PATTERN.match(source, position) is None:
                position += 1
            text = f"unexpected character {describe_character(source[bad_start])}"
            diagnostics.append(Diagnostic("E101", text, line, column))
            continue
        kind, text = match.lastgroup, match.group()
        position = match.end()
        if kind == "space":
            newlines = text.count("\n")
            if newlines:
                line += newlines
                line_start = match.start() + text.rindex("\n") + 1
            continue
        if kind == "comment":
            continue
        if kind == "unterminated":
            diagnostics.append(Diagnostic("E102", f"unterminated string {quote(text)}", line, column))
            kind = "string"
        tokens.append(_token(_token_type(kind, text), text, match.start(), line, column))
    return LexResult(tokens, diagnostics)


def _token_type(kind: str | None, text: str) -> str:
    if kind == "word":
        return KEYWORDS.get(text, "IDENT")
    if kind == "operator":
        return OPERATORS[text]
    return {"float": "FLOAT", "int": "INT", "string": "STRING"}[str(kind)]


def _token(token_type: str, text: str, offset: int, line: int, column: int) -> Token:
    return Token(
        token_type,
        text,
        start_pos=offset,
        line=line,
        column=column,
        end_line=line,
        end_column=column + len(text),
        end_pos=offset + len(text),
    )


def string_value(text: str) -> str:
    """The value of a STRING token: quotes removed, `\\"` and `\\\\` unescaped (other backslashes kept)."""
    body = text[1:-1] if len(text) >= 2 and text.endswith('"') and not _ends_in_escape(text) else text[1:]
    return re.sub(r'\\(["\\])', r"\1", body)


def _ends_in_escape(text: str) -> bool:
    backslashes = len(text) - 1 - len(text[:-1].rstrip("\\"))
    return backslashes % 2 == 1


def number_value(text: str) -> int | float:
    """The value of an INT or FLOAT token; `f`/`F` exponents are read like `e`."""
    if re.fullmatch(r"[0-9]+", text):
        return int(text)
    return float(text.replace("f", "e").replace("F", "e"))


def describe_character(char: str) -> str:
    return f"'{char}'" if char.isprintable() else f"U+{ord(char):04X}"


def quote(text: str, limit: int = 40) -> str:
    """A token as it appears inside a message: single-quoted, shortened if long."""
    shown = text if len(text) <= limit else text[: limit - 1] + "…"
    return f"'{shown}'"
