"""How good are the engine's optimisers? Median best value after 100 trials on Branin and Hartmann6.

Baseline: Optuna's TPESampler with default settings (seeded), measured in the same run. Every sampler
gets the same budget; Crucible's optimisers start with 10 random trials, as Optuna's TPE does
(n_startup_trials=10). Writes its section of docs/benchmarks.md.

    .venv/bin/python bench/optimize_quality.py [--seeds 40] [--trials 100] [--without-gp] [--no-write]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import optuna

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout, installed or not

from bench.report import markdown_table, write_section
from crucible.engines.optimize import NumericParam, Observation, SearchSpace, suggest

STARTUP_TRIALS = 10
# Chosen on seeds 0-19 among a few combinations, then checked on seeds 20-39 (the default run covers both).
TUNED_TPE = {"candidates_from": "below", "pick": "best", "multivariate": True}


def branin(x: list[float]) -> float:
    x1, x2 = x
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


_HARTMANN_A = np.array(
    [
        [10, 3, 17, 3.5, 1.7, 8],
        [0.05, 10, 17, 0.1, 8, 14],
        [3, 3.5, 1.7, 10, 17, 8],
        [17, 8, 0.05, 10, 0.1, 14],
    ]
)
_HARTMANN_P = 1e-4 * np.array(
    [
        [1312, 1696, 5569, 124, 8283, 5886],
        [2329, 4135, 8307, 3736, 1004, 9991],
        [2348, 1451, 3522, 2883, 3047, 6650],
        [4047, 8828, 8732, 5743, 1091, 381],
    ]
)
_HARTMANN_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])


def hartmann6(x: list[float]) -> float:
    inner = np.sum(_HARTMANN_A * (np.asarray(x) - _HARTMANN_P) ** 2, axis=1)
    return float(-np.sum(_HARTMANN_ALPHA * np.exp(-inner)))


# name: (function, bounds per dimension, known minimum)
PROBLEMS: dict[str, tuple[Callable[[list[float]], float], list[tuple[float, float]], float]] = {
    "Branin (2-D)": (branin, [(-5.0, 10.0), (0.0, 15.0)], 0.397887),
    "Hartmann6 (6-D)": (hartmann6, [(0.0, 1.0)] * 6, -3.32237),
}


def run_crucible(problem: str, seed: int, trials: int, optimizer: str, options: dict | None) -> float:
    function, bounds, _ = PROBLEMS[problem]
    names = [f"x{i}" for i in range(len(bounds))]
    params = [NumericParam(n, "uniform", low=lo, high=hi) for n, (lo, hi) in zip(names, bounds, strict=True)]
    space = SearchSpace(params)
    observations: list[Observation] = []
    for t in range(trials):
        name = optimizer if t >= STARTUP_TRIALS else "random"
        answer = suggest(
            space, observations, name, seed=seed * 100_003 + t, options=options if name != "random" else None
        )
        observations.append(Observation(answer.values, function([answer.values[n] for n in names])))
    return min(o.loss for o in observations)


def run_optuna(problem: str, seed: int, trials: int, **sampler_settings) -> float:
    function, bounds, _ = PROBLEMS[problem]
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed, **sampler_settings))
    study.optimize(
        lambda trial: function([trial.suggest_float(f"x{i}", lo, hi) for i, (lo, hi) in enumerate(bounds)]),
        n_trials=trials,
    )
    return study.best_value


BASELINE = "Optuna TPESampler (default)"
REFERENCE = "crucible parzen_estimator (reference settings)"
TUNED = "crucible parzen_estimator (tuned options)"
GP = "crucible gaussian_process"


def tpe(options: dict | None) -> Callable[[str, int, int], float]:
    return lambda problem, seed, trials: run_crucible(problem, seed, trials, "parzen_estimator", options)


SAMPLERS: dict[str, Callable[[str, int, int], float]] = {
    REFERENCE: tpe(None),
    # Ablation: which departures from the reference buy the quality back.
    "… + candidates drawn from l": tpe({"candidates_from": "below"}),
    "… + best candidate picked": tpe({"pick": "best"}),
    "… + both (still univariate)": tpe({"candidates_from": "below", "pick": "best"}),
    TUNED: tpe(TUNED_TPE),
    GP: lambda problem, seed, trials: run_crucible(problem, seed, trials, "gaussian_process", None),
    "crucible random": lambda problem, seed, trials: run_crucible(problem, seed, trials, "random", None),
    BASELINE: lambda problem, seed, trials: run_optuna(problem, seed, trials),
    "Optuna TPESampler (multivariate=False)": lambda problem, seed, trials: run_optuna(
        problem, seed, trials, multivariate=False
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=40)
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    parser.add_argument("--without-gp", action="store_true", help="skip gaussian_process, the slow one")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    samplers = {name: run for name, run in SAMPLERS.items() if not (args.without_gp and name == GP)}

    results: dict[tuple[str, str], list[float]] = {}
    seconds: dict[str, float] = dict.fromkeys(samplers, 0.0)
    for problem in PROBLEMS:
        for sampler, run in samplers.items():
            started = time.perf_counter()
            results[problem, sampler] = [run(problem, seed, args.trials) for seed in range(args.seeds)]
            seconds[sampler] += time.perf_counter() - started
            best = results[problem, sampler]
            print(f"{problem:16s} {sampler:48s} median best {np.median(best):9.4f}", flush=True)

    header = [
        "sampler",
        *(f"{p}: median best [IQR]" for p in PROBLEMS),
        *(f"{p}: regret ratio" for p in PROBLEMS),
    ]
    header.append("seconds (all runs)")
    rows = []
    ratios: dict[tuple[str, str], float] = {}
    for sampler in samplers:
        row = [sampler]
        for problem in PROBLEMS:
            best = results[problem, sampler]
            q1, q3 = np.percentile(best, [25, 75])
            row.append(f"{np.median(best):.4f} [{q1:.4f}, {q3:.4f}]")
        for problem, (_, _, minimum) in PROBLEMS.items():
            ours = np.median(results[problem, sampler]) - minimum
            baseline = np.median(results[problem, BASELINE]) - minimum
            ratios[problem, sampler] = ours / baseline
            row.append(f"{ours / baseline:.2f}")
        row.append(f"{seconds[sampler]:.0f}")
        rows.append(row)
    table = markdown_table(header, rows)
    print()
    print(table)

    def ratio_text(sampler: str) -> str:
        return " and ".join(f"{ratios[p, sampler]:.2f} on {p.split()[0]}" for p in PROBLEMS)

    univariate_optuna = "Optuna TPESampler (multivariate=False)"
    findings = f"""**Findings.** With the reference settings of bender.md §4.7 the TPE loses to the baseline
