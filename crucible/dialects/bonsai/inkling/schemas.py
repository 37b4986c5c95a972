"""Compiled schemas as protobuf descriptors, exactly as the simulator clients read them (spec §4.7).

Fields are numbered 1..n in declaration order, `label` stays unset, ranges and Luminance sizes are
not encoded, and a Luminance field refers to `bonsai.inkling_types.proto.Luminance` without a
leading dot.
"""

from __future__ import annotations

from google.protobuf.descriptor_pb2 import DescriptorProto, FieldDescriptorProto, FileDescriptorProto

from .primitives import LUMINANCE_MESSAGE
from .program import Schema, Simulator

INKLING_TYPES_FILE = "bonsai/proto/inkling_types.proto"
INKLING_TYPES_PACKAGE = "bonsai.inkling_types.proto"


def schema_descriptor(schema: Schema) -> DescriptorProto:
    """The DescriptorProto sent in ACKNOWLEDGE_REGISTER and SET_PROPERTIES for `schema`."""
    descriptor = DescriptorProto(name=schema.name)
    for number, item in enumerate(schema.fields, start=1):
        entry = descriptor.field.add(name=item.name, number=number)
        if item.is_luminance:
            entry.type = FieldDescriptorProto.TYPE_MESSAGE
            entry.type_name = LUMINANCE_MESSAGE
        else:
            assert item.primitive is not None
            entry.type = item.primitive.proto_type  # type: ignore[assignment]
    return descriptor


def acknowledge_descriptors(simulator: Simulator) -> tuple[DescriptorProto, DescriptorProto, DescriptorProto]:
    """ACKNOWLEDGE_REGISTER's schemas: properties (config), output (state), prediction (action)."""
    assert simulator.action_schema is not None and simulator.state_schema is not None
    return (
        schema_descriptor(simulator.config_schema),
        schema_descriptor(simulator.state_schema),
        schema_descriptor(simulator.action_schema),
    )


def inkling_types_file() -> FileDescriptorProto:
    """`bonsai/proto/inkling_types.proto`: the Luminance message (width, height, pixels)."""
    file = FileDescriptorProto(name=INKLING_TYPES_FILE, package=INKLING_TYPES_PACKAGE, syntax="proto3")
    luminance = file.message_type.add(name="Luminance")
    optional = FieldDescriptorProto.LABEL_OPTIONAL
    luminance.field.add(name="width", number=1, type=FieldDescriptorProto.TYPE_UINT32, label=optional)
    luminance.field.add(name="height", number=2, type=FieldDescriptorProto.TYPE_UINT32, label=optional)
    luminance.field.add(name="pixels", number=3, type=FieldDescriptorProto.TYPE_BYTES, label=optional)
    return file
