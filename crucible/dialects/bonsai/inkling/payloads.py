"""Payload bytes <-> Python values for a compiled schema (spec §4.7).

`dynamic_properties` (config), `dynamic_prediction` (action) and `state` are the schema's message
serialised as plain protobuf. The message classes come from the same descriptors the clients get,
in a private pool that first holds `inkling_types.proto`, with proto2 semantics: every value we set
is written, zeros included (`command=0` is `08 00`). Decoding accepts a field present or absent.
"""

from __future__ import annotations

import math
import numbers
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from google.protobuf import descriptor_pool, message_factory, unknown_fields
from google.protobuf.descriptor_pb2 import DescriptorProto, FileDescriptorProto
from google.protobuf.message import DecodeError, Message

from .program import Field, Schema
from .schemas import INKLING_TYPES_FILE, inkling_types_file, schema_descriptor

_PACKAGE = "crucible.inkling.payload"


class PayloadError(ValueError):
    """Bytes or values that do not fit the schema (on a simulator socket: close 4000)."""


@dataclass(frozen=True)
class LuminanceImage:
    """A Luminance value: `pixels` holds width·height little-endian float32 values in 0..1, row by row."""

    width: int
    height: int
    pixels: bytes

    @classmethod
    def from_values(cls, width: int, height: int, values: Sequence[float]) -> LuminanceImage:
        if len(values) != width * height:
            raise PayloadError(
                f"Luminance({width}, {height}) needs {width * height} pixels, got {len(values)}"
            )
        return cls(width, height, struct.pack(f"<{len(values)}f", *values))

    def values(self) -> tuple[float, ...]:
        return struct.unpack(f"<{self.width * self.height}f", self.pixels)


PayloadValue = int | float | bool | str | LuminanceImage


@dataclass(frozen=True)
class DecodedPayload:
    values: dict[str, PayloadValue]
    replaced_non_finite: tuple[str, ...]  # float fields whose NaN/inf was replaced by 0.0 (to be logged)


class PayloadCodec:
    """Encodes and decodes one schema's messages. Build it once per schema and reuse it."""

    def __init__(self, schema: Schema) -> None:
        self.schema = schema
        self.descriptor = schema_descriptor(schema)
        self._message_class = _message_class(self.descriptor)

    def encode(self, values: Mapping[str, object], *, check_ranges: bool = False) -> bytes:
        """Serialise `values` (field name -> value). Fields left out stay absent (their default).

        With `check_ranges`, a value outside its field's declared range is refused too.
        """
        message = self._message_class()
        for name, value in values.items():
            item = self.schema.field(name)
            if item is None:
                raise PayloadError(f"schema '{self.schema.name}' has no field '{name}'")
            if item.is_luminance:
                image = _luminance_image(item, value)
                luminance = getattr(message, name)
                luminance.width, luminance.height, luminance.pixels = image.width, image.height, image.pixels
            else:
                setattr(message, name, _scalar(item, value, check_ranges))
        return self._message_class.SerializeToString(message)

    def decode(self, data: bytes) -> DecodedPayload:
        """Parse payload bytes; PayloadError if they do not match the schema (Luminance size included)."""
        message = self._message_class()
        try:
            self._message_class.ParseFromString(message, data)
        except (DecodeError, ValueError) as error:
            raise PayloadError(f"bytes do not parse as '{self.schema.name}': {error}") from error
        _refuse_unknown_fields(message, self.schema.name)
        values: dict[str, PayloadValue] = {}
        replaced: list[str] = []
        for item in self.schema.fields:
            value = getattr(message, item.name)
            if item.is_luminance:
                values[item.name] = _decoded_luminance(item, value)
            elif isinstance(value, float) and not math.isfinite(value):
                values[item.name] = 0.0
                replaced.append(item.name)
            else:
                values[item.name] = value
        return DecodedPayload(values, tuple(replaced))


