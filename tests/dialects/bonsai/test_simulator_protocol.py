"""The protocol state machines alone, with a stand-in trainer (spec §4.2–§4.4)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from crucible.dialects.bonsai import messages as pb
from crucible.dialects.bonsai.inkling import compile_inkling
from crucible.dialects.bonsai.runtime import BrainProgram
from crucible.dialects.bonsai.simulator_protocol import (
    PredictionConversation,
    ProtocolViolation,
    TrainingConversation,
    UnknownSimulator,
    parse_client_message,
)
from crucible.settings import Settings
from tests.dialects.bonsai.conftest import FIND_THE_CENTER_CODECS, FIND_THE_CENTER_INK

SIM_ID = 123456


class Services:
    settings = Settings()


def program() -> BrainProgram:
    curriculum = compile_inkling(FIND_THE_CENTER_INK).program.curriculum  # type: ignore[union-attr]
    assert curriculum is not None
    return BrainProgram.build(curriculum, Services())  # type: ignore[arg-type]


class FakeTrainer:
    """Always moves +1; ends the episode on a terminal state; reports `finished` when told to."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.finished = False

    async def __call__(self, request: dict[str, Any]) -> dict[str, Any]:
        self.requests.append(request)
        if request["op"] == "begin":
            return (
                {"finished": True}
                if self.finished
                else {"config": {"dummy": -1}, "test": False, "lesson": "l"}
            )
        if request["terminal"]:
            return {"action": None, "stop": True, "finished": self.finished, "events": []}
        return {"action": {"delta": 1}, "stop": False, "finished": self.finished, "events": []}


def message(
    kind: int,
    sim_id: int = SIM_ID,
    states: tuple[tuple[int, float, bool], ...] = (),
    name: str = "find_the_center_sim",
) -> Any:
    built = pb.SimulatorToServer()
    built.message_type = kind
    built.sim_id = sim_id
    if kind == pb.REGISTER:
        built.register_data.simulator_name = name
        built.sim_id = 0
    for value, reward, terminal in states:
        entry = built.state_data.add()
        entry.state = FIND_THE_CENTER_CODECS.state.encode({"value": value})
        entry.reward = reward
        entry.terminal = terminal
    return parse_client_message(built.SerializeToString())


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


def test_training_sequence_is_exactly_the_observed_one() -> None:
    trainer = FakeTrainer()
    conversation = TrainingConversation(program(), SIM_ID, trainer, lambda _line: None)

    async def play() -> list[Any]:
        replies = [await conversation.reply(message(pb.REGISTER))]
        for _episode in range(2):
            replies.append(await conversation.reply(message(pb.READY)))  # SET_PROPERTIES
            replies.append(await conversation.reply(message(pb.READY)))  # START
            replies.append(await conversation.reply(message(pb.STATE, states=((0, 0.0, False),))))
            replies.append(await conversation.reply(message(pb.STATE, states=((1, 1.0, False),))))
            replies.append(await conversation.reply(message(pb.STATE, states=((2, 1.0, True),))))  # STOP
            replies.append(await conversation.reply(message(pb.READY)))  # RESET
        trainer.finished = True
        replies.append(await conversation.reply(message(pb.READY)))  # FINISHED
        return replies

    replies = run(play())
    names = [pb.SERVER_TYPE_NAMES[reply.message_type] for reply in replies]
    episode = ["SET_PROPERTIES", "START", "PREDICTION", "PREDICTION", "STOP", "RESET"]
    assert names == ["ACKNOWLEDGE_REGISTER", *episode, *episode, "FINISHED"]
    assert all(reply.sim_id == SIM_ID for reply in replies)
    ack = replies[0].acknowledge_register_data
    assert ack.sim_id == SIM_ID
    assert [field.name for field in ack.output_schema.field] == ["value"]
    for reply in replies:
        if reply.message_type == pb.SET_PROPERTIES:
            data = reply.set_properties_data
            assert data.reward_name == "time_at_goal"
            assert [field.name for field in data.prediction_schema.field] == ["delta"]
            assert FIND_THE_CENTER_CODECS.config.decode(data.dynamic_properties).values == {"dummy": -1}
        if reply.message_type == pb.PREDICTION:
            assert len(reply.prediction_data) == 1
            action = FIND_THE_CENTER_CODECS.action.decode(reply.prediction_data[0].dynamic_prediction).values
            assert action == {"delta": 1}
            assert reply.prediction_data[0].dynamic_prediction == bytes([0x08, 0x01])
    steps = [request for request in trainer.requests if request["op"] == "step"]
    assert [request["reward"] for request in steps[:3]] == [0.0, 1.0, 1.0]
    assert [request["terminal"] for request in steps[:3]] == [False, False, True]


