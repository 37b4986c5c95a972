"""Payload encoding and decoding for compiled schemas, Luminance included (spec §4.7)."""

from __future__ import annotations

import math
import struct

import numpy as np
import pytest
from google.protobuf import descriptor_pool, message_factory
from google.protobuf.descriptor_pb2 import FileDescriptorProto
from inkling_examples import CARTPOLE

from crucible.dialects.bonsai.inkling import (
    LuminanceImage,
    PayloadCodec,
    PayloadError,
    Schema,
    compile_inkling,
    inkling_types_file,
    schema_descriptor,
)


def schema(declaration: str, name: str = "S") -> Schema:
    result = compile_inkling(f"schema {name} {declaration} end")
    assert result.success and result.program is not None, [str(error) for error in result.errors]
    compiled = result.program.schema(name)
    assert compiled is not None
    return compiled


def cartpole_codecs() -> tuple[PayloadCodec, PayloadCodec, PayloadCodec]:
    result = compile_inkling(CARTPOLE)
    assert result.program is not None and result.program.curriculum is not None
    simulator = result.program.curriculum.simulator
    assert simulator.action_schema is not None and simulator.state_schema is not None
    return (
        PayloadCodec(simulator.config_schema),
        PayloadCodec(simulator.state_schema),
        PayloadCodec(simulator.action_schema),
    )


def test_zero_values_are_written_explicitly() -> None:
    _, _, action = cartpole_codecs()
    assert action.encode({"command": 0}) == bytes.fromhex("0800")  # as the live service sent it
    assert action.encode({"command": 1}) == bytes.fromhex("0801")
    assert action.encode({}) == b""


def test_fields_may_be_present_or_absent_when_decoding() -> None:
    config, _, action = cartpole_codecs()
    assert action.decode(bytes.fromhex("0800")).values == {"command": 0}
    assert action.decode(b"").values == {"command": 0}
    assert config.decode(b"").values == {"episode_length": 0, "deque_size": 0}


def test_state_round_trip() -> None:
    _, state, _ = cartpole_codecs()
    values = {"position": 0.5, "velocity": -1.25, "angle": 0.1, "rotation": 3.0}
    decoded = state.decode(state.encode(values))
    assert decoded.values == pytest.approx(values)  # float32 precision
    assert decoded.replaced_non_finite == ()


def test_every_type_round_trips() -> None:
    codec = PayloadCodec(
        schema(
            "Int8 a, Int16 b, Int32 c, Int64 d, UInt8 e, UInt16 f, UInt32 g, UInt64 h, "
            "Float32 i, Float64 j, Double k, Bool l, String m"
        )
    )
    values = {
        "a": -128,
        "b": -32768,
        "c": 2**31 - 1,
        "d": -(2**63),
        "e": 255,
        "f": 65535,
        "g": 2**32 - 1,
        "h": 2**64 - 1,
        "i": 0.25,
        "j": 1e300,
        "k": -0.0,
        "l": True,
        "m": "ünïcode ✓",
    }
    assert codec.decode(codec.encode(values)).values == values


def test_numpy_values_are_accepted() -> None:
    codec = PayloadCodec(schema("Int8 a, Float32 b, Bool c"))
    data = codec.encode({"a": np.int64(-3), "b": np.float32(0.5), "c": np.bool_(True)})
    assert codec.decode(data).values == {"a": -3, "b": 0.5, "c": True}


def test_luminance_round_trip() -> None:
    codec = PayloadCodec(schema("Float32 x, Luminance(3, 2) frame"))
    pixels = [0.0, 0.25, 0.5, 0.75, 1.0, 0.125]
    image = LuminanceImage.from_values(3, 2, pixels)
    assert image.pixels == struct.pack("<6f", *pixels)
    data = codec.encode({"x": 1.0, "frame": image})
    decoded = codec.decode(data).values
    assert decoded["frame"] == image and decoded["frame"].values() == tuple(pixels)  # type: ignore[union-attr]
    as_mapping = codec.encode({"x": 1.0, "frame": {"width": 3, "height": 2, "pixels": pixels}})
    assert as_mapping == data