def _message_class(descriptor: DescriptorProto) -> type[Message]:
    """A message class in a private pool; there the Luminance reference is fully qualified (leading dot)."""
    pool = descriptor_pool.DescriptorPool()
    pool.Add(inkling_types_file())
    file = FileDescriptorProto(
        name=f"crucible/inkling/payload/{descriptor.name}.proto",
        package=_PACKAGE,
        dependency=[INKLING_TYPES_FILE],
    )
    message = file.message_type.add()
    message.CopyFrom(descriptor)
    for entry in message.field:
        if entry.type_name:
            entry.type_name = "." + entry.type_name
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{_PACKAGE}.{descriptor.name}"))


def _scalar(item: Field, value: object, check_ranges: bool) -> int | float | bool | str:
    primitive = item.primitive
    assert primitive is not None
    converted: int | float | bool | str
    if primitive.is_integer:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise PayloadError(f"field '{item.name}' needs an integer, got {value!r}")
        if not isinstance(value, numbers.Integral) and not float(value).is_integer():
            raise PayloadError(f"field '{item.name}' needs an integer, got {value!r}")
        converted = int(value)
        if not primitive.holds(converted):
            raise PayloadError(f"value {converted} of field '{item.name}' does not fit {item.type}")
    elif primitive.is_float:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise PayloadError(f"field '{item.name}' needs a number, got {value!r}")
        try:
            converted = float(value)
        except OverflowError:
            raise PayloadError(f"value of field '{item.name}' does not fit {item.type}") from None
        if not primitive.holds(converted):
            raise PayloadError(f"value {converted} of field '{item.name}' does not fit {item.type}")
    elif primitive.kind == "bool":
        if not _is_boolean(value):
            raise PayloadError(f"field '{item.name}' needs a boolean, got {value!r}")
        converted = bool(value)
    else:
        if not isinstance(value, str):
            raise PayloadError(f"field '{item.name}' needs a string, got {value!r}")
        converted = value
    if check_ranges and item.values is not None and not item.values.contains(converted):
        raise PayloadError(f"value {converted!r} of field '{item.name}' is outside its range")
    return converted


def _is_boolean(value: object) -> bool:
    if isinstance(value, bool):
        return True
    if getattr(getattr(value, "dtype", None), "kind", None) == "b":  # numpy bool
        return True
    return isinstance(value, numbers.Integral) and value in (0, 1)


def _luminance_image(item: Field, value: object) -> LuminanceImage:
    if isinstance(value, Mapping):
        pixels = value.get("pixels", b"")
        width, height = value.get("width", item.width), value.get("height", item.height)
        if not isinstance(width, int) or not isinstance(height, int):
            raise PayloadError(f"Luminance field '{item.name}' needs integer width and height")
        if isinstance(pixels, bytes | bytearray):
            value = LuminanceImage(width, height, bytes(pixels))
        else:
            value = LuminanceImage.from_values(width, height, list(pixels))
    if not isinstance(value, LuminanceImage):
        raise PayloadError(f"field '{item.name}' needs a Luminance image, got {value!r}")
    _check_luminance(item, value.width, value.height, len(value.pixels))
    return value


def _decoded_luminance(item: Field, message: Message) -> LuminanceImage:
    _refuse_unknown_fields(message, "Luminance")
    width, height, pixels = message.width, message.height, bytes(message.pixels)  # type: ignore[attr-defined]
    _check_luminance(item, width, height, len(pixels))
    return LuminanceImage(width, height, pixels)


def _check_luminance(item: Field, width: int, height: int, pixel_bytes: int) -> None:
    if (width, height) != (item.width, item.height):
        raise PayloadError(
            f"Luminance field '{item.name}' is {width}x{height}, the schema says {item.width}x{item.height}"
        )
    if pixel_bytes != 4 * width * height:
        raise PayloadError(
            f"Luminance field '{item.name}' has {pixel_bytes} pixel bytes, expected {4 * width * height}"
        )


def _refuse_unknown_fields(message: Message, name: str) -> None:
    unknown = unknown_fields.UnknownFieldSet(message)
    if len(unknown):
        raise PayloadError(f"bytes for '{name}' carry unknown field number {unknown[0].field_number}")
