"""CartPole-v1 to a mean episode reward of 475: a Bonsai brain fed by bonsai-ai simulators, against
Stable-Baselines3 training on the local environment with the same algorithm and hyperparameters.

Ours: a real server process (`crucible serve`, SQLite), the `demos/cartpole` brain (PPO, the spec's
defaults), and the template simulator `cartpole_sim.py` (gymnasium CartPole-v1 inside bonsai-ai 2.0.20,
in the compat virtualenv of spec §6). "Solved" is the first test pass (3 deterministic episodes, the
spec's §4.8.5) with a mean of at least 475; then training stops and 20 prediction episodes run with
`--predict` against the best model. Budget: 100,000 iterations. Also run with two simulators at once
on a second brain. While training, /healthz and /v1/alice/cp/status are polled to measure latency.

Baseline: `PPO("MlpPolicy", gymnasium.make("CartPole-v1"), same hyperparameters)`, learning in this
process, with the same stopping rule (after every 20 training episodes, 3 deterministic episodes).

Targets: at most 2x the environment steps and 3x the wall-clock of local training; the API answers
within 50 ms at p99 while a brain trains.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import httpx
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.report import markdown_table, percentile_ms, write_section
from tests.compat.bonsai.conftest import TEMPLATES, client_env, client_venv
from tests.conftest import free_port

BUDGET = 100_000
SOLVED = 475.0
PPO_KWARGS: dict[str, Any] = {
    "n_steps": 2048,
    "batch_size": 64,
    "n_epochs": 10,
    "learning_rate": 3e-4,
    "gamma": 0.99,
    "gae_lambda": 0.95,
    "clip_range": 0.2,
    "policy_kwargs": {"net_arch": [64, 64], "activation_fn": torch.nn.Tanh},
}


def local_baseline(seed: int) -> dict[str, float]:
    """SB3 PPO on the local environment until 3 deterministic episodes average 475 (checked every 20 episodes)."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback

    torch.set_num_threads(1)
    evaluation = gym.make("CartPole-v1")

    class StopWhenSolved(BaseCallback):
        def __init__(self) -> None:
            super().__init__()
            self.episodes = 0
            self.solved_at: int | None = None

        def _on_step(self) -> bool:
            if not self.locals["dones"][0]:
                return True
            self.episodes += 1
            if self.episodes % 20:
                return True
            values = []
            for _ in range(3):
                observation, _ = evaluation.reset()
                total, done = 0.0, False
                while not done:
                    action, _ = self.model.predict(observation, deterministic=True)
                    observation, reward, terminated, truncated, _ = evaluation.step(int(action))
                    total += float(reward)
                    done = terminated or truncated
                values.append(total)
            if statistics.mean(values) >= SOLVED:
                self.solved_at = self.num_timesteps
                return False
            return True

    started = time.perf_counter()
    model = PPO("MlpPolicy", gym.make("CartPole-v1"), seed=seed, device="cpu", **PPO_KWARGS)
    callback = StopWhenSolved()
    model.learn(BUDGET, callback=callback)
    return {
        "steps": float(callback.solved_at or BUDGET),
        "seconds": time.perf_counter() - started,
        "solved": float(callback.solved_at is not None),
    }


