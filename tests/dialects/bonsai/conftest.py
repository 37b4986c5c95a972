"""Bonsai test helpers: an account with an access key, the template projects, multipart bodies the way
CLI 0.8.x builds them, and a raw simulator client speaking the protobuf protocol over `websockets`."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import pytest
from starlette.testclient import TestClient
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from crucible.core import accounts
from crucible.core.services import Services
from crucible.dialects.bonsai import messages as pb
from crucible.dialects.bonsai.inkling import PayloadCodec, compile_inkling
from tests.dialects.bender.conftest import password_hash

TEMPLATES = resources.files("crucible.dialects.bonsai.templates")


def template(folder: str) -> dict[str, bytes]:
    root = TEMPLATES.joinpath(folder)
    return {
        item.name: item.read_bytes()
        for item in root.iterdir()
        if item.is_file() and not item.name.startswith("__")
    }


FIND_THE_CENTER_INK = template("find_the_center")["find_the_center.ink"].decode()
CARTPOLE_INK = template("cartpole")["cartpole.ink"].decode()


@dataclass
class KeyHolder:
    username: str
    key: str
    user_id: int

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": self.key}


@pytest.fixture
def make_key_holder(services: Services) -> Callable[[str], KeyHolder]:
    def make(username: str) -> KeyHolder:
        with services.db.write() as session:
            user = accounts.create_user(
                session, username, None, f"{username}@example.org", email_verified=True
            )
            user.password_hash = password_hash("correct horse 1")
            key = accounts.create_access_key(session, user)
            return KeyHolder(username, key, user.id)

    return make


@pytest.fixture
def alice(make_key_holder: Callable[[str], KeyHolder]) -> KeyHolder:
    return make_key_holder("alice")


def multipart_body(
    project: dict[str, bytes], name: str | None = None, boundary: str = "b0undary"
) -> tuple[bytes, str]:
    """A create/push body as CLI 0.8.x sends it (urllib3's layout, multipart/mixed)."""
    accompanying = sorted(path for path in project if not path.endswith(".bproj"))
    bproj = next((path for path in project if path.endswith(".bproj")), "bonsai_brain.bproj")
    data: dict[str, Any] = {
        "description": "",
        "project_file": {"name": bproj, "content": json.loads(project.get(bproj, b"{}") or b"{}")},
        "project_accompanying_files": accompanying,
    }
    if name is not None:
        data = {"name": name, **data}
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="project_data"\r\nContent-Type: application/json\r\n\r\n'.encode()
        + json.dumps(data).encode()
        + b"\r\n"
    ]
    for path in accompanying:
        content = project[path]
        parts.append(
            (
                f'--{boundary}\r\nContent-Disposition: attachment; name="{path}"; filename="{path}"\r\n'
                f"Content-Type: application/octet-stream\r\nContent-Length: {len(content)}\r\n\r\n"
            ).encode()
            + content
            + b"\r\n"
        )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/mixed; boundary={boundary}"


def create_brain(client: TestClient | Any, holder: KeyHolder, name: str, project: dict[str, bytes]) -> Any:
    body, content_type = multipart_body(project, name=name)
    return client.post(
        f"/v1/{holder.username}/brains",
        content=body,
        headers={**holder.headers, "Content-Type": content_type},
    )


def push(client: TestClient | Any, holder: KeyHolder, name: str, project: dict[str, bytes]) -> Any:
    body, content_type = multipart_body(project)
    return client.put(
        f"/v1/{holder.username}/{name}",
        content=body,
        headers={**holder.headers, "Content-Type": content_type},
    )


