"""Request-field checks with Django REST framework's messages, so 400 bodies look like the original's."""

from __future__ import annotations

import math
import sys
import uuid
from typing import Any

from crucible.dialects.bender.errors import BenderProblem

REQUIRED = "This field is required."
NULL_CHARACTERS = "Null characters are not allowed."
MAX_DOUBLE = int(sys.float_info.max)
MISSING = object()


def type_name(value: Any) -> str:
    return type(value).__name__


class FieldErrors:
    """Collects per-field errors, then raises them together as one 400."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.errors: dict[str, Any] = {}
        self.object_error: BenderProblem | None = None

    def absorb(self, problem: BenderProblem) -> None:
        """Keep a field-level problem with the others; an object-level one (non_field_errors) is
        reported only when every field is valid, as DRF validates fields first."""
        if "non_field_errors" in problem.body:
            self.object_error = self.object_error or problem
        else:
            self.errors.update(problem.body)

    def add(self, field: str, message: str | list[Any]) -> None:
        self.errors[field] = message if isinstance(message, list) else [message]

    def raise_if_any(self) -> None:
        if self.errors:
            raise BenderProblem(400, self.errors)
        if self.object_error is not None:
            raise self.object_error

    def string(
        self,
        name: str,
        *,
        required: bool = True,
        max_length: int | None = None,
        allow_null: bool = False,
        allow_blank: bool = False,
        partial: bool = False,
    ) -> Any:
        """The field's text; MISSING when absent (and allowed to be), None when null is allowed."""
        value = self.data.get(name, MISSING)
        if value is MISSING:
            if required and not partial:
                self.add(name, REQUIRED)
            return MISSING
        if value is None:
            if not allow_null:
                self.add(name, "This field may not be null.")
            return None
        message = string_problem(value, max_length=max_length, allow_blank=allow_blank)
        if message:
            self.add(name, message)
            return MISSING
        return str(value)


def string_problem(value: Any, *, max_length: int | None, allow_blank: bool = False) -> str | None:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return "Not a valid string."
    text = str(value)
    if not allow_blank and text.strip() == "":
        return "This field may not be blank."
    if max_length is not None and len(text) > max_length:
        return f"Ensure this field has no more than {max_length} characters."
    if "\x00" in text:  # as Django's ProhibitNullCharactersValidator; PostgreSQL text cannot hold NUL
        return NULL_CHARACTERS
    return None


def parse_integer(value: Any) -> int | None:
    """DRF IntegerField: ints, integral floats and numeric strings; not booleans."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None


def parse_number(value: Any) -> float | None:
    """DRF FloatField: finite numbers and numeric strings; not booleans."""
    if isinstance(value, bool):
        return None
    try:
        if isinstance(value, int | float):
            number = float(value)
        elif isinstance(value, str):
            number = float(value.strip())
        else:
            return None
    except (ValueError, OverflowError):  # not a number, or an int no float can hold
        return None
    return number if math.isfinite(number) else None


def is_unrepresentable(number: Any) -> bool:
    """NaN, ±Infinity, or an integer beyond the range of a double (which nothing downstream can use)."""
    if isinstance(number, float):
        return not math.isfinite(number)
    if isinstance(number, int) and not isinstance(number, bool):
        return not -MAX_DOUBLE <= number <= MAX_DOUBLE
    return False


def has_unrepresentable_number(value: Any) -> bool:
    """Whether any number anywhere in a parsed JSON document is unrepresentable (iterative: documents
    may nest deeply)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif is_unrepresentable(item):
            return True
    return False


def canonical_uuid(text: Any) -> str | None:
    """Lowercase hyphenated form, or None when the text is not a UUID."""
    if not isinstance(text, str):
        return None
    try:
        return str(uuid.UUID(text))
    except (ValueError, AttributeError, TypeError):
        return None
