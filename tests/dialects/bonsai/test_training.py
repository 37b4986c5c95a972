"""Training with a real trainer process behind a live server, driven by raw protobuf simulators
(spec §4.2–§4.9; the raw halves of scenarios 4, 6, 8, 10, 11 and 12). The real clients are in tests/compat."""

from __future__ import annotations

import itertools
import json
import logging
import random
import statistics
import threading
import time
from collections import Counter
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from crucible.dialects.bonsai import messages as pb
from tests.conftest import LiveServer
from tests.dialects.bonsai.conftest import (
    KeyHolder,
    RawSim,
    create_brain,
    play_find_the_center,
    template,
    wait_for,
)

pytestmark = pytest.mark.slow
PROJECT = template("find_the_center")


@pytest.fixture
def database_url(tmp_path, sqlite_template) -> str:  # type: ignore[no-untyped-def]
    """Training tests run on SQLite only: they exercise the trainer, not the database backends."""
    import shutil

    target = tmp_path / "crucible.db"
    shutil.copy(sqlite_template, target)
    return f"sqlite:///{target}"


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {"bonsai_checkpoint_iterations": 1000}


class Api:
    def __init__(self, server: LiveServer, holder: KeyHolder) -> None:
        self.server = server
        self.holder = holder
        self.http = httpx.Client(base_url=server.url, headers=holder.headers, timeout=60)
        self.ws_base = server.url.replace("http://", "ws://")

    def get(self, path: str) -> Any:
        response = self.http.get(path)
        assert response.status_code == 200, (path, response.text)
        return response.json()

    def put(self, path: str, body: Any = None) -> httpx.Response:
        return self.http.put(path, json=body) if body is not None else self.http.put(path)

    def status(self, brain: str = "b") -> dict[str, Any]:
        return self.get(f"/v1/alice/{brain}/status")

    def sim(
        self,
        brain: str = "b",
        *,
        key: str | None = "default",
        path: str = "sims/ws",
        user_agent: str | None = None,
    ) -> RawSim:
        return RawSim(
            f"{self.ws_base}/v1/alice/{brain}/{path}",
            self.holder.key if key == "default" else key,
            user_agent=user_agent,
        ).connect()

    def start(self, brain: str = "b") -> None:
        create_brain(self.http, self.holder, brain, PROJECT)
        response = self.put(f"/v1/alice/{brain}/train", {})
        assert response.status_code == 200, response.text
        wait_for(lambda: self.status(brain)["state"] == "In Progress", timeout=120)


@pytest.fixture
def api(live_server: LiveServer, alice: KeyHolder) -> Api:
    return Api(live_server, alice)


def test_train_body_and_version(api: Api) -> None:
    create_brain(api.http, api.holder, "b", PROJECT)
    response = api.put("/v1/alice/b/train", {})
    assert response.status_code == 200
    assert response.json() == {
        "user": "alice",
        "name": "b",
        "version": 1,
        "simulator_connect_url": "/v1/alice/b/sims/ws",
        "simulator_predictions_url": "/v1/alice/b/1/predictions/ws",
        "manage_simulator": False,
        "compiler_version": "1.9.0",
        "brain_url": "/v1/alice/b/1",
    }
    assert api.put("/v1/alice/b/train", {}).status_code == 409
    assert api.status()["state"] in ("Starting", "In Progress")
    brain = api.get("/v1/alice/b")
    assert brain["versions"] == [{"url": "/v1/alice/b/1", "version": 1}]
    version = api.get("/v1/alice/b/1")
    assert version["version"] == 1 and version["files"] == sorted(PROJECT)
    assert api.get("/v1/alice/b/latest")["version"] == 1
    from tests.dialects.bonsai.conftest import push

    refused = push(api.http, api.holder, "b", PROJECT)
    assert refused.status_code == 409 and refused.json() == {"error": "Can't push while training"}
    assert api.put("/v1/alice/b/stop").json() == {}
    assert api.status()["state"] == "Stopped"
    resumed = api.put("/v1/alice/b/1/resume", {})
    assert resumed.status_code == 200 and resumed.json()["version"] == 1
    assert api.put("/v1/alice/b/1/resume", {}).status_code == 200  # idempotent while training
    wait_for(lambda: api.status()["state"] == "In Progress", timeout=120)
    assert api.put("/v1/alice/b/stop").status_code == 200