(regret ratio {ratio_text(REFERENCE)}). The ablation rows show what costs quality: drawing candidates
from l instead of the prior gives {ratio_text("… + candidates drawn from l")}; picking the best candidate
instead of a random one of the best third gives {ratio_text("… + best candidate picked")}. The reference
keeps exploring where it should exploit. The rest of the gap, mostly on Hartmann6, is multivariate
modelling: Optuna 5's default TPE models parameters jointly, and Optuna's own univariate TPE has regret ratio
{ratio_text(univariate_optuna)}. With the documented options `{TUNED_TPE}` (chosen on seeds 0–19 among a
few combinations, checked on seeds 20–39) the regret ratio is {ratio_text(TUNED)}. The default stays the
reference, as the spec requires."""
    if GP in samplers:
        findings += f""" `gaussian_process` does best on these smooth, low-dimensional functions
(regret ratio {ratio_text(GP)}) at a much higher cost per suggestion (see the seconds column)."""

    body = f"""Median over {args.seeds} seeds of the best value found after {args.trials} trials (lower is better; the known
minima are 0.397887 for Branin and −3.32237 for Hartmann6). **Regret ratio** = (median best − minimum) of the
sampler divided by that of the baseline, **{BASELINE}**, run in the same process: below 1 beats it.
Crucible's optimisers get {STARTUP_TRIALS} random start-up trials, like Optuna's `n_startup_trials`.
"Tuned options" are `{TUNED_TPE}`, documented in `crucible/engines/optimize/tpe.py`;
the default `parzen_estimator` keeps the reference settings of bender.md §4.7.

{table}

{findings}

"""
    if not args.no_write:
        write_section("optimize_quality", "Optimisation engine: quality", body)
        print("\nwrote the optimize_quality section of docs/benchmarks.md")


if __name__ == "__main__":
    main()
