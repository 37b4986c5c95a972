"""Simulator steps per second through the Bonsai protocol (policy inference included), with 1 and 8
simulators, against a bare websocket echo exchanging messages of the same sizes in lock-step.

Ours: a real server process (`crucible serve`, SQLite) training a cartpole-shaped brain (4 x Float32
state, Int8{0, 1} action). Each simulator is a client process speaking the protobuf protocol with
the `websockets` library; its environment is trivial (a fixed state, 200-step episodes) so the figure
is the server's: websocket, protobuf, the hop to the trainer process and the policy's forward pass.
Two brains are measured: one whose PPO never updates during the run (`samples_per_train` larger than
the run: protocol and inference only) and one with the default PPO (updates every 2,048 steps, the
simulators held meanwhile).

Baseline: a uvicorn process (same server stack) whose websocket answers every STATE-sized message
with a PREDICTION-sized one, driven by the same client processes with the same encoding work.

Target: at least 50% of the echo's steps per second with 1 and with 8 simulators.
"""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.report import markdown_table, write_section
from tests.conftest import free_port

DURATION = 15.0
WARMUP = 3.0
EPISODE_STEPS = 200
INK = (
    Path(__file__).resolve().parent.parent / "crucible/dialects/bonsai/templates/cartpole/cartpole.ink"
).read_text()
NO_UPDATES = INK.replace(
    "    objective open_ai_gym_default_objective\n",
    "    objective open_ai_gym_default_objective\n    using algorithm PPO\n        samples_per_train => 10000000\n    end\n",
)
ECHO_APP = textwrap.dedent(
    """
    from starlette.applications import Starlette
    from starlette.routing import WebSocketRoute
    from crucible.dialects.bonsai import messages as pb

    reply = pb.ServerToSimulator(message_type=pb.PREDICTION, sim_id=123456789)
    reply.prediction_data.add(dynamic_prediction=bytes([8, 1]))
    REPLY = reply.SerializeToString()

    async def echo(websocket):
        await websocket.accept()
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            await websocket.send_bytes(REPLY)

    app = Starlette(routes=[WebSocketRoute("/echo", echo)])
    """
)


def simulator(url: str, key: str, echo: bool, window: Any, ready: Any, go: Any, results: Any) -> None:
    """One client process: lock-step STATE -> reply; counts the steps inside the window that the
    parent sets once every simulator has connected."""
    from websockets.sync.client import connect

    from crucible.dialects.bonsai import messages as pb
    from crucible.dialects.bonsai.inkling import PayloadCodec, compile_inkling

    curriculum = compile_inkling(INK).program.curriculum  # type: ignore[union-attr]
    state = PayloadCodec(curriculum.state_schema).encode(
        {"position": 0.01, "velocity": -0.02, "angle": 0.03, "rotation": 0.04}
    )
    action = PayloadCodec(curriculum.action_schema)
    headers = {"Authorization": key}
    counted = 0
    with connect(
        url, additional_headers=headers, max_size=None, ping_interval=None, compression=None
    ) as socket:
        ready.put(1)
        go.wait()
        start_at, stop_at = window[0], window[1]

        def exchange(
            kind: int, sim_id: int, reward: float = 0.0, terminal: bool = False, with_state: bool = False
        ) -> object:
            message = pb.SimulatorToServer(message_type=kind, sim_id=sim_id)
            if kind == pb.REGISTER:
                message.register_data.simulator_name = "the_simulator"
            if with_state:
                message.state_data.add(state=state, reward=reward, terminal=terminal)
            socket.send(message.SerializeToString())
            reply = pb.ServerToSimulator()
            reply.ParseFromString(socket.recv())
            return reply

        if echo:
            while time.time() < stop_at:
                reply = exchange(pb.STATE, 1, 1.0, False, True)
                action.decode(reply.prediction_data[0].dynamic_prediction)  # type: ignore[attr-defined]
                if start_at <= time.time() < stop_at:
                    counted += 1
        else:
            sim_id = exchange(pb.REGISTER, 0).sim_id  # type: ignore[attr-defined]
            reply = exchange(pb.READY, sim_id)
            steps = 0
            while time.time() < stop_at:
                kind = reply.message_type  # type: ignore[attr-defined]
                if kind in (pb.SET_PROPERTIES, pb.RESET, pb.STOP):
                    reply = exchange(pb.READY, sim_id)
                elif kind == pb.START:
                    steps = 0
                    reply = exchange(pb.STATE, sim_id, 0.0, False, True)
                elif kind == pb.PREDICTION:
                    action.decode(reply.prediction_data[0].dynamic_prediction)  # type: ignore[attr-defined]
                    steps += 1
                    reply = exchange(pb.STATE, sim_id, 1.0, steps >= EPISODE_STEPS, True)
                    if start_at <= time.time() < stop_at:
                        counted += 1
                else:
                    break
    results.put(counted)