def test_close_codes_and_fuzzed_frames(api: Api, make_key_holder: Any) -> None:
    """Scenario 10: each bad case gets its close code and the server stays up."""
    bob = make_key_holder("bob")
    create_brain(api.http, api.holder, "idle", PROJECT)
    assert api.sim("idle").close_code() == 4009
    assert api.sim(key=None).close_code() == 4001
    assert api.sim(key=bob.key).close_code() == 4003
    assert api.sim("nosuch").close_code() == 4004
    assert api.sim(path="None/predictions/ws").close_code() == 4004
    api.start()

    def closed_with(frames: list[bytes | str], *, register: bool = False, ready: int = 0) -> int | None:
        sim = api.sim()
        try:
            if register:
                sim.register()
                for _ in range(ready):
                    sim.send(pb.READY)
            for frame in frames:
                sim.send_raw(frame)
            return sim.close_code()
        finally:
            sim.close()

    assert closed_with(["hello"]) == 4000
    assert closed_with([bytes([0xFF, 0x13, 0x37])]) == 4000
    assert closed_with([pb.SimulatorToServer(message_type=pb.STATE).SerializeToString()]) == 4000
    register = pb.SimulatorToServer(message_type=pb.REGISTER)
    register.register_data.simulator_name = "nosuch_sim"
    assert closed_with([register.SerializeToString()]) == 4008
    garbage = pb.SimulatorToServer(message_type=pb.STATE)
    garbage.state_data.add(state=b"\xff\xff\xff\xff")
    sim = api.sim()
    sim.register()
    sim.send(pb.READY)
    sim.send(pb.READY)
    garbage.sim_id = sim.sim_id
    sim.send_raw(garbage.SerializeToString())
    assert sim.close_code() == 4000
    sim.close()
    sim = api.sim()
    sim.register()
    sim.send_raw(pb.SimulatorToServer(message_type=pb.READY, sim_id=sim.sim_id + 1).SerializeToString())
    assert sim.close_code() == 4000
    sim.close()
    assert closed_with([b"\x00" * (17 * 1024 * 1024)]) == 1009

    rng = random.Random(1)
    valid = pb.SimulatorToServer(message_type=pb.READY, sim_id=1).SerializeToString()
    for case in range(40):
        length = rng.randint(0, 64)
        frame = (
            bytes(rng.getrandbits(8) for _ in range(length))
            if case % 2
            else valid[: rng.randint(0, len(valid))]
        )
        code = closed_with([frame], register=bool(case % 3), ready=case % 2)
        assert code in (4000, 4008), (case, frame, code)

    assert api.status()["state"] == "In Progress"
    sim = api.sim()
    sim.register()
    result = play_find_the_center(sim, episodes=5)
    assert len(result["rewards"]) == 5
    sim.close()


@pytest.mark.parametrize(
    "settings_overrides", [{"bonsai_keepalive_s": 2, "bonsai_trainer_start_delay_s": 10}]
)
def test_keepalive_while_the_trainer_starts(live_server: LiveServer, alice: KeyHolder) -> None:
    """Scenario 11: RESET every 2±1 s until SET_PROPERTIES; unsolicited pongs are ignored."""
    api = Api(live_server, alice)
    create_brain(api.http, alice, "b", PROJECT)
    assert api.put("/v1/alice/b/train", {}).status_code == 200
    sim = api.sim()
    sim.register()
    assert sim.socket is not None
    stop = threading.Event()

    def pong() -> None:
        while not stop.wait(1.0):
            try:
                sim.socket.pong(b"")  # type: ignore[union-attr]
            except Exception:
                return

    ponger = threading.Thread(target=pong, daemon=True)
    ponger.start()
    message = pb.SimulatorToServer(message_type=pb.READY, sim_id=sim.sim_id)
    sim.send_raw(message.SerializeToString())
    stamps = [time.monotonic()]
    kinds = []
    while True:
        reply = sim.receive(timeout=30)
        stamps.append(time.monotonic())
        kinds.append(reply.message_type)
        if reply.message_type == pb.SET_PROPERTIES:
            break
        assert reply.message_type == pb.RESET
        sim.send_raw(message.SerializeToString())
    stop.set()
    gaps = [later - earlier for earlier, later in itertools.pairwise(stamps)]
    assert kinds.count(pb.RESET) >= 3
    assert all(gap <= 3.0 for gap in gaps), gaps
    assert all(1.0 <= gap <= 3.0 for gap in gaps[:-1]), gaps
    assert all(reply.sim_id == sim.sim_id for reply in sim.received)
    sim.close()


