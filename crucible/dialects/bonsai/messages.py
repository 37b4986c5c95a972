"""The simulator protocol's protobuf messages (spec §4.1), built at run time.

The `.proto` files in `proto/` say the same thing; building the FileDescriptorProto here spares a
protoc step and pins the full names the clients use: package `bonsai.proto.generator_simulator_api`
in file `bonsai/proto/generator_simulator_api.proto`, which imports `google/protobuf/descriptor.proto`.
"""

from __future__ import annotations

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.descriptor_pb2 import FieldDescriptorProto, FileDescriptorProto
from google.protobuf.message import Message

PACKAGE = "bonsai.proto.generator_simulator_api"
FILE_NAME = "bonsai/proto/generator_simulator_api.proto"

F = FieldDescriptorProto
OPTIONAL = F.LABEL_OPTIONAL
REPEATED = F.LABEL_REPEATED

# Message types, as the enums number them.
UNKNOWN = 0
# SimulatorToServer
REGISTER, READY, STATE = 1, 2, 3
# ServerToSimulator
ACKNOWLEDGE_REGISTER, SET_PROPERTIES, START, STOP, PREDICTION, RESET, FINISHED = 1, 2, 3, 4, 5, 6, 7

CLIENT_TYPE_NAMES = {0: "UNKNOWN", 1: "REGISTER", 2: "READY", 3: "STATE"}
SERVER_TYPE_NAMES = {
    0: "UNKNOWN",
    1: "ACKNOWLEDGE_REGISTER",
    2: "SET_PROPERTIES",
    3: "START",
    4: "STOP",
    5: "PREDICTION",
    6: "RESET",
    7: "FINISHED",
}


def _field(
    message: descriptor_pb2.DescriptorProto, name: str, number: int, kind: int, **extra: object
) -> None:
    message.field.add(name=name, number=number, type=kind, label=extra.pop("label", OPTIONAL), **extra)  # type: ignore[arg-type]


def _message_ref(name: str) -> str:
    return f".{PACKAGE}.{name}"


def protocol_file() -> FileDescriptorProto:
    """`bonsai/proto/generator_simulator_api.proto` as a FileDescriptorProto."""
    file = FileDescriptorProto(
        name=FILE_NAME, package=PACKAGE, syntax="proto3", dependency=["google/protobuf/descriptor.proto"]
    )
    descriptor_ref = ".google.protobuf.DescriptorProto"

    source = file.message_type.add(name="SimulationSourceData")
    _field(source, "state", 1, F.TYPE_BYTES)
    _field(source, "reward", 2, F.TYPE_FLOAT)
    _field(source, "terminal", 3, F.TYPE_BOOL)
    _field(source, "action_taken", 4, F.TYPE_BYTES)

    register = file.message_type.add(name="RegisterData")
    _field(register, "simulator_name", 1, F.TYPE_STRING)

    to_server = file.message_type.add(name="SimulatorToServer")
    enum = to_server.enum_type.add(name="MessageType")
    for number, name in CLIENT_TYPE_NAMES.items():
        enum.value.add(name=name, number=number)
    _field(to_server, "message_type", 1, F.TYPE_ENUM, type_name=_message_ref("SimulatorToServer.MessageType"))
    _field(to_server, "register_data", 2, F.TYPE_MESSAGE, type_name=_message_ref("RegisterData"))
    _field(
        to_server,
        "state_data",
        3,
        F.TYPE_MESSAGE,
        type_name=_message_ref("SimulationSourceData"),
        label=REPEATED,
    )
    _field(to_server, "sim_id", 4, F.TYPE_FIXED32)

    acknowledge = file.message_type.add(name="AcknowledgeRegisterData")
    _field(acknowledge, "properties_schema", 1, F.TYPE_MESSAGE, type_name=descriptor_ref)
    _field(acknowledge, "output_schema", 2, F.TYPE_MESSAGE, type_name=descriptor_ref)
    _field(acknowledge, "prediction_schema", 3, F.TYPE_MESSAGE, type_name=descriptor_ref)
    _field(acknowledge, "sim_id", 4, F.TYPE_FIXED32)

    properties = file.message_type.add(name="SetPropertiesData")
    _field(properties, "dynamic_properties", 1, F.TYPE_BYTES)
    _field(properties, "reward_name", 2, F.TYPE_STRING)
    _field(properties, "prediction_schema", 3, F.TYPE_MESSAGE, type_name=descriptor_ref)

    prediction = file.message_type.add(name="PredictionData")
    _field(prediction, "dynamic_prediction", 1, F.TYPE_BYTES)

    to_sim = file.message_type.add(name="ServerToSimulator")
    enum = to_sim.enum_type.add(name="MessageType")
    for number, name in SERVER_TYPE_NAMES.items():
        enum.value.add(name=name, number=number)
    _field(to_sim, "message_type", 1, F.TYPE_ENUM, type_name=_message_ref("ServerToSimulator.MessageType"))
    _field(
        to_sim,
        "acknowledge_register_data",
        2,
        F.TYPE_MESSAGE,
        type_name=_message_ref("AcknowledgeRegisterData"),
    )
    _field(to_sim, "set_properties_data", 3, F.TYPE_MESSAGE, type_name=_message_ref("SetPropertiesData"))
    _field(
        to_sim, "prediction_data", 4, F.TYPE_MESSAGE, type_name=_message_ref("PredictionData"), label=REPEATED
    )
    _field(to_sim, "sim_id", 5, F.TYPE_FIXED32)
    return file


def _build_pool() -> descriptor_pool.DescriptorPool:
    """The default pool, where `google/protobuf/descriptor.proto` already lives, so that the schema
    fields are the ordinary `descriptor_pb2.DescriptorProto` class."""
    pool = descriptor_pool.Default()
    try:
        pool.FindFileByName(FILE_NAME)
    except KeyError:
        pool.Add(protocol_file())
    return pool


_POOL = _build_pool()


def _message_class(name: str) -> type[Message]:
    return message_factory.GetMessageClass(_POOL.FindMessageTypeByName(f"{PACKAGE}.{name}"))


SimulatorToServer = _message_class("SimulatorToServer")
ServerToSimulator = _message_class("ServerToSimulator")
SimulationSourceData = _message_class("SimulationSourceData")
