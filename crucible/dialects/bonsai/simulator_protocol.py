"""The simulator protocols as state machines (spec §4.2–§4.4), with no socket code.

Each conversation takes one client message at a time and produces exactly one reply, because the
clients are strictly request/response. What the client may send next depends only on the last server
message, which `phase` records. Anything out of order is a ProtocolViolation (close 4000).
"""

from __future__ import annotations

import enum
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import DecodeError, Message

from crucible.dialects.bonsai import messages as pb
from crucible.dialects.bonsai.inkling import LuminanceImage, PayloadError
from crucible.dialects.bonsai.runtime import BrainProgram

wire_log = logging.getLogger("crucible.bonsai.wire")


class ProtocolViolation(Exception):
    """The client broke the protocol; the socket closes with 4000 `Malformed message: <detail>`."""


class UnknownSimulator(Exception):
    """REGISTER named a simulator the version's Inkling does not use (close 4008)."""


class Phase(enum.Enum):
    """The last message the server sent (or NEW before REGISTER)."""

    NEW = "new"
    ACKNOWLEDGED = "acknowledge_register or reset"  # expects READY -> SET_PROPERTIES
    PROPERTIES_SET = "set_properties"  # expects READY -> START
    STARTED = "start"  # expects the initial STATE
    PREDICTED = "prediction"  # expects STATE
    STOPPED = "stop"  # expects READY -> RESET
    FINISHED = "finished"


def parse_client_message(frame: bytes | str) -> Message:
    if isinstance(frame, str):
        raise ProtocolViolation("text frame on a protobuf socket")
    message = pb.SimulatorToServer()
    try:
        message.ParseFromString(frame)
    except (DecodeError, ValueError, RuntimeError) as error:
        raise ProtocolViolation(f"bytes do not parse as SimulatorToServer ({error})") from error
    if message.message_type not in (pb.REGISTER, pb.READY, pb.STATE):
        raise ProtocolViolation(f"unknown message_type {message.message_type}")
    return message


def server_message(message_type: int, sim_id: int) -> Message:
    message = pb.ServerToSimulator()
    message.message_type = message_type
    message.sim_id = sim_id
    return message


def wire_values(values: dict[str, Any]) -> dict[str, Any]:
    """Field values as the state socket shows them: `{"value": v}`, Luminance as its size."""
    shown: dict[str, Any] = {}
    for name, value in values.items():
        if isinstance(value, LuminanceImage):
            shown[name] = {"width": value.width, "height": value.height}
        else:
            shown[name] = {"value": value}
    return shown


def observation_values(values: dict[str, Any]) -> dict[str, Any]:
    """Decoded payload values as the engine's observation builder reads them (pixels as floats)."""
    return {
        name: (value.values() if isinstance(value, LuminanceImage) else value)
        for name, value in values.items()
    }


TrainerCall = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


@dataclass
class Decoded:
    values: dict[str, Any]
    reward: float
    terminal: bool


class Conversation:
    """What both sockets share: the sim_id rule, decoding states, logging."""

    def __init__(self, program: BrainProgram, sim_id: int, log_line: Callable[[str], None]) -> None:
        self.program = program
        self.sim_id = sim_id
        self.log_line = log_line
        self.phase = Phase.NEW

    def check_sim_id(self, message: Message) -> None:
        if message.sim_id != self.sim_id:  # type: ignore[attr-defined]
            raise ProtocolViolation(f"sim_id {message.sim_id} is not this socket's {self.sim_id}")  # type: ignore[attr-defined]

    def acknowledge(self, message: Message) -> Message:
        name = message.register_data.simulator_name  # type: ignore[attr-defined]
        if name != self.program.simulator_name:
            raise UnknownSimulator(name)
        reply = server_message(pb.ACKNOWLEDGE_REGISTER, self.sim_id)
        data = reply.acknowledge_register_data  # type: ignore[attr-defined]
        properties, output, prediction = self.program.descriptors
        data.properties_schema.CopyFrom(properties)
        data.output_schema.CopyFrom(output)
        data.prediction_schema.CopyFrom(prediction)
        data.sim_id = self.sim_id
        self.log_line(f"registered simulator {name}")
        return reply

    def decode(self, source: Message) -> Decoded:
        try:
            decoded = self.program.state_codec.decode(bytes(source.state))  # type: ignore[attr-defined]
        except PayloadError as error:
            raise ProtocolViolation(f"state does not match the schema ({error})") from error
        if decoded.replaced_non_finite:
            self.log_line(
                f"non-finite state values replaced by 0.0: {', '.join(decoded.replaced_non_finite)}"
            )
        reward = float(source.reward)  # type: ignore[attr-defined]
        if not math.isfinite(reward):
            self.log_line("non-finite reward replaced by 0.0")
            reward = 0.0
        return Decoded(decoded.values, reward, bool(source.terminal))  # type: ignore[attr-defined]

    def prediction(self, actions: list[dict[str, Any]]) -> Message:
        reply = server_message(pb.PREDICTION, self.sim_id)
        for action in actions:
            entry = reply.prediction_data.add()  # type: ignore[attr-defined]
            entry.dynamic_prediction = self.program.action_codec.encode(action)
        return reply