def wait_for(predicate: Callable[[], Any], timeout: float = 60.0, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(interval)


class Codecs:
    def __init__(self, source: str) -> None:
        curriculum = compile_inkling(source).program.curriculum  # type: ignore[union-attr]
        assert curriculum is not None
        self.simulator = curriculum.simulator.name
        self.state = PayloadCodec(curriculum.state_schema)
        self.action = PayloadCodec(curriculum.action_schema)
        self.config = PayloadCodec(curriculum.config_schema)


FIND_THE_CENTER_CODECS = Codecs(FIND_THE_CENTER_INK)


@dataclass
class RawSim:
    """A protobuf simulator client driving find-the-center (or any state function) by hand."""

    url: str
    key: str | None
    codecs: Codecs = FIND_THE_CENTER_CODECS
    user_agent: str | None = None
    received: list[Any] = field(default_factory=list)
    sim_id: int = 0
    socket: ClientConnection | None = None

    def connect(self) -> RawSim:
        headers = {}
        if self.key is not None:
            headers["Authorization"] = self.key
        if self.user_agent:
            headers["User-Agent"] = self.user_agent
        self.socket = connect(
            self.url, additional_headers=headers, max_size=None, open_timeout=30, ping_interval=None
        )
        return self

    def close(self) -> None:
        if self.socket is not None:
            self.socket.close()

    def send_raw(self, data: bytes | str) -> None:
        assert self.socket is not None
        self.socket.send(data)

    def receive(self, timeout: float = 60.0) -> Any:
        assert self.socket is not None
        message = pb.ServerToSimulator()
        message.ParseFromString(self.socket.recv(timeout=timeout))
        self.received.append(message)
        return message

    def send(
        self, kind: int, states: list[tuple[dict[str, Any] | bytes, float, bool]] = (), name: str = ""
    ) -> Any:  # type: ignore[assignment]
        message = pb.SimulatorToServer()
        message.message_type = kind
        message.sim_id = self.sim_id
        if kind == pb.REGISTER:
            message.register_data.simulator_name = name or self.codecs.simulator
        for state, reward, terminal in states:
            entry = message.state_data.add()
            entry.state = state if isinstance(state, bytes) else self.codecs.state.encode(state)
            entry.reward = reward
            entry.terminal = terminal
        self.send_raw(message.SerializeToString())
        return self.receive()

    def register(self) -> Any:
        reply = self.send(pb.REGISTER)
        assert reply.message_type == pb.ACKNOWLEDGE_REGISTER, reply
        self.sim_id = reply.sim_id
        return reply

    def close_code(self, timeout: float = 30.0) -> int | None:
        """Read until the server closes; the close code."""
        assert self.socket is not None
        try:
            while True:
                self.socket.recv(timeout=timeout)
        except ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd is not None else None


def play_find_the_center(
    sim: RawSim, *, iterations: int = 0, episodes: int = 0, seed: int = 0
) -> dict[str, Any]:
    """Train with find-the-center's rules until `iterations` steps or `episodes` episodes were reported;
    returns the episode values the server took (terminal state sent) and every server message type."""
    rng = random.Random(seed)
    rewards: list[float] = []
    steps = 0
    value = goal = 0
    episode_value = 0.0
    reply = sim.send(pb.READY)
    while True:
        kind = reply.message_type
        if kind == pb.FINISHED:
            break
        if kind in (pb.SET_PROPERTIES, pb.RESET):
            reply = sim.send(pb.READY)
        elif kind == pb.STOP:
            if (iterations and steps >= iterations) or (episodes and len(rewards) >= episodes):
                break
            reply = sim.send(pb.READY)
        elif kind == pb.START:
            value, goal, episode_value = rng.randint(0, 2), 0, 0.0
            reply = sim.send(pb.STATE, [({"value": value}, 0.0, False)])
        elif kind == pb.PREDICTION:
            delta = sim.codecs.action.decode(reply.prediction_data[0].dynamic_prediction).values["delta"]
            value += int(delta)
            steps += 1
            if value == 1:
                goal += 1
            terminal = value < 0 or value > 2 or goal > 3
            episode_value += goal
            reply = sim.send(pb.STATE, [({"value": value}, float(goal), terminal)])
            if reply.message_type == pb.STOP:
                rewards.append(episode_value)
        else:
            raise AssertionError(f"unexpected {kind}")
    return {"rewards": rewards, "steps": steps}


@pytest.fixture
def raw_sims() -> Iterator[list[RawSim]]:
    """Collects RawSims to close at the end of a test."""
    opened: list[RawSim] = []
    yield opened
    for sim in opened:
        sim.close()
