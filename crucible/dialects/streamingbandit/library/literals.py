"""Reading library fields back from theta text (Python literals) and shaping them as numpy values."""

from __future__ import annotations

import codecs
import io
import json
import math
import re
import tokenize
from typing import Any

import numpy as np

_SIMPLE_KEY = re.compile(r"'[A-Za-z_][A-Za-z0-9_]*'")
_NUMERIC_STRUCTURE = re.compile(r"[0-9\s\[\]{},:.eE+\-]*")


def parse_literal(value: Any) -> Any:
    """A theta string parsed as a Python literal (e.g. "[[0.0, 1.0]]"); other values unchanged."""
    if isinstance(value, bytes):
        value = value.decode("utf-8")
    if isinstance(value, str):
        text = value.strip()
        fast = _parse_numeric(text)
        return _literal_eval(text) if fast is None else fast
    return value


def _literal_eval(text: str) -> Any:
    """`ast.literal_eval` without `compile` (which the sandbox's audit hook refuses), also accepting the
    bare `nan` and `inf` that `str()` writes for non-finite floats, so a diverged model still reads back."""
    try:
        tokens = [
            token
            for token in tokenize.generate_tokens(io.StringIO(text).readline)
            if token.type not in _SKIPPED_TOKENS
        ]
    except (tokenize.TokenError, SyntaxError) as error:
        raise ValueError(f"malformed literal: {error}") from None
    parser = _LiteralParser(tokens)
    value = parser.value()
    if parser.position != len(tokens):
        raise ValueError("malformed literal: unexpected text after the value")
    return value


_SKIPPED_TOKENS = frozenset(
    {tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER, tokenize.COMMENT}
)
_NAMES: dict[str, Any] = {"True": True, "False": False, "None": None, "nan": math.nan, "inf": math.inf}
_CLOSING = {"[": "]", "(": ")", "{": "}"}
_TRIPLE_QUOTES = ("'" * 3, '"' * 3)


class _LiteralParser:
    """Recursive descent over Python tokens: numbers (signed, complex), strings, True/False/None,
    nan/inf, lists, tuples, dicts and sets — what `ast.literal_eval` reads."""

    def __init__(self, tokens: list[tokenize.TokenInfo]) -> None:
        self.tokens = tokens
        self.position = 0

    def peek(self, ahead: int = 0) -> tokenize.TokenInfo | None:
        index = self.position + ahead
        return self.tokens[index] if index < len(self.tokens) else None

    def take(self) -> tokenize.TokenInfo:
        token = self.peek()
        if token is None:
            raise ValueError("malformed literal: unexpected end")
        self.position += 1
        return token

    def is_op(self, text: str) -> bool:
        token = self.peek()
        return token is not None and token.type == tokenize.OP and token.string == text

    def value(self) -> Any:
        token = self.peek()
        if token is not None and (token.type == tokenize.NUMBER or self.is_op("-") or self.is_op("+")):
            return self.complex_tail(self.signed_number())
        token = self.take()
        if token.type == tokenize.STRING:
            parts = [_string(token.string)]
            while (following := self.peek()) is not None and following.type == tokenize.STRING:
                parts.append(_string(self.take().string))
            if len({type(part) for part in parts}) > 1:
                raise ValueError("malformed literal: cannot mix bytes and text")
            return parts[0][:0].join(parts)  # type: ignore[arg-type]
        if token.type == tokenize.NAME and token.string in _NAMES:
            return _NAMES[token.string]
        if token.type == tokenize.NAME and token.string == "set" and self.is_op("("):
            self.take()
            if self.is_op(")"):  # `set()`, how repr writes an empty set
                self.take()
                return set()
        if token.type == tokenize.OP and token.string in _CLOSING:
            return self.container(token.string)
        raise ValueError(f"malformed literal: unexpected {token.string!r}")

    def signed_number(self) -> Any:
        token = self.take()
        if token.type == tokenize.OP and token.string in ("-", "+"):
            operand = self.signed_number()
            return -operand if token.string == "-" else operand
        if token.type == tokenize.NUMBER:
            return _number(token.string)
        if token.type == tokenize.NAME and token.string in ("nan", "inf"):
            return _NAMES[token.string]
        raise ValueError("malformed literal: sign before a non-number")

    def complex_tail(self, number: Any) -> Any:
        """`1+2j` and `1-2j`, as literal_eval reads them."""
        following = self.peek(1)
        if (
            isinstance(number, complex)
            or not (self.is_op("+") or self.is_op("-"))
            or following is None
            or following.type != tokenize.NUMBER
            or not following.string.lower().endswith("j")
        ):
            return number
        sign = self.take().string
        imaginary = _number(self.take().string)
        return number + imaginary if sign == "+" else number - imaginary

    def container(self, opening: str) -> Any:
        closing = _CLOSING[opening]
        items: list[Any] = []
        pairs: list[tuple[Any, Any]] = []
        trailing_comma = False
        while not self.is_op(closing):
            item = self.value()
            if opening == "{" and not items and self.is_op(":"):
                self.take()
                pairs.append((item, self.value()))
            elif pairs:
                raise ValueError("malformed literal: mixed dict and set items")
            else:
                items.append(item)
            trailing_comma = self.is_op(",")
            if trailing_comma:
                self.take()
            elif not self.is_op(closing):
                raise ValueError(f"malformed literal: expected ',' or {closing!r}")
        self.take()
        if opening == "[":
            return items
        if opening == "(":
            return items[0] if len(items) == 1 and not trailing_comma else tuple(items)
        return set(items) if items else dict(pairs)


