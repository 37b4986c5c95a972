"""Reading library fields back from theta text (Python literals) and shaping them as numpy values."""

from __future__ import annotations

import ast
import json
import re
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


class _NonFiniteNames(ast.NodeTransformer):
    """Reads the bare `nan` and `inf` that `str()` writes for non-finite floats as float constants."""

    def visit_Name(self, node: ast.Name) -> ast.AST:
        if node.id in ("nan", "inf"):
            return ast.copy_location(ast.Constant(float(node.id)), node)
        return node


def _literal_eval(text: str) -> Any:
    """`ast.literal_eval`, also accepting `nan`/`inf` so a diverged model's text still reads back."""
    tree = _NonFiniteNames().visit(ast.parse(text, mode="eval"))
    return ast.literal_eval(tree)


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