@pytest.mark.parametrize(
    ("script", "detail"),
    [
        ([(pb.STATE, SIM_ID)], "STATE before REGISTER"),
        ([(pb.READY, SIM_ID)], "READY before REGISTER"),
        ([(pb.REGISTER, 0), (pb.STATE, SIM_ID)], "STATE where READY was expected"),
        ([(pb.REGISTER, 0), (pb.READY, 7)], "sim_id 7 is not this socket's"),
        ([(pb.REGISTER, 0), (pb.READY, SIM_ID), (pb.READY, SIM_ID), (pb.READY, SIM_ID)], "READY where STATE"),
    ],
)
def test_out_of_order_messages_are_violations(script: list[tuple[int, int]], detail: str) -> None:
    conversation = TrainingConversation(program(), SIM_ID, FakeTrainer(), lambda _line: None)

    async def play() -> None:
        for kind, sim_id in script:
            states = ((0, 0.0, False),) if kind == pb.STATE else ()
            await conversation.reply(message(kind, sim_id, states))

    with pytest.raises(ProtocolViolation, match=detail):
        run(play())


def test_state_bytes_must_match_the_schema() -> None:
    conversation = TrainingConversation(program(), SIM_ID, FakeTrainer(), lambda _line: None)

    async def play() -> None:
        await conversation.reply(message(pb.REGISTER))
        await conversation.reply(message(pb.READY))
        await conversation.reply(message(pb.READY))
        garbage = pb.SimulatorToServer(message_type=pb.STATE, sim_id=SIM_ID)
        garbage.state_data.add(state=b"\xff\xff\xff")
        await conversation.reply(garbage)

    with pytest.raises(ProtocolViolation, match="state does not match"):
        run(play())


def test_two_states_for_one_prediction_is_a_violation() -> None:
    conversation = TrainingConversation(program(), SIM_ID, FakeTrainer(), lambda _line: None)

    async def play() -> None:
        await conversation.reply(message(pb.REGISTER))
        await conversation.reply(message(pb.READY))
        await conversation.reply(message(pb.READY))
        await conversation.reply(message(pb.STATE, states=((0, 0.0, False), (1, 0.0, False))))

    with pytest.raises(ProtocolViolation, match="2 state_data"):
        run(play())


def test_unknown_simulator_name() -> None:
    conversation = TrainingConversation(program(), SIM_ID, FakeTrainer(), lambda _line: None)
    with pytest.raises(UnknownSimulator):
        run(conversation.reply(message(pb.REGISTER, name="nosuch_sim")))


def test_keepalive_is_reset_when_idle_and_stop_mid_episode() -> None:
    conversation = TrainingConversation(program(), SIM_ID, FakeTrainer(), lambda _line: None)

    async def play() -> tuple[Any, Any, Any]:
        await conversation.reply(message(pb.REGISTER))
        idle = conversation.keepalive()
        await conversation.reply(message(pb.READY))
        await conversation.reply(message(pb.READY))
        await conversation.reply(message(pb.STATE, states=((0, 0.0, False),)))
        held = conversation.keepalive()
        after = await conversation.reply(message(pb.READY))
        return idle, held, after

    idle, held, after = run(play())
    assert idle.message_type == pb.RESET and held.message_type == pb.STOP and after.message_type == pb.RESET
    assert not conversation.in_episode


@pytest.mark.parametrize("frame", [b"\xff", "text", b"\x08\x09", bytes(range(256))])
def test_unparsable_frames(frame: bytes | str) -> None:
    with pytest.raises(ProtocolViolation):
        parse_client_message(frame)


def test_prediction_conversation_answers_every_state() -> None:
    seen: list[int] = []

    async def predict(observations: list[Any]) -> list[dict[str, Any]]:
        seen.append(len(observations))
        return [{"delta": 0} for _ in observations]

    conversation = PredictionConversation(program(), SIM_ID, predict, lambda _line: None)

    async def play() -> list[Any]:
        replies = [await conversation.reply(message(pb.REGISTER))]
        replies.append(await conversation.reply(message(pb.STATE, states=((0, 0.0, False),))))
        replies.append(await conversation.reply(message(pb.STATE, states=((1, 1.0, True),))))
        return replies

    replies = run(play())
    assert [reply.message_type for reply in replies] == [
        pb.ACKNOWLEDGE_REGISTER,
        pb.PREDICTION,
        pb.PREDICTION,
    ]
    assert seen == [1, 1]
    with pytest.raises(ProtocolViolation):
        run(conversation.reply(message(pb.READY)))