class Server:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.data = root / "data"
        repo = Path(__file__).resolve().parent.parent
        crucible = [sys.executable, "-m", "crucible.cli"]
        run = {"cwd": repo, "check": True, "capture_output": True, "text": True}
        subprocess.run(
            [
                *crucible,
                "user",
                "create",
                "--data-dir",
                str(self.data),
                "--username",
                "alice",
                "--email",
                "a@example.org",
                "--password",
                "bench-password-1",
            ],
            **run,
        )  # type: ignore[call-overload]
        self.key = subprocess.run(
            [*crucible, "accesskey", "create", "alice", "--data-dir", str(self.data)], **run
        ).stdout.strip()  # type: ignore[call-overload]
        self.log = (root / "server.log").open("wb")
        self.process = subprocess.Popen(
            [*crucible, "serve", "--data-dir", str(self.data), "--port", str(self.port)],
            cwd=repo,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.http = httpx.Client(base_url=self.url, headers={"Authorization": self.key}, timeout=60)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if self.http.get("/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        self.home = root / "home"
        self.home.mkdir()
        (self.home / ".bonsai").write_text(
            f"[DEFAULT]\nurl = {self.url}\nusername = alice\naccesskey = {self.key}\n"
        )

    def status(self, brain: str) -> dict[str, Any]:
        return self.http.get(f"/v1/alice/{brain}/status").json()

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=60)


def poll_latency(server: Server, brain: str, stop: threading.Event, samples: dict[str, list[float]]) -> None:
    with httpx.Client(base_url=server.url, headers={"Authorization": server.key}, timeout=30) as client:
        while not stop.wait(0.05):
            for name, path in (("healthz", "/healthz"), ("status", f"/v1/alice/{brain}/status")):
                started = time.perf_counter()
                client.get(path)
                samples[name].append(time.perf_counter() - started)


def bonsai_run(server: Server, brain: str, sims: int, seed: int, sdk: Path) -> dict[str, Any]:
    project = server.root / f"project-{brain}"
    shutil.copytree(TEMPLATES / "cartpole", project, ignore=shutil.ignore_patterns("__*"))
    assert (
        server.http.post(
            "/v1/alice/brains", json={"name": brain, "project_type": "demos/cartpole"}
        ).status_code
        == 201
    )
    started = time.perf_counter()
    assert server.http.put(f"/v1/alice/{brain}/train", json={}).status_code == 200
    while server.status(brain)["state"] != "In Progress":
        time.sleep(0.2)
    ready = time.perf_counter()
    command = [str(sdk / "python"), "cartpole_sim.py", "--brain", brain, "--max-iterations", str(BUDGET)]
    processes = [
        subprocess.Popen(
            [*command, "--seed", str(seed + index)],
            cwd=project,
            env=client_env(server.home),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for index in range(sims)
    ]
    latencies: dict[str, list[float]] = {"healthz": [], "status": []}
    stop = threading.Event()
    poller = threading.Thread(target=poll_latency, args=(server, brain, stop, latencies), daemon=True)
    poller.start()
    solved_at = None
    while True:
        time.sleep(5)
        status = server.status(brain)
        if (status["best_test_pass_value"] or 0) >= SOLVED:
            solved_at = status["iteration"]
            break
        if status["iteration"] >= BUDGET or all(process.poll() is not None for process in processes):
            break
    solved_seconds = time.perf_counter() - started
    stop.set()
    poller.join()
    for process in processes:
        process.terminate()
        process.wait(timeout=60)
    final = server.status(brain)
    server.http.put(f"/v1/alice/{brain}/stop")
    prediction = subprocess.run(
        [str(sdk / "python"), "cartpole_sim.py", "--brain", brain, "--predict", "--episodes", "20"],
        cwd=project,
        env=client_env(server.home),
        capture_output=True,
        text=True,
        timeout=1800,
    )
    line = [item for item in prediction.stdout.splitlines() if item.startswith('{"rewards"')][-1]
    rewards = json.loads(line)["rewards"]
    return {
        "steps": float(solved_at or final["iteration"]),
        "seconds": solved_seconds,
        "trainer_start_seconds": ready - started,
        "solved": solved_at is not None,
        "prediction_mean": statistics.mean(rewards),
        "latency": latencies,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    arguments = parser.parse_args()
    sdk = client_venv("sdk2020")
    baseline = local_baseline(arguments.seed)
    print("local SB3 PPO:", baseline, flush=True)
    with tempfile.TemporaryDirectory(prefix="bonsai-cartpole-") as folder:
        server = Server(Path(folder))
        try:
            one = bonsai_run(server, "cp", 1, arguments.seed, sdk)
            print(
                "bonsai, 1 simulator:",
                {key: value for key, value in one.items() if key != "latency"},
                flush=True,
            )
            two = bonsai_run(server, "cp2", 2, arguments.seed, sdk)
            print(
                "bonsai, 2 simulators:",
                {key: value for key, value in two.items() if key != "latency"},
                flush=True,
            )
        finally:
            server.close()
    rows = [
        [
            "SB3 PPO, local env",
            f"{baseline['steps']:,.0f}",
            f"{baseline['seconds']:.1f}",
            "–",
            "1.00 / 1.00",
            "yes" if baseline["solved"] else "no",
        ],
    ]
    for label, result in (("Bonsai brain, 1 bonsai-ai sim", one), ("Bonsai brain, 2 sims at once", two)):
        rows.append(
            [
                label,
                f"{result['steps']:,.0f}",
                f"{result['seconds']:.1f}",
                f"{result['prediction_mean']:.1f}",
                f"{result['steps'] / baseline['steps']:.2f} / {result['seconds'] / baseline['seconds']:.2f}",
                "yes" if result["solved"] else "no",
            ]
        )
    latency_rows = [
        [name, str(len(samples)), f"{percentile_ms(samples, 50):.1f}", f"{percentile_ms(samples, 99):.1f}"]
        for name, samples in one["latency"].items()
        if samples
    ]
    body = (
        "Steps and wall-clock until the first test pass (3 deterministic episodes) averages ≥ 475, "
        f"budget {BUDGET:,} steps; then 20 prediction episodes with `--predict` (bonsai-ai 2.0.20) against the best model. "
        "Wall-clock for the brain runs from `train` (trainer process start included) to the status poll that saw the solve "
        "(polled every 5 s). Targets: ≤ 2x the steps, ≤ 3x the wall-clock of local training.\n\n"
        + markdown_table(
            ["run", "steps to solve", "seconds", "mean of 20 predictions", "steps / time vs local", "solved"],
            rows,
        )
        + "\n\nAPI latency while the 1-simulator brain trained (sequential requests every 50 ms; target p99 ≤ 50 ms):\n\n"
        + markdown_table(["request", "count", "p50 ms", "p99 ms"], latency_rows)
        + f"\n\nSeed {arguments.seed}. Load from other processes on the machine was not controlled."
    )
    write_section("bonsai_cartpole", "Bonsai: CartPole-v1 to 475 against local Stable-Baselines3 PPO", body)


if __name__ == "__main__":
    main()
