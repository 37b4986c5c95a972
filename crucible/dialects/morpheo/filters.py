"""`GET /<collection>?key=value&...` (spec §4.6): equality compared in each field's type.

Scalar fields are compared in SQL; list fields ("contains", MongoDB array semantics) are checked on
the rows SQL returned. The original compared raw strings, so `?rank=0` found nothing.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from sqlalchemy import ColumnElement, false, select
from sqlalchemy.orm import Session

from crucible.dialects.morpheo.documents import Row, document
from crucible.dialects.morpheo.errors import bad_request
from crucible.dialects.morpheo.models import (
    MorpheoAlgo,
    MorpheoData,
    MorpheoLearnuplet,
    MorpheoPreduplet,
    MorpheoProblem,
)

INTEGER = re.compile(r"^[+-]?[0-9]+$")
DECIMAL = re.compile(r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$")
INT64 = 2**63


class Kind(Enum):
    TEXT = "text"
    INT = "int"
    FLOAT = "float"
    BOOL = "bool"
    LIST = "list"
    OBJECT = "object"


@dataclass(frozen=True)
class Field:
    kind: Kind
    nullable: bool = False


TEXT, INT, LIST, OBJECT = Field(Kind.TEXT), Field(Kind.INT), Field(Kind.LIST), Field(Kind.OBJECT)
NULLABLE_TEXT, NULLABLE_INT = Field(Kind.TEXT, True), Field(Kind.INT, True)


@dataclass(frozen=True)
class Collection:
    name: str
    envelope: str
    model: type[Row]
    fields: dict[str, Field]


COLLECTIONS: dict[str, Collection] = {
    "problem": Collection(
        "problem",
        "problems",
        MorpheoProblem,
        {
            "uuid": TEXT,
            "workflow": TEXT,
            "test_dataset": LIST,
            "size_train_dataset": INT,
            "lower_is_better": Field(Kind.BOOL),
            "timestamp_upload": INT,
        },
    ),
    "algo": Collection(
        "algo", "algos", MorpheoAlgo, {"uuid": TEXT, "problem": TEXT, "name": TEXT, "timestamp_upload": INT}
    ),
    "data": Collection(
        "data", "datas", MorpheoData, {"uuid": TEXT, "problems": LIST, "timestamp_upload": INT}
    ),
    "learnuplet": Collection(
        "learnuplet",
        "learnuplets",
        MorpheoLearnuplet,
        {
            "uuid": TEXT,
            "problem": TEXT,
            "workflow": TEXT,
            "algo": TEXT,
            "model_start": NULLABLE_TEXT,
            "model_end": TEXT,
            "train_data": LIST,
            "test_data": LIST,
            "worker": NULLABLE_TEXT,
            "perf": Field(Kind.FLOAT, True),
            "train_perf": OBJECT,
            "test_perf": OBJECT,
            "status": TEXT,
            "rank": INT,
            "timestamp_creation": INT,
            "timestamp_done": NULLABLE_INT,
            "error": NULLABLE_TEXT,
            "attempts": INT,
        },
    ),
    "preduplet": Collection(
        "preduplet",
        "preduplets",
        MorpheoPreduplet,
        {
            "uuid": TEXT,
            "problem": TEXT,
            "workflow": TEXT,
            "data": LIST,
            "model": TEXT,
            "worker": NULLABLE_TEXT,
            "status": TEXT,
            "timestamp_request": INT,
            "timestamp_done": NULLABLE_INT,
            "prediction_storage_uuid": NULLABLE_TEXT,
            "error": NULLABLE_TEXT,
            "attempts": INT,
        },
    ),
}


def _invalid(key: str) -> Exception:
    return bad_request(f"invalid filter value for {key}")


def _condition(model: type[Row], key: str, field: Field, value: str) -> ColumnElement[bool]:
    column = getattr(model, key)
    if field.nullable and value == "null":
        return column.is_(None)
    if field.kind is Kind.TEXT:
        return column == value
    if field.kind is Kind.INT:
        if not INTEGER.match(value):
            raise _invalid(key)
        number = int(value)
        return column == number if -INT64 <= number < INT64 else false()
    if field.kind is Kind.FLOAT:
        if not DECIMAL.match(value) or not math.isfinite(float(value)):
            raise _invalid(key)
        return column == float(value)
    if value not in ("true", "false"):
        raise _invalid(key)
    return column.is_(value == "true")


def list_documents(
    session: Session, collection: Collection, query: Sequence[tuple[str, str]]
) -> list[dict[str, Any]]:
    """All documents matching every filter, in creation order (then rank)."""
    keys = [key for key, _ in query]
    model = collection.model
    statement = select(model)
    contains: list[tuple[str, str]] = []
    unknown_key = False
    for key, value in query:
        if keys.count(key) > 1:
            raise _invalid(key)
        field = collection.fields.get(key)
        if field is None:
            unknown_key = True
        elif field.kind is Kind.OBJECT:
            raise _invalid(key)
        elif field.kind is Kind.LIST:
            contains.append((key, value))
        else:
            statement = statement.where(_condition(model, key, field, value))
    if unknown_key:
        return []  # a key that is not a field matches nothing, as in the original
    order = [model.seq] if model is not MorpheoLearnuplet else [MorpheoLearnuplet.seq, MorpheoLearnuplet.rank]
    rows = session.scalars(statement.order_by(*order)).all()
    return [document(row) for row in rows if all(value in getattr(row, key) for key, value in contains)]


def get_document(session: Session, collection: Collection, uuid: str) -> dict[str, Any] | None:
    model = collection.model
    row = session.scalar(select(model).where(model.uuid == uuid))
    return None if row is None else document(row)
