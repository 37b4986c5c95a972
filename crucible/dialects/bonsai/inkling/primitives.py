"""The primitive Inkling types: names, the values they hold, their protobuf wire type (spec §4.7)."""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from typing import Literal

from google.protobuf.descriptor_pb2 import FieldDescriptorProto

TypeKind = Literal["integer", "float", "bool", "string"]

LUMINANCE = "Luminance"
LUMINANCE_MESSAGE = "bonsai.inkling_types.proto.Luminance"


@dataclass(frozen=True)
class PrimitiveType:
    """One primitive type. `name` is canonical: `Double` is the same type as `Float64`."""

    name: str
    kind: TypeKind
    proto_type: int
    low: int | None = None
    high: int | None = None

    @property
    def is_integer(self) -> bool:
        return self.kind == "integer"

    @property
    def is_float(self) -> bool:
        return self.kind == "float"

    @property
    def is_numeric(self) -> bool:
        return self.kind in ("integer", "float")

    def holds(self, value: int | float) -> bool:
        """Whether a number (already of the right kind) is representable in this type."""
        if self.kind == "integer":
            assert self.low is not None and self.high is not None
            return self.low <= value <= self.high
        if not math.isfinite(value):
            return False
        if self.name == "Float32":
            try:
                struct.pack("<f", value)
            except OverflowError:
                return False
        return True


def _integer(name: str, bits: int, signed: bool, proto_type: int) -> PrimitiveType:
    if signed:
        return PrimitiveType(name, "integer", proto_type, -(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
    return PrimitiveType(name, "integer", proto_type, 0, 2**bits - 1)


_F = FieldDescriptorProto
_FLOAT64 = PrimitiveType("Float64", "float", _F.TYPE_DOUBLE)

# Written type name -> type. Inkling type names are case-sensitive.
PRIMITIVES: dict[str, PrimitiveType] = {
    "Int8": _integer("Int8", 8, True, _F.TYPE_INT32),
    "Int16": _integer("Int16", 16, True, _F.TYPE_INT32),
    "Int32": _integer("Int32", 32, True, _F.TYPE_INT32),
    "Int64": _integer("Int64", 64, True, _F.TYPE_INT64),
    "UInt8": _integer("UInt8", 8, False, _F.TYPE_UINT32),
    "UInt16": _integer("UInt16", 16, False, _F.TYPE_UINT32),
    "UInt32": _integer("UInt32", 32, False, _F.TYPE_UINT32),
    "UInt64": _integer("UInt64", 64, False, _F.TYPE_UINT64),
    "Float32": PrimitiveType("Float32", "float", _F.TYPE_FLOAT),
    "Float64": _FLOAT64,
    "Double": _FLOAT64,
    "Bool": PrimitiveType("Bool", "bool", _F.TYPE_BOOL),
    "String": PrimitiveType("String", "string", _F.TYPE_STRING),
}

# Types that parse as a field type but are refused (E302).
UNSUPPORTED_STRUCTURED_TYPES = frozenset({"Matrix", "Vector"})