class TrainingConversation(Conversation):
    """`/sims/ws`: one simulator's side of training (spec §4.2)."""

    def __init__(
        self,
        program: BrainProgram,
        sim_id: int,
        trainer: TrainerCall,
        log_line: Callable[[str], None],
        on_transition: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        super().__init__(program, sim_id, log_line)
        self.trainer = trainer
        self.on_transition = on_transition
        self.last_action: dict[str, Any] = {}
        self.episodes = 0
        self.iterations = 0
        self.completed = False  # the trainer said training is complete
        self.in_episode = False  # an episode has started and not ended (abort on disconnect)

    async def reply(self, message: Message) -> Message:
        kind = message.message_type  # type: ignore[attr-defined]
        if self.phase is Phase.NEW:
            if kind != pb.REGISTER:
                raise ProtocolViolation(f"{pb.CLIENT_TYPE_NAMES[kind]} before REGISTER")
            reply = self.acknowledge(message)
            self.phase = Phase.ACKNOWLEDGED
            return reply
        self.check_sim_id(message)
        if self.phase in (Phase.ACKNOWLEDGED, Phase.PROPERTIES_SET, Phase.STOPPED):
            if kind != pb.READY:
                raise ProtocolViolation(f"{pb.CLIENT_TYPE_NAMES[kind]} where READY was expected")
            return await self._on_ready()
        if self.phase in (Phase.STARTED, Phase.PREDICTED):
            if kind != pb.STATE:
                raise ProtocolViolation(f"{pb.CLIENT_TYPE_NAMES[kind]} where STATE was expected")
            return await self._on_state(message)
        raise ProtocolViolation("message after FINISHED")

    async def _on_ready(self) -> Message:
        if self.phase is Phase.STOPPED:
            self.phase = Phase.ACKNOWLEDGED
            return server_message(pb.RESET, self.sim_id)
        if self.phase is Phase.PROPERTIES_SET:
            self.phase = Phase.STARTED
            self.in_episode = True
            return server_message(pb.START, self.sim_id)
        episode = await self.trainer({"op": "begin", "sim": self.sim_id})
        if episode.get("finished"):
            return self.finish()
        reply = server_message(pb.SET_PROPERTIES, self.sim_id)
        data = reply.set_properties_data  # type: ignore[attr-defined]
        data.dynamic_properties = self.program.config_codec.encode(episode.get("config", {}))
        data.reward_name = self.program.objective
        data.prediction_schema.CopyFrom(self.program.descriptors[2])
        self.phase = Phase.PROPERTIES_SET
        return reply

    async def _on_state(self, message: Message) -> Message:
        entries = list(message.state_data)  # type: ignore[attr-defined]
        if len(entries) != 1:
            raise ProtocolViolation(f"{len(entries)} state_data where 1 was expected")
        decoded = self.decode(entries[0])
        initial = self.phase is Phase.STARTED
        observation = self.program.spaces.observation(observation_values(decoded.values))
        result = await self.trainer(
            {
                "op": "step",
                "sim": self.sim_id,
                "obs": observation,
                "reward": 0.0 if initial else decoded.reward,
                "terminal": decoded.terminal,
            }
        )
        if not initial:
            self.iterations += 1
            if self.on_transition is not None:
                self.on_transition(
                    {
                        "action": wire_values(self.last_action),
                        "reward": decoded.reward,
                        "state": wire_values(decoded.values),
                        "terminal": decoded.terminal,
                        "episode": self.episodes + 1,
                        "sim_id": self.sim_id,
                    }
                )
        for event in result.get("events", ()):
            if event["type"] == "episode":
                self.episodes += 1
                self.log_line(f"episode {event['episode']} value {event['value']:g}")
        if result.get("finished"):
            self.completed = True
            return self.finish()
        if result.get("stop"):
            self.in_episode = False
            self.phase = Phase.STOPPED
            return server_message(pb.STOP, self.sim_id)
        self.last_action = result["action"]
        self.phase = Phase.PREDICTED
        return self.prediction([self.last_action])

    def keepalive(self) -> Message:
        """The reply while the sim is held: RESET when idle, STOP (episode aborted) mid-episode."""
        if self.phase in (Phase.STARTED, Phase.PREDICTED):
            self.in_episode = False
            self.phase = Phase.STOPPED
            self.log_line("episode aborted while held")
            return server_message(pb.STOP, self.sim_id)
        return server_message(pb.RESET, self.sim_id)

    def finish(self) -> Message:
        self.phase = Phase.FINISHED
        return server_message(pb.FINISHED, self.sim_id)


class PredictionConversation(Conversation):
    """`/{version}/predictions/ws`: REGISTER -> ACK, then every STATE -> PREDICTION (spec §4.3)."""

    def __init__(
        self,
        program: BrainProgram,
        sim_id: int,
        predict: Callable[[list[Any]], Awaitable[list[dict[str, Any]]]],
        log_line: Callable[[str], None],
    ) -> None:
        super().__init__(program, sim_id, log_line)
        self.predict = predict

    async def reply(self, message: Message) -> Message:
        kind = message.message_type  # type: ignore[attr-defined]
        if self.phase is Phase.NEW:
            if kind != pb.REGISTER:
                raise ProtocolViolation(f"{pb.CLIENT_TYPE_NAMES[kind]} before REGISTER")
            reply = self.acknowledge(message)
            self.phase = Phase.PREDICTED
            return reply
        self.check_sim_id(message)
        if kind != pb.STATE:
            raise ProtocolViolation(f"{pb.CLIENT_TYPE_NAMES[kind]} on a prediction socket")
        entries = list(message.state_data)  # type: ignore[attr-defined]
        if not entries:
            raise ProtocolViolation("STATE without state_data")
        observations = [
            self.program.spaces.observation(observation_values(self.decode(entry).values))
            for entry in entries
        ]
        return self.prediction(await self.predict(observations))


def describe(message: Message) -> str:
    """`TYPE sim_id=N` for the debug wire log."""
    names = pb.SERVER_TYPE_NAMES if isinstance(message, pb.ServerToSimulator) else pb.CLIENT_TYPE_NAMES
    return f"{names.get(message.message_type, '?')} sim_id={message.sim_id}"  # type: ignore[attr-defined]