def measure(url: str, key: str, echo: bool, sims: int) -> float:
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    ready = context.Queue()
    go = context.Event()
    window = context.Array("d", 2)
    processes = [
        context.Process(target=simulator, args=(url, key, echo, window, ready, go, results))
        for _ in range(sims)
    ]
    for process in processes:
        process.start()
    for _ in processes:
        ready.get(timeout=300)
    window[0] = time.time() + WARMUP
    window[1] = window[0] + DURATION
    go.set()
    total = sum(results.get(timeout=DURATION + 300) for _ in processes)
    for process in processes:
        process.join(timeout=60)
    return total / DURATION


def main() -> None:
    repo = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory(prefix="bonsai-throughput-") as folder:
        root = Path(folder)
        (root / "echo_app.py").write_text(ECHO_APP)
        echo_port = free_port()
        echo = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "echo_app:app",
                "--port",
                str(echo_port),
                "--ws-ping-interval",
                "0",
                "--log-level",
                "warning",
            ],
            cwd=root,
            env={"PYTHONPATH": f"{root}:{repo}", "PATH": "/usr/bin:/bin"},
        )
        port = free_port()
        data = root / "data"
        crucible = [sys.executable, "-m", "crucible.cli"]
        subprocess.run(
            [
                *crucible,
                "user",
                "create",
                "--data-dir",
                str(data),
                "--username",
                "alice",
                "--email",
                "a@example.org",
                "--password",
                "bench-password-1",
            ],
            cwd=repo,
            check=True,
            capture_output=True,
        )
        key = subprocess.run(
            [*crucible, "accesskey", "create", "alice", "--data-dir", str(data)],
            cwd=repo,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        log = (root / "server.log").open("wb")
        server = subprocess.Popen(
            [*crucible, "serve", "--data-dir", str(data), "--port", str(port)],
            cwd=repo,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        http = httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": key}, timeout=60)
        try:
            for _ in range(600):
                try:
                    if http.get("/healthz").status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.2)
            rows = []
            for brain, source in (("inference", NO_UPDATES), ("training", INK)):
                http.post("/v1/alice/brains", json={"name": brain})
                http.put(
                    f"/v1/alice/{brain}?file=cartpole.ink",
                    content=source.encode(),
                    headers={"Content-Type": "text/x-inkling"},
                )
                for sims in (1, 8):
                    assert http.put(f"/v1/alice/{brain}/train", json={}).status_code == 200, brain
                    while http.get(f"/v1/alice/{brain}/status").json()["state"] != "In Progress":
                        time.sleep(0.2)
                    ours = measure(f"ws://127.0.0.1:{port}/v1/alice/{brain}/sims/ws", key, False, sims)
                    http.put(f"/v1/alice/{brain}/stop")
                    bare = measure(f"ws://127.0.0.1:{echo_port}/echo", key, True, sims)
                    label = (
                        "no updates (protocol + inference)"
                        if brain == "inference"
                        else "default PPO (updates every 2,048 steps)"
                    )
                    rows.append([label, str(sims), f"{bare:,.0f}", f"{ours:,.0f}", f"{ours / bare:.0%}"])
                    print(rows[-1], flush=True)
        finally:
            server.terminate()
            echo.terminate()
            server.wait(timeout=60)
            echo.wait(timeout=60)
    body = (
        f"Each figure: steps counted over {DURATION:.0f} s after a {WARMUP:.0f} s warm-up, summed over the simulator processes. "
        f"Ours counts STATE → PREDICTION/STOP transitions of {EPISODE_STEPS}-step episodes (the 4 READY exchanges between "
        "episodes are extra round trips, not counted); the echo counts request/reply pairs. Target: ≥ 50% of the echo.\n\n"
        + markdown_table(["brain", "simulators", "bare echo steps/s", "Bonsai steps/s", "ratio"], rows)
        + "\n\nLoad from other processes on the machine was not controlled."
    )
    write_section(
        "bonsai_throughput", "Bonsai: simulator steps per second against a bare websocket echo", body
    )


if __name__ == "__main__":
    main()
