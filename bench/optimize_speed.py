"""How fast is one TPE suggestion? Engine-only time at 100, 1,000 and 5,000 observations.

Baseline: Optuna's in-process TPE `study.ask()` (TPESampler with default settings, seeded) on a study
holding the same history, added with `optuna.trial.create_trial` + `study.add_trials`. The space has
5 mixed parameters: uniform, loguniform, uniform with an integer step, normal, categorical. Optuna has
no normal distribution; its study uses a plain float over the same bounds. Writes its section of
docs/benchmarks.md.

    .venv/bin/python bench/optimize_speed.py [--repeats 200] [--optuna-repeats 40] [--no-write]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout, installed or not

from bench.report import markdown_table, write_section
from crucible.engines.optimize import (
    CategoricalParam,
    NumericParam,
    Observation,
    SearchSpace,
    sample_prior,
    suggest,
)

SIZES = (100, 1_000, 5_000)
OPTUNA_WARM_UP = 3  # asks not timed: the first ones pay for lazy imports and caches
ACTIVATIONS = ["relu", "tanh", "gelu", "silu"]
SPACE = SearchSpace(
    [
        NumericParam("x", "uniform", low=-5, high=5),
        NumericParam("lr", "loguniform", low=1e-5, high=1e-1),
        NumericParam("units", "uniform", low=16, high=512, step=1),
        NumericParam("momentum", "normal", mu=0.9, sigma=0.05, low=0, high=1),
        CategoricalParam("activation", ACTIVATIONS),
    ]
)
OPTUNA_SPACE = {
    "x": FloatDistribution(-5, 5),
    "lr": FloatDistribution(1e-5, 1e-1, log=True),
    "units": IntDistribution(16, 511),
    "momentum": FloatDistribution(0, 1),
    "activation": CategoricalDistribution(ACTIVATIONS),
}


def history(size: int) -> list[Observation]:
    rng = np.random.default_rng(size)
    return [Observation(sample_prior(SPACE, rng), float(rng.normal())) for _ in range(size)]


def time_crucible(observations: list[Observation], repeats: int) -> list[float]:
    timings = []
    for seed in range(repeats):
        started = time.perf_counter()
        answer = suggest(SPACE, observations, "parzen_estimator", seed=seed)
        timings.append(time.perf_counter() - started)
        assert answer.optimizer_used == "parzen_estimator", "a fallback would time the wrong thing"
    return timings


def time_optuna(observations: list[Observation], repeats: int) -> list[float]:
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0))
    study.add_trials(
        [
            optuna.trial.create_trial(params=dict(o.params), distributions=OPTUNA_SPACE, value=o.loss)
            for o in observations
        ]
    )
    timings = []
    for attempt in range(OPTUNA_WARM_UP + repeats):
        started = time.perf_counter()
        trial = study.ask(OPTUNA_SPACE)
        elapsed = time.perf_counter() - started
        study.tell(trial, state=optuna.trial.TrialState.FAIL)  # TPE ignores failed trials: same history
        if attempt >= OPTUNA_WARM_UP:
            timings.append(elapsed)
    return timings


def milliseconds(timings: list[float]) -> tuple[float, float]:
    p50, p99 = np.percentile(timings, [50, 99])
    return p50 * 1e3, p99 * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=200, help="suggestions timed per size (Crucible)")
    parser.add_argument("--optuna-repeats", type=int, default=40, help="asks timed per size (Optuna)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    rows = []
    for size in SIZES:
        observations = history(size)
        time_crucible(observations, 50)  # warm-up: imports, caches, CPU frequency
        ours = milliseconds(time_crucible(observations, args.repeats))
        theirs = milliseconds(time_optuna(observations, args.optuna_repeats))
        rows.append(
            [
                f"{size:,}",
                f"{ours[0]:.2f}",
                f"{ours[1]:.2f}",
                f"{theirs[0]:.1f}",
                f"{theirs[1]:.1f}",
                f"{theirs[0] / ours[0]:.1f}x",
            ]
        )
        print(rows[-1], flush=True)
    header = [
        "observations",
        "crucible p50 (ms)",
        "crucible p99 (ms)",
        "Optuna ask p50 (ms)",
        "Optuna ask p99 (ms)",
        "p50 ratio (Optuna / crucible)",
    ]
    table = markdown_table(header, rows)
    print()
    print(table)

    body = f"""Engine-only time of one `suggest(space, observations, "parzen_estimator", seed=...)` (reference settings,
including the filtering of the observations) against the baseline **Optuna TPESampler `study.ask()`**
(default settings, seeded) on a study holding the same history, both in the same process. Space: uniform,
loguniform, uniform with step 1, normal with bounds, categorical (4 values). Crucible timed over
{args.repeats} suggestions per size, Optuna over {args.optuna_repeats} asks.

{table}

"""
    if not args.no_write:
        write_section("optimize_speed", "Optimisation engine: suggest speed", body)
        print("\nwrote the optimize_speed section of docs/benchmarks.md")


if __name__ == "__main__":
    main()