def _number(text: str) -> Any:
    lowered = text.lower().replace("_", "")
    if lowered.endswith("j"):
        return complex(0, float(lowered[:-1]))
    if lowered.startswith(("0x", "0o", "0b")):
        return int(lowered, 0)
    if "." in lowered or "e" in lowered:
        return float(lowered)
    return int(lowered, 0) if lowered.strip("0") else 0


def _string(text: str) -> str | bytes:
    """The value of one string token (prefixes r, u, b; escapes decoded as Python does)."""
    quote_at = min(i for i in (text.find("'"), text.find('"')) if i >= 0)
    prefix, text = text[:quote_at].lower(), text[quote_at:]
    quote = text[:3] if text[:3] in _TRIPLE_QUOTES else text[0]
    body = text[len(quote) : -len(quote)]
    if "f" in prefix:
        raise ValueError("malformed literal: f-strings are not literals")
    if "b" in prefix:
        data = body.encode("latin-1")
        return data if "r" in prefix else codecs.escape_decode(data)[0]
    if "r" in prefix:
        return body
    return body.encode("latin-1", "backslashreplace").decode("unicode_escape")


def _parse_numeric(text: str) -> Any:
    """Fast path for the common shape of model fields — numbers, lists and dicts with identifier keys,
    e.g. "{'b': [[0.5, 1e-05]], 'n': 3}" — which read the same as JSON once the quotes are swapped.
    None when the text is anything else (then `ast.literal_eval` decides)."""
    if not _NUMERIC_STRUCTURE.fullmatch(_SIMPLE_KEY.sub("", text)):
        return None
    try:
        return json.loads(text.replace("'", '"'))
    except ValueError:
        return None


def as_matrix(value: Any) -> np.matrix[Any, Any]:
    """A float `np.matrix` (1-D input becomes one row). Built as a view, which NumPy does not warn about."""
    array = np.array(parse_literal(value), dtype=float)
    if array.ndim < 2:
        array = array.reshape(1, -1)
    return array.view(np.matrix)


def as_row(x: Any, intercept: bool = False) -> np.ndarray[Any, Any]:
    """A 1×p float row from a list, array or matrix; a leading 1 is inserted when `intercept`."""
    row = np.array(parse_literal(x), dtype=float).reshape(-1)
    if intercept:
        row = np.insert(row, 0, 1.0)
    return row.reshape(1, -1)