@pytest.mark.parametrize(
    "settings_overrides", [{"bonsai_checkpoint_iterations": 1000, "bonsai_debug_wire_log": True}]
)
def test_training_progress_metrics_events_logs_and_states(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    """Scenarios 4 and 12, raw: metric points, status events, wire order, logs and state sockets."""
    caplog.set_level(logging.DEBUG, logger="crucible.bonsai.wire")
    create_brain(api.http, api.holder, "b", PROJECT)
    events: list[dict[str, Any]] = []
    status_socket = connect(f"{api.ws_base}/v1/alice/b/ws", additional_headers=api.holder.headers)
    snapshot = [json.loads(status_socket.recv(timeout=10)) for _ in range(2)]
    assert snapshot[0]["type"] == "CONCEPTS_SET" and snapshot[1] == {
        "type": "PROPERTY_CHANGED",
        "property": "status",
        "value": "Not Started",
    }

    def listen() -> None:
        try:
            while True:
                events.append(json.loads(status_socket.recv()))
        except Exception:
            return

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    assert api.put("/v1/alice/b/train", {}).status_code == 200
    wait_for(lambda: api.status()["state"] == "In Progress", timeout=120)
    sim = api.sim(user_agent="bonsai-ai/2.0.20 (raw test)")
    sim.register()
    states = connect(f"{api.ws_base}/v1/alice/b/1/sims/1/state/ws", additional_headers=api.holder.headers)
    logs = connect(f"{api.ws_base}/v1/alice/b/1/sims/1/logs/ws", additional_headers=api.holder.headers)
    result = play_find_the_center(sim, iterations=2500)
    state_message = json.loads(states.recv(timeout=10))
    assert state_message["action"]["delta"]["value"] in (-1, 0, 1)
    assert isinstance(state_message["reward"], float) and state_message["sim_id"] == sim.sim_id
    assert set(state_message["state"]) == {"value"}
    states.close()
    sims = api.get("/v1/alice/b/sims")
    assert [item["sim_id"] for item in sims["find_the_center_sim"]["active"]] == [sim.sim_id]
    sim.close()

    def settled() -> dict[str, Any] | None:
        status = api.status()
        return status if status["episode"] == len(result["rewards"]) else None

    status = wait_for(settled, timeout=30)
    assert status["iteration"] == result["steps"]
    points = api.get("/v1/alice/b/1/metrics/episode_value")
    assert [point["episode"] for point in points] == list(range(1, status["episode"] + 1))
    assert [point["value"] for point in points] == result["rewards"]
    assert points[0]["concept"] == "find_the_center" and points[0]["lesson"] == "seek_center"
    tests = api.get("/v1/alice/b/1/metrics/test_pass_value")
    assert tests and abs(len(tests) - status["episode"] / 23) <= 1.5  # every 20 training + 3 test episodes
    iterations = api.get("/v1/alice/b/1/metrics/iterations")
    assert [point["value"] for point in iterations] == list(range(100, status["iteration"] + 1, 100))
    assert status["checkpoint_iteration"] >= 2000
    lines = api.get("/v1/alice/b/1/sims/1/logs")
    assert lines and all(line.endswith("\n") for line in lines)
    assert any("connected" in line for line in lines)
    assert any(f"{sim.sim_id} episode 1 value" in line for line in lines)
    streamed = [logs.recv(timeout=10) for _ in range(3)]
    assert all(line.endswith("\n") for line in streamed)
    assert api.put("/v1/alice/b/stop").status_code == 200
    try:
        while True:
            logs.recv(timeout=10)
    except ConnectionClosed as closed:
        assert closed.rcvd is not None and closed.rcvd.code == 1000

    wait_for(lambda: any(event.get("value") == "Stopped" for event in events), timeout=10)
    status_socket.close()
    kinds = [event["type"] for event in events]
    assert "TRAINING_INITIALIZED" in kinds
    assert {"type": "PROPERTY_CHANGED", "property": "status", "value": "In Progress"} in events
    pushed = [
        (event["episode"], event["value"]) for event in events if event.get("metric") == "episode_value"
    ]
    assert pushed == [(point["episode"], point["value"]) for point in points]
    pushed_tests = [
        (event["episode"], event["value"]) for event in events if event.get("metric") == "test_pass_value"
    ]
    assert pushed_tests == [(point["episode"], point["value"]) for point in tests]

    wire = [record.getMessage() for record in caplog.records if record.name == "crucible.bonsai.wire"]
    out = [line.split() for line in wire if line.startswith("out ")]
    assert all(words[2] == f"sim_id={sim.sim_id}" for words in out)
    kinds_out = [words[1] for words in out]
    assert kinds_out[0] == "ACKNOWLEDGE_REGISTER"
    for index, kind in enumerate(kinds_out[:-1]):
        following = kinds_out[index + 1]
        expected = {
            "ACKNOWLEDGE_REGISTER": {"SET_PROPERTIES"},
            "SET_PROPERTIES": {"START"},
            "START": {"PREDICTION"},
            "PREDICTION": {"PREDICTION", "STOP"},
            "STOP": {"RESET"},
            "RESET": {"SET_PROPERTIES"},
        }[kind]
        assert following in expected, (index, kind, following)
    assert kinds_out.count("STOP") == len(result["rewards"])


def test_find_the_center_learns_and_the_version_predicts(api: Api) -> None:
    """The fast learning check of scenario 4, then scenario 6 over the prediction socket.

    The trainer is seeded (`seed => 3`) and so is the simulator, so the run is reproducible; unseeded
    runs need 15–20k iterations to pass reliably (the compat scenario at full size does that)."""
    source = (
        PROJECT["find_the_center.ink"]
        .decode()
        .replace(
            "    objective time_at_goal\n",
            "    objective time_at_goal\n    using algorithm PPO\n        seed => 3\n    end\n",
        )
    )
    create_brain(api.http, api.holder, "b", {**PROJECT, "find_the_center.ink": source.encode()})
    assert api.put("/v1/alice/b/train", {}).status_code == 200
    wait_for(lambda: api.status()["state"] == "In Progress", timeout=120)
    sim = api.sim()
    sim.register()
    result = play_find_the_center(sim, iterations=8000, seed=3)
    sim.close()
    rewards = result["rewards"]
    first, last = statistics.mean(rewards[:100]), statistics.mean(rewards[-100:])
    assert last >= 8.0 and last >= 1.5 * first, (first, last)
    assert api.put("/v1/alice/b/stop").status_code == 200
    before = api.status()

    predictor = api.sim(path="1/predictions/ws")
    ack = predictor.send(pb.REGISTER)
    assert ack.message_type == pb.ACKNOWLEDGE_REGISTER
    predictor.sim_id = ack.sim_id
    rng = random.Random(11)
    values = []
    for _episode in range(20):
        value, goal, total = rng.randint(0, 2), 0, 0.0
        reply = predictor.send(pb.STATE, [({"value": value}, 0.0, False)])
        for _step in range(1000):
            delta = predictor.codecs.action.decode(reply.prediction_data[0].dynamic_prediction).values[
                "delta"
            ]
            value += delta
            goal += value == 1
            total += goal
            terminal = value < 0 or value > 2 or goal > 3
            if terminal:
                break
            reply = predictor.send(pb.STATE, [({"value": value}, float(goal), False)])
        values.append(total)
    predictor.close()
    assert statistics.mean(values) >= 8.0, values
    assert {message.message_type for message in predictor.received} <= {
        pb.ACKNOWLEDGE_REGISTER,
        pb.PREDICTION,
    }
    after = api.status()
    assert (after["state"], after["episode"], after["iteration"]) == (
        before["state"],
        before["episode"],
        before["iteration"],
    )


def test_two_simulators_at_once(api: Api) -> None:
    """Scenario 8, raw: both feed one learner; episodes add up; points equal the rewards both saw."""
    api.start()
    results: dict[int, dict[str, Any]] = {}
    sims = [api.sim(), api.sim(user_agent="bonsai-ai/2.0.20 (raw)")]
    for sim in sims:
        sim.register()
    active = api.get("/v1/alice/b/sims")["find_the_center_sim"]["active"]
    assert len({item["sim_id"] for item in active}) == 2

    def run(index: int) -> None:
        results[index] = play_find_the_center(sims[index], episodes=120, seed=index)

    threads = [threading.Thread(target=run, args=(index,)) for index in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    for sim in sims:
        sim.close()
    total = sum(len(result["rewards"]) for result in results.values())
    assert all(len(result["rewards"]) >= 120 for result in results.values())
    wait_for(lambda: api.status()["episode"] == total, timeout=30)
    points = api.get("/v1/alice/b/1/metrics/episode_value")
    assert Counter(point["value"] for point in points) == Counter(
        value for result in results.values() for value in result["rewards"]
    )
    assert [point["episode"] for point in points] == list(range(1, total + 1))


def test_stop_and_resume_continue_the_counters(api: Api) -> None:
    api.start()
    sim = api.sim()
    sim.register()
    first = play_find_the_center(sim, iterations=1500)
    sim.close()
    wait_for(lambda: api.status()["episode"] == len(first["rewards"]), timeout=30)
    assert api.put("/v1/alice/b/stop").status_code == 200
    stopped = api.status()
    assert stopped["state"] == "Stopped" and stopped["checkpoint_iteration"] >= 1000
    assert api.put("/v1/alice/b/1/resume", {}).json()["version"] == 1
    wait_for(lambda: api.status()["state"] == "In Progress", timeout=120)
    sim = api.sim()
    sim.register()
    second = play_find_the_center(sim, episodes=20)
    sim.close()
    total = len(first["rewards"]) + len(second["rewards"])
    status = wait_for(lambda: (status := api.status())["episode"] == total and status, timeout=30)
    assert status["version"] == 1 and status["iteration"] == first["steps"] + second["steps"]
    points = api.get("/v1/alice/b/1/metrics/episode_value")
    assert [point["episode"] for point in points] == list(range(1, total + 1))
    assert api.put("/v1/alice/b/stop").status_code == 200


def test_delete_while_training_finishes_sims(api: Api) -> None:
    api.start()
    sim = api.sim()
    sim.register()
    sim.send(pb.READY)
    predictor = api.sim(path="latest/predictions/ws")
    predictor.send(pb.REGISTER)
    assert api.http.delete("/v1/alice/b").status_code == 200
    reply = sim.send(pb.READY)
    assert reply.message_type == pb.FINISHED and reply.sim_id == sim.sim_id
    assert sim.close_code(timeout=10) == 1000
    assert predictor.close_code(timeout=10) == 4004
    assert api.http.get("/v1/alice/b").status_code == 404


def test_max_iterations_completes_and_sims_get_finished(api: Api) -> None:
    """Auto-termination (spec §4.8.5): Completed, final checkpoint, FINISHED; Completed can be resumed."""
    source = (
        PROJECT["find_the_center.ink"]
        .decode()
        .replace(
            "    objective time_at_goal\n",
            "    objective time_at_goal\n    using algorithm PPO\n        max_iterations => 300\n    end\n",
        )
    )
    create_brain(api.http, api.holder, "b", {**PROJECT, "find_the_center.ink": source.encode()})
    assert api.put("/v1/alice/b/train", {}).status_code == 200
    wait_for(lambda: api.status()["state"] == "In Progress", timeout=120)
    sim = api.sim()
    sim.register()
    result = play_find_the_center(sim, iterations=100000)
    assert sim.received[-1].message_type == pb.FINISHED
    assert sim.close_code(timeout=15) == 1000
    status = wait_for(lambda: (found := api.status())["state"] == "Completed" and found, timeout=60)
    assert status["iteration"] == result["steps"] >= 300
    assert status["checkpoint_iteration"] == status["iteration"]
    assert api.put("/v1/alice/b/1/resume", {}).status_code == 200
    wait_for(lambda: api.status()["state"] == "In Progress", timeout=120)
    assert api.put("/v1/alice/b/stop").status_code == 200


def trainer_pids() -> list[int]:
    """Trainer processes started by this test process's live server."""
    import os
    from pathlib import Path

    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (entry / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if parent == os.getpid() and b"crucible.engines.rl.trainer_process" in command:
            found.append(int(entry.name))
    return found


def test_a_crashed_trainer_restarts_once_then_the_version_errors(api: Api) -> None:
    import os
    import signal

    api.start()
    sim = api.sim()
    sim.register()
    first = play_find_the_center(sim, iterations=300)
    (pid,) = trainer_pids()
    os.kill(pid, signal.SIGKILL)
    second = play_find_the_center(sim, episodes=5)  # held sims carry on with the restarted trainer
    assert len(second["rewards"]) == 5
    status = wait_for(
        lambda: (found := api.status())["episode"] == len(first["rewards"]) + 5 and found, timeout=60
    )
    assert status["state"] == "In Progress"
    (pid,) = wait_for(trainer_pids, timeout=60)
    os.kill(pid, signal.SIGKILL)
    status = wait_for(lambda: (found := api.status())["state"] == "Error" and found, timeout=60)
    assert "crashed twice" in status["error"]
    reply = sim.send(pb.READY)
    assert reply.message_type == pb.FINISHED
    sim.close()
