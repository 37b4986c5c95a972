"""The query and sort grammar of list endpoints (spec §3.7), parsed with Lark and applied to rows.

A parsed query is a list of conditions that must all hold; each is checked against a *record*, a plain
mapping of the queryable fields of one project, group or experiment (see `records.py` callers). Lists that
carry `query` or `sort` are filtered and ordered in Python: the JSON fields (tags, metrics, params) would
otherwise need different SQL on SQLite and PostgreSQL.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any

from lark import Lark, Token, Transformer
from lark.exceptions import LarkError

from crucible.dialects.polyaxon.errors import PolyaxonProblem
from crucible.dialects.polyaxon.wire import parse_datetime

DATETIME_FIELDS = frozenset(("created_at", "updated_at", "started_at", "finished_at"))
EXPERIMENT_FIELDS = frozenset(("id", "name", "user", "status", "tags", "group", *DATETIME_FIELDS))
PREFIXED_FIELDS = ("metrics.", "params.")
SORT_FIELDS = frozenset(("id", "name", *DATETIME_FIELDS))


class QueryError(ValueError):
    pass


@cache
def _parser(start: str) -> Lark:
    grammar = resources.files("crucible.dialects.polyaxon").joinpath("grammars/query.lark").read_text()
    return Lark(grammar, start=start, parser="lalr")


@dataclass(frozen=True)
class Condition:
    field: str
    negated: bool
    kind: str  # "any_of" | "comparison" | "range"
    values: tuple[str, ...]
    operator: str | None = None

    def holds(self, record: Mapping[str, Any]) -> bool:
        result = self._test(lookup(record, self.field))
        return not result if self.negated else result

    def _test(self, actual: Any) -> bool:
        if self.kind == "range":
            low, high = parse_datetime(self.values[0]), parse_datetime(self.values[1])
            return (
                isinstance(actual, datetime)
                and low is not None
                and high is not None
                and low <= actual <= high
            )
        if self.kind == "comparison":
            return _compare(actual, self.operator or "=", self.values[0])
        return any(_equals(actual, value) for value in self.values)


def lookup(record: Mapping[str, Any], field: str) -> Any:
    for prefix in PREFIXED_FIELDS:
        if field.startswith(prefix):
            container = record.get(prefix[:-1]) or {}
            return container.get(field[len(prefix) :]) if isinstance(container, Mapping) else None
    return record.get(field)


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _equals(actual: Any, text: str) -> bool:
    if isinstance(actual, list | tuple | set):
        return any(_equals(item, text) for item in actual)
    if actual is None:
        return text in ("null", "none", "None")
    if isinstance(actual, bool):
        return text.lower() == str(actual).lower()
    if isinstance(actual, int | float):
        number = _number(text)
        return number is not None and float(actual) == number
    if isinstance(actual, datetime):
        moment = parse_datetime(text)
        if moment is not None and len(text) <= 10:  # a bare date matches the whole day
            return actual.date() == moment.date()
        return moment is not None and actual == moment
    return str(actual) == text


def _compare(actual: Any, operator: str, text: str) -> bool:
    target: Any
    if isinstance(actual, datetime):
        target = parse_datetime(text)
    elif isinstance(actual, int | float) and not isinstance(actual, bool):
        target = _number(text)
    else:
        return False
    if target is None:
        return False
    return {
        "<": actual < target,
        "<=": actual <= target,
        ">": actual > target,
        ">=": actual >= target,
    }[operator]


class _ToConditions(Transformer[Token, Any]):
    def query(self, items: list[Condition]) -> list[Condition]:
        return items

    def condition(self, items: list[Any]) -> Condition:
        field = str(items[0])
        negated = len(items) == 3
        kind, values, operator = items[-1]
        return Condition(field, negated, kind, values, operator)

    def any_of(self, items: list[Token]) -> tuple[str, tuple[str, ...], None]:
        return "any_of", tuple(str(item).strip() for item in items), None

    def comparison(self, items: list[Token]) -> tuple[str, tuple[str, ...], str]:
        return "comparison", (str(items[1]).strip(),), str(items[0])

    def range(self, items: list[Token]) -> tuple[str, tuple[str, ...], None]:
        return "range", (str(items[0]).strip(), str(items[1]).strip()), None


def parse_query(text: str, fields: frozenset[str] = EXPERIMENT_FIELDS) -> list[Condition]:
    """Parse `query=`; raises QueryError naming the problem."""
    try:
        tree = _parser("query").parse(text)
    except LarkError as error:
        raise QueryError(f"Malformed query `{text}`: {_short(error)}") from None
    conditions: list[Condition] = _ToConditions().transform(tree)
    for condition in conditions:
        if condition.field not in fields and not condition.field.startswith(PREFIXED_FIELDS):
            raise QueryError(f"Unknown field `{condition.field}` in query.")
        if condition.kind == "range":
            if condition.field not in DATETIME_FIELDS:
                raise QueryError(f"A range applies to datetime fields only, not `{condition.field}`.")
            if any(parse_datetime(value) is None for value in condition.values):
                raise QueryError(f"Malformed datetime in `{condition.field}` range.")
        if condition.kind == "comparison":
            value = condition.values[0]
            valid = parse_datetime(value) if condition.field in DATETIME_FIELDS else _number(value)
            if valid is None:
                raise QueryError(
                    f"`{condition.field}` needs a number or datetime to compare with, not `{value}`."
                )
    return conditions


@dataclass(frozen=True)
class SortKey:
    field: str
    descending: bool


def parse_sort(text: str, fields: frozenset[str] = SORT_FIELDS) -> list[SortKey]:
    try:
        tree = _parser("sort").parse(text)
    except LarkError as error:
        raise QueryError(f"Malformed sort `{text}`: {_short(error)}") from None
    keys = []
    for node in tree.children:
        tokens = [str(token) for token in node.children]  # type: ignore[union-attr]
        field = tokens[-1]
        if field not in fields and not field.startswith("metrics."):
            raise QueryError(f"Unknown sort field `{field}`.")
        keys.append(SortKey(field, len(tokens) == 2))
    return keys


def _short(error: LarkError) -> str:
    return str(error).strip().splitlines()[0][:200]


def _sort_value(value: Any) -> tuple[int, Any]:
    """Comparable across types; missing values sort last."""
    if value is None:
        return (3, 0)
    if isinstance(value, datetime):
        return (0, value.timestamp())
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (1, float(value))
    return (2, str(value))


def apply(
    records: Sequence[Mapping[str, Any]],
    conditions: Sequence[Condition],
    sort: Sequence[SortKey],
) -> list[Mapping[str, Any]]:
    """Filter records by every condition, then order them by the sort keys (stable, last key first)."""
    kept = [record for record in records if all(condition.holds(record) for condition in conditions)]
    for key in reversed(sort):
        present = [r for r in kept if lookup(r, key.field) is not None]
        missing = [r for r in kept if lookup(r, key.field) is None]
        present.sort(key=_key_function(key.field), reverse=key.descending)
        kept = present + missing
    return kept


def _key_function(field: str) -> Callable[[Mapping[str, Any]], tuple[int, Any]]:
    return lambda record: _sort_value(lookup(record, field))


def problem(error: QueryError, field: str = "query") -> PolyaxonProblem:
    return PolyaxonProblem(400, {field: [str(error)]})