def test_luminance_size_must_match_the_schema() -> None:
    codec = PayloadCodec(schema("Luminance(3, 2) frame"))
    with pytest.raises(PayloadError, match="2x3, the schema says 3x2"):
        codec.encode({"frame": LuminanceImage.from_values(2, 3, [0.0] * 6)})
    with pytest.raises(PayloadError, match="pixel bytes"):
        codec.encode({"frame": LuminanceImage(3, 2, b"\x00" * 5)})
    wrong = PayloadCodec(schema("Luminance(2, 3) frame"))
    with pytest.raises(PayloadError, match="2x3"):
        codec.decode(wrong.encode({"frame": LuminanceImage.from_values(2, 3, [0.0] * 6)}))
    with pytest.raises(PayloadError, match="0x0"):
        codec.decode(b"")  # an absent Luminance has no size


def test_bytes_that_do_not_match_the_schema_are_refused() -> None:
    _, state, action = cartpole_codecs()
    with pytest.raises(PayloadError):
        state.decode(b"\xff\xff\xff\xff")
    with pytest.raises(PayloadError, match="unknown field number 7"):
        action.decode(bytes.fromhex("3801"))  # field 7 is not in the schema
    with pytest.raises(PayloadError):
        action.decode(bytes.fromhex("0a0141"))  # field 1 as bytes, not a varint: an unknown field


def test_non_finite_state_floats_become_zero() -> None:
    _, state, _ = cartpole_codecs()
    message = {"position": 1.0, "velocity": 2.0, "angle": 3.0, "rotation": 4.0}
    data = bytearray(state.encode(message))
    data[1:5] = struct.pack("<f", math.nan)  # position
    data[6:10] = struct.pack("<f", math.inf)  # velocity
    decoded = state.decode(bytes(data))
    assert decoded.values == {"position": 0.0, "velocity": 0.0, "angle": 3.0, "rotation": 4.0}
    assert decoded.replaced_non_finite == ("position", "velocity")


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"command": "1"}, "needs an integer"),
        ({"command": 1.5}, "needs an integer"),
        ({"command": True}, "needs an integer"),
        ({"command": 300}, "does not fit Int8"),
        ({"thrust": 1}, "has no field 'thrust'"),
    ],
)
def test_values_that_do_not_fit_are_refused(values: dict, message: str) -> None:
    _, _, action = cartpole_codecs()
    with pytest.raises(PayloadError, match=message):
        action.encode(values)


def test_other_type_errors() -> None:
    codec = PayloadCodec(schema("Float32 f, Bool b, String s"))
    for values in ({"f": math.nan}, {"f": 1e39}, {"f": 10**400}, {"f": "1"}, {"b": 2}, {"s": 1}):
        with pytest.raises(PayloadError):
            codec.encode(values)


def test_ranges_are_checked_on_request() -> None:
    _, _, action = cartpole_codecs()
    assert action.decode(action.encode({"command": 5})).values == {"command": 5}
    with pytest.raises(PayloadError, match="outside its range"):
        action.encode({"command": 5}, check_ranges=True)
    assert action.encode({"command": 1}, check_ranges=True) == bytes.fromhex("0801")


def test_empty_config_gives_empty_properties() -> None:
    codec = PayloadCodec(Schema("sim_config", ()))
    assert codec.encode({}) == b"" and codec.decode(b"").values == {}


def test_field_names_that_shadow_message_methods_work() -> None:
    codec = PayloadCodec(schema("Int8 SerializeToString, Int8 ParseFromString, Int8 ListFields"))
    values = {"SerializeToString": 1, "ParseFromString": 2, "ListFields": 0}
    assert codec.decode(codec.encode(values)).values == values


def test_a_client_pool_built_from_the_wire_descriptor_reads_our_bytes() -> None:
    """What a simulator does: add the DescriptorProto it received (no package, no leading dot) to its pool."""
    frame_schema = schema("Int8 value, Luminance(2, 1) frame", name="GameState")
    codec = PayloadCodec(frame_schema)
    data = codec.encode({"value": 0, "frame": LuminanceImage.from_values(2, 1, [0.5, 1.0])})

    pool = descriptor_pool.DescriptorPool()
    pool.Add(inkling_types_file())
    file = FileDescriptorProto(name="client_schema.proto", dependency=["bonsai/proto/inkling_types.proto"])
    file.message_type.add().CopyFrom(schema_descriptor(frame_schema))
    pool.Add(file)
    client_class = message_factory.GetMessageClass(pool.FindMessageTypeByName("GameState"))
    message = client_class.FromString(data)
    assert message.HasField("value") and message.value == 0
    assert (message.frame.width, message.frame.height) == (2, 1)
    assert struct.unpack("<2f", message.frame.pixels) == (0.5, 1.0)
    assert codec.decode(message.SerializeToString()).values["value"] == 0
