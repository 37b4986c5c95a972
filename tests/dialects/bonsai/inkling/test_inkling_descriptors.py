"""Schemas as DescriptorProto, field by field and byte by byte (spec §4.7)."""

from __future__ import annotations

from google.protobuf.descriptor_pb2 import DescriptorProto, FieldDescriptorProto
from inkling_examples import CARTPOLE, ESTIMATOR, FIND_THE_CENTER

from crucible.dialects.bonsai.inkling import (
    acknowledge_descriptors,
    compile_inkling,
    inkling_types_file,
    schema_descriptor,
)
from crucible.dialects.bonsai.inkling.program import CompiledProgram

F = FieldDescriptorProto


def compiled(source: str) -> CompiledProgram:
    result = compile_inkling(source)
    assert result.success and result.program is not None, [str(error) for error in result.errors]
    return result.program


def fields(descriptor: DescriptorProto) -> list[tuple[str, int, int, str]]:
    return [(item.name, item.number, item.type, item.type_name) for item in descriptor.field]


def test_find_the_center_action_bytes() -> None:
    program = compiled(FIND_THE_CENTER)
    simulator = program.simulator("find_the_center_sim")
    assert simulator is not None and simulator.action_schema is not None
    descriptor = schema_descriptor(simulator.action_schema)
    # name "PlayerMove"; field {name "delta", number 1, type TYPE_INT32}: nothing else on the wire.
    expected = "0a0a" + b"PlayerMove".hex() + "120b" + "0a05" + b"delta".hex() + "1801" + "2805"
    assert descriptor.SerializeToString().hex() == expected


def test_cartpole_acknowledge_schemas() -> None:
    simulator = compiled(CARTPOLE).simulator("the_simulator")
    assert simulator is not None
    properties, output, prediction = acknowledge_descriptors(simulator)
    assert properties.name == "CartPoleConfig"
    assert fields(properties) == [
        ("episode_length", 1, F.TYPE_INT32, ""),
        ("deque_size", 2, F.TYPE_UINT32, ""),
    ]
    assert output.name == "GameState"
    assert fields(output) == [
        ("position", 1, F.TYPE_FLOAT, ""),
        ("velocity", 2, F.TYPE_FLOAT, ""),
        ("angle", 3, F.TYPE_FLOAT, ""),
        ("rotation", 4, F.TYPE_FLOAT, ""),
    ]
    assert prediction.name == "Action" and fields(prediction) == [("command", 1, F.TYPE_INT32, "")]


def test_every_type_and_unset_wire_details() -> None:
    source = """schema All
        Int8{0, 1} a, Int16 b, Int32 c, Int64 d, UInt8 e, UInt16 f, UInt32 g, UInt64 h,
        Float32{0:1} i, Float64 j, Double k, Bool l, String m, Luminance(84, 84) n
    end"""
    schema = compiled(source).schema("All")
    assert schema is not None
    descriptor = schema_descriptor(schema)
    assert fields(descriptor) == [
        ("a", 1, F.TYPE_INT32, ""),
        ("b", 2, F.TYPE_INT32, ""),
        ("c", 3, F.TYPE_INT32, ""),
        ("d", 4, F.TYPE_INT64, ""),
        ("e", 5, F.TYPE_UINT32, ""),
        ("f", 6, F.TYPE_UINT32, ""),
        ("g", 7, F.TYPE_UINT32, ""),
        ("h", 8, F.TYPE_UINT64, ""),
        ("i", 9, F.TYPE_FLOAT, ""),
        ("j", 10, F.TYPE_DOUBLE, ""),
        ("k", 11, F.TYPE_DOUBLE, ""),
        ("l", 12, F.TYPE_BOOL, ""),
        ("m", 13, F.TYPE_STRING, ""),
        ("n", 14, F.TYPE_MESSAGE, "bonsai.inkling_types.proto.Luminance"),
    ]
    for item in descriptor.field:
        # No label, no JSON name, no default: ranges and Luminance sizes are not encoded.
        assert not item.HasField("label") and not item.HasField("json_name")
        assert not item.HasField("default_value") and not item.HasField("options")
    assert not descriptor.nested_type and not descriptor.HasField("options")


def test_anonymous_and_empty_schemas_are_named_after_the_simulator() -> None:
    simulator = compiled(ESTIMATOR).simulator("pendulum")
    assert simulator is not None
    properties, output, prediction = acknowledge_descriptors(simulator)
    assert (properties.name, output.name, prediction.name) == (
        "pendulum_config",
        "Sensors",
        "pendulum_action",
    )
    source = """simulator sim() action (Float32 x) state (Float32 y) end"""
    empty = compiled(source).simulator("sim")
    assert empty is not None
    properties, output, prediction = acknowledge_descriptors(empty)
    assert properties.name == "sim_config" and len(properties.field) == 0
    assert (output.name, prediction.name) == ("sim_state", "sim_action")


def test_inkling_types_file() -> None:
    file = inkling_types_file()
    assert (file.name, file.package) == ("bonsai/proto/inkling_types.proto", "bonsai.inkling_types.proto")
    (luminance,) = file.message_type
    assert luminance.name == "Luminance"
    assert fields(luminance) == [
        ("width", 1, F.TYPE_UINT32, ""),
        ("height", 2, F.TYPE_UINT32, ""),
        ("pixels", 3, F.TYPE_BYTES, ""),
    ]
