"""Conversion of values produced by user code into plain JSON values, run inside the worker.

NumPy scalars become Python scalars, arrays (and matrices) nested lists, tuples lists and dict keys
`str`, so code written for Python 2-era NumPy still yields a sendable result.
"""

from __future__ import annotations

import sys
from typing import Any

from crucible.engines.sandbox.outcomes import JSON, ResultNotSerializable

MAX_DEPTH = 100
_SCALARS = (str, int, float)


def to_json(value: Any) -> JSON:
    """Return a JSON-compatible copy of `value`; raise `ResultNotSerializable` naming the offending type."""
    return _convert(value, 0)


def _convert(value: Any, depth: int) -> JSON:
    if value is None or value is True or value is False:
        return value
    kind = type(value)
    if kind in _SCALARS:
        return value
    if depth > MAX_DEPTH:
        raise ResultNotSerializable(kind.__name__, "nested too deeply")
    if kind is dict:
        return {_key(k): _convert(v, depth + 1) for k, v in value.items()}
    if kind is list or kind is tuple:
        return [_convert(v, depth + 1) for v in value]
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        if isinstance(value, numpy.ndarray):
            return _convert(value.tolist(), depth + 1)
        if isinstance(value, numpy.generic):
            item = value.item()
            if isinstance(item, numpy.generic):  # e.g. longdouble has no exact Python equivalent
                raise ResultNotSerializable(kind.__name__)
            return _convert(item, depth + 1)
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, dict):
        return {_key(k): _convert(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_convert(v, depth + 1) for v in value]
    raise ResultNotSerializable(kind.__name__)


def _key(key: Any) -> str:
    if type(key) is str:
        return key
    numpy = sys.modules.get("numpy")
    if numpy is not None and isinstance(key, numpy.generic):
        key = key.item()
    if key is None or isinstance(key, bool | int | float | str):
        return str(key)
    raise ResultNotSerializable(type(key).__name__, "not a valid JSON object key")
