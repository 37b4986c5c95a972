"""Checks on posted values (spec §4.1). Each returns the clean value or raises a 400 MorpheoError."""

from __future__ import annotations

import math
from typing import Any

from crucible.dialects.morpheo.errors import WRONG_KEY, MorpheoError, bad_request, invalid_value
from crucible.dialects.morpheo.models import UUID_LENGTH

MAX_WORKER_LENGTH = 128
MAX_ERROR_LENGTH = 4096


def require_keys(body: dict[str, Any], *keys: str) -> None:
    if any(key not in body for key in keys):
        raise bad_request(WRONG_KEY)


def is_uuid_text(value: Any) -> bool:
    """An orchestrator identifier: any non-empty string of at most 128 characters without `/`."""
    return isinstance(value, str) and 0 < len(value) <= UUID_LENGTH and "/" not in value


def uuid_value(body: dict[str, Any], key: str) -> str:
    value = body[key]
    if not is_uuid_text(value):
        raise invalid_value(key)
    return str(value)


def uuid_list(body: dict[str, Any], key: str, *, single_allowed: bool, allow_empty: bool) -> list[str]:
    """A list of identifiers without repeats; a single string counts as a one-element list when allowed."""
    value = body[key]
    if single_allowed and isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or (not value and not allow_empty):
        raise invalid_value(key)
    if not all(is_uuid_text(item) for item in value) or len(set(value)) != len(value):
        raise invalid_value(key)
    return list(value)


def text_value(body: dict[str, Any], key: str) -> str:
    value = body[key]
    if not isinstance(value, str) or not value:
        raise invalid_value(key)
    return value


def positive_int(body: dict[str, Any], key: str) -> int:
    value = body[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < 1 or value > 2**31 - 1:
        raise invalid_value(key)
    return value


def bool_value(body: dict[str, Any], key: str) -> bool:
    value = body[key]
    if not isinstance(value, bool):
        raise invalid_value(key)
    return value


def is_number(value: Any) -> bool:
    """A JSON number: int or float, not a bool, not a string, finite."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int too large for a float
        return False


def number_value(body: dict[str, Any], key: str) -> float:
    value = body[key]
    if not is_number(value):
        raise bad_request(f"{key} must be a number")
    return float(value)


def perf_map(body: dict[str, Any], key: str, uuids: list[str]) -> dict[str, float]:
    """`{str: number}` as posted, or a list of numbers mapped in order onto `uuids` (same length)."""
    value = body[key]
    message = f"{key} must be a number"
    if isinstance(value, dict):
        if not all(is_number(item) for item in value.values()):
            raise bad_request(message)
        return {str(name): float(item) for name, item in value.items()}
    if isinstance(value, list):
        if len(value) != len(uuids) or not all(is_number(item) for item in value):
            raise bad_request(message)
        return {uuid: float(item) for uuid, item in zip(uuids, value, strict=True)}
    raise bad_request(message)


def worker_value(body: dict[str, Any], *, required: bool) -> str | None:
    if "worker" not in body:
        if required:
            raise MorpheoError(400, WRONG_KEY)
        return None
    value = body["worker"]
    if not isinstance(value, str) or not value or len(value) > MAX_WORKER_LENGTH:
        raise invalid_value("worker")
    return value


def error_text(body: dict[str, Any]) -> str | None:
    value = body.get("error")
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid_value("error")
    return value[:MAX_ERROR_LENGTH]
