"""Suggest latency over HTTP (TPE, 5-parameter mixed space) against Optuna's in-process TPE ask.

Baseline: `optuna.create_study(sampler=TPESampler()).ask(distributions)` on a study holding the same
history, in this process. Ours: POST /api/algos/<id>/suggest/ to a real server process (uvicorn, one
worker, SQLite), with keep-alive, so the figure includes HTTP, auth, loading the trials and the engine.
Target (issue 2): at 1,000 trials our HTTP suggest is at least 3x faster than Optuna's ask.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import optuna

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.report import markdown_table, percentile_ms, write_section

SIZES = (100, 1000, 5000)
REQUESTS = 200
OPTUNA_ASKS = 60
PASSWORD = "bench-password-1"
PARAMETERS = [
    {"name": "x", "category": "uniform", "search_space": {"low": 0, "high": 10}},
    {"name": "lr", "category": "loguniform", "search_space": {"low": 1e-5, "high": 1e-1}},
    {"name": "units", "category": "uniform", "search_space": {"low": 1, "high": 100, "step": 1}},
    {"name": "z", "category": "normal", "search_space": {"mu": 0, "sigma": 1, "low": -5, "high": 5}},
    {"name": "act", "category": "categorical", "search_space": {"values": ["relu", "tanh", "elu", "gelu"]}},
]
DISTRIBUTIONS = {
    "x": optuna.distributions.FloatDistribution(0, 10),
    "lr": optuna.distributions.FloatDistribution(1e-5, 1e-1, log=True),
    "units": optuna.distributions.IntDistribution(1, 99),
    "z": optuna.distributions.FloatDistribution(-5, 5),
    "act": optuna.distributions.CategoricalDistribution(["relu", "tanh", "elu", "gelu"]),
}


def history(size: int, rng: np.random.Generator) -> list[tuple[dict[str, object], float]]:
    trials = []
    for _ in range(size):
        params = {
            "x": float(rng.uniform(0, 10)),
            "lr": float(10 ** rng.uniform(-5, -1)),
            "units": int(rng.integers(1, 100)),
            "z": float(np.clip(rng.normal(), -5, 5)),
            "act": str(rng.choice(["relu", "tanh", "elu", "gelu"])),
        }
        loss = (
            (params["x"] - 3) ** 2
            + abs(np.log10(params["lr"]) + 3)
            + params["units"] / 100
            + params["z"] ** 2
        )
        trials.append((params, float(loss)))
    return trials


def start_server(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "CRUCIBLE_DATA_DIR": str(data_dir),
        "CRUCIBLE_PORT": str(port),
        "CRUCIBLE_LOG_LEVEL": "WARNING",
    }
    env.pop("CRUCIBLE_DATABASE_URL", None)
    subprocess.run(
        [sys.executable, "-m", "crucible.cli", "db", "upgrade"], env=env, check=True, capture_output=True
    )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "crucible.cli",
            "user",
            "create",
            "--username",
            "bench",
            "--email",
            "bench@example.org",
            "--password",
            PASSWORD,
        ],
        env=env,
        check=True,
        capture_output=True,
    )
    server = subprocess.Popen(
        [sys.executable, "-m", "crucible.cli", "serve"], env=env, stdout=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                return server
        except httpx.TransportError:
            time.sleep(0.1)
    server.kill()
    raise RuntimeError("server did not start")


def measure_http(client: httpx.Client, algo_id: str) -> list[float]:
    for _ in range(10):  # warm up
        client.post(f"/api/algos/{algo_id}/suggest/", json={"metric": "loss"})
    samples = []
    for _ in range(REQUESTS):
        start = time.perf_counter()
        response = client.post(
            f"/api/algos/{algo_id}/suggest/", json={"metric": "loss", "minimum_observations": 20}
        )
        samples.append(time.perf_counter() - start)
        assert (
            response.status_code == 200 and response.headers["X-Bender-Optimizer-Used"] == "parzen_estimator"
        )
    return samples


def measure_optuna(trials: list[tuple[dict[str, object], float]]) -> list[float]:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0))
    study.add_trials(
        [optuna.trial.create_trial(params=p, distributions=DISTRIBUTIONS, value=v) for p, v in trials]
    )
    samples = []
    for _ in range(OPTUNA_ASKS):
        start = time.perf_counter()
        study.ask(DISTRIBUTIONS)
        samples.append(time.perf_counter() - start)
    return samples


def main() -> None:
    from tests.conftest import free_port

    rng = np.random.default_rng(0)
    rows = []
    with tempfile.TemporaryDirectory() as directory:
        port = free_port()
        server = start_server(Path(directory), port)
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
                token = client.post("/login/", json={"username": "bench", "password": PASSWORD}).json()[
                    "token"
                ]
                client.headers["Authorization"] = f"JWT {token}"
                experiment = client.post(
                    "/api/experiments/",
                    json={"name": "bench", "metrics": [{"metric_name": "loss", "type": "loss"}]},
                ).json()
                for size in SIZES:
                    algo = client.post(
                        "/api/algos/",
                        json={
                            "name": f"algo-{size}",
                            "experiment": experiment["id"],
                            "parameters": PARAMETERS,
                        },
                    ).json()
                    trials = history(size, rng)
                    for params, loss in trials:
                        client.post(
                            "/api/trials/",
                            content=json.dumps(
                                {"algo": algo["id"], "parameters": params, "results": {"loss": loss}}
                            ),
                        )
                    ours = measure_http(client, algo["id"])
                    theirs = measure_optuna(trials)
                    ratio = percentile_ms(theirs, 50) / percentile_ms(ours, 50)
                    rows.append(
                        [
                            f"{size:,}",
                            f"{percentile_ms(ours, 50):.2f}",
                            f"{percentile_ms(ours, 99):.2f}",
                            f"{percentile_ms(theirs, 50):.2f}",
                            f"{percentile_ms(theirs, 99):.2f}",
                            f"{ratio:.1f}x",
                        ]
                    )
                    print(" | ".join(rows[-1]), flush=True)
        finally:
            server.terminate()
            server.wait(timeout=20)
    table = markdown_table(
        [
            "completed trials",
            "HTTP suggest p50 (ms)",
            "HTTP suggest p99 (ms)",
            "Optuna ask p50 (ms)",
            "Optuna ask p99 (ms)",
            "speed-up at p50",
        ],
        rows,
    )
    body = (
        "TPE (`parzen_estimator`) suggest over HTTP on a 5-parameter mixed space (uniform, loguniform, integer "
        "grid, truncated normal, categorical), one server process on SQLite, against Optuna's own TPE `ask()` "
        f"in process on the same history. {REQUESTS} HTTP requests and {OPTUNA_ASKS} Optuna asks per size. "
        "Target: at least 3x faster than Optuna at 1,000 trials.\n\n" + table
    )
    write_section("suggest_latency", "Suggest latency: HTTP TPE vs Optuna in-process", body)


if __name__ == "__main__":
    main()
