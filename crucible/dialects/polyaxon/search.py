"""Hyperparameter search: Polyaxon's `hptuning` block translated into the shared optimisation engine
(spec §4.7). This module validates the block, turns the matrix into a `SearchSpace`, and answers "what is
the next configuration?" for grid, random, hyperband and bo, from a small JSON state kept on the group.
It knows nothing about HTTP or the database.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any

import numpy as np

from crucible.engines.optimize import (
    CategoricalParam,
    NumericParam,
    Observation,
    Param,
    SearchSpace,
    SpaceError,
    grid,
    grid_size,
    sample_distinct,
    sample_prior,
    suggest,
)

DISCRETE_OPTIONS = ("values", "pvalues", "range", "linspace", "logspace", "geomspace")
DISTRIBUTION_OPTIONS = (
    "uniform", "quniform", "loguniform", "qloguniform", "normal", "qnormal", "lognormal", "qlognormal",
)  # fmt: skip
ALGORITHMS = ("grid_search", "random_search", "hyperband", "bo")
ALGORITHM_NAMES = {"grid_search": "grid", "random_search": "random", "hyperband": "hyperband", "bo": "bo"}
HPTUNING_KEYS = ("concurrency", "seed", "matrix", "early_stopping", *ALGORITHMS)
MAX_DISCRETE_VALUES = 100_000
MAX_EXPERIMENTS = 10_000


class SearchError(ValueError):
    """The hptuning block cannot be used; the message is what the client sees."""


# --- matrix options -------------------------------------------------------------------------------------


def _numbers(parts: Sequence[Any], option: str, name: str, count: tuple[int, ...]) -> list[float]:
    if len(parts) not in count:
        raise SearchError(f"`{name}`: `{option}` expects {' or '.join(map(str, count))} numbers.")
    values = []
    for part in parts:
        try:
            number = float(part) if not isinstance(part, bool) else math.nan
        except (TypeError, ValueError):
            number = math.nan
        if not math.isfinite(number):
            raise SearchError(f"`{name}`: `{option}` expects numbers, got {part!r}.")
        values.append(number)
    return values


def _option_numbers(
    value: Any, option: str, name: str, keys: tuple[str, ...], count: tuple[int, ...]
) -> list[float]:
    """`"a:b:c"`, `[a, b, c]` or `{key: value}` → numbers, in `keys` order."""
    if isinstance(value, str):
        parts: list[Any] = value.split(":")
    elif isinstance(value, list):
        parts = value
    elif isinstance(value, dict):
        unknown = set(value) - set(keys)
        if unknown:
            raise SearchError(f"`{name}`: unknown key `{sorted(unknown)[0]}` in `{option}`.")
        parts = [value[key] for key in keys if key in value]
    else:
        raise SearchError(f"`{name}`: `{option}` must be a string, a list or a mapping.")
    return _numbers(parts, option, name, count)


def _as_int_if_whole(values: Sequence[float], integral_inputs: bool) -> list[int | float]:
    if integral_inputs:
        return [round(v) for v in values]
    return [float(v) for v in values]


def _discrete_values(name: str, option: str, value: Any) -> tuple[list[Any], list[float] | None]:
    if option == "values":
        if not isinstance(value, list) or not value:
            raise SearchError(f"`{name}`: `values` must be a non-empty list.")
        return value, None
    if option == "pvalues":
        if not isinstance(value, list) or not value:
            raise SearchError(f"`{name}`: `pvalues` must be a non-empty list of [value, probability] pairs.")
        values, probabilities = [], []
        for pair in value:
            if not isinstance(pair, list | tuple) or len(pair) != 2:
                raise SearchError(f"`{name}`: `pvalues` must be a list of [value, probability] pairs.")
            probability = pair[1]
            if (
                isinstance(probability, bool)
                or not isinstance(probability, int | float)
                or not 0 < probability <= 1
            ):
                raise SearchError(f"`{name}`: each probability must be in (0, 1].")
            values.append(pair[0])
            probabilities.append(float(probability))
        if abs(math.fsum(probabilities) - 1) > 1e-6:
            raise SearchError(f"`{name}`: the probabilities of `pvalues` must sum to 1.")
        return values, probabilities
    if option == "range":
        raw = value.split(":") if isinstance(value, str) else value
        start, stop, step = _option_numbers(value, option, name, ("start", "stop", "step"), (3,))
        if step == 0 or (stop - start) / step > MAX_DISCRETE_VALUES:
            raise SearchError(f"`{name}`: `range` has a zero step or too many values.")
        integral = all(
            float(x).is_integer() and "." not in str(x)
            for x in (raw.values() if isinstance(raw, dict) else raw)
        )
        values = list(np.arange(start, stop, step))
        if not values:
            raise SearchError(f"`{name}`: `range` is empty.")
        return _as_int_if_whole(values, integral), None
    start, stop, num = _option_numbers(
        value, option, name, ("start", "stop", "num", "base"), (4, 3) if option == "logspace" else (3,)
    )[:3]
    if not num.is_integer() or not 1 <= num <= MAX_DISCRETE_VALUES:
        raise SearchError(
            f"`{name}`: `{option}` needs a whole number of points between 1 and {MAX_DISCRETE_VALUES}."
        )
    if option == "linspace":
        values = np.linspace(start, stop, int(num))
    elif option == "geomspace":
        if start == 0 or stop == 0 or (start < 0) != (stop < 0):
            raise SearchError(f"`{name}`: `geomspace` needs non-zero bounds of the same sign.")
        values = np.geomspace(start, stop, int(num))
    else:
        numbers = _option_numbers(value, option, name, ("start", "stop", "num", "base"), (4, 3))
        base = numbers[3] if len(numbers) == 4 else 10.0
        if base <= 0:
            raise SearchError(f"`{name}`: `logspace` needs a positive base.")
        values = np.logspace(start, stop, int(num), base=base)
    if not np.all(np.isfinite(values)):
        raise SearchError(f"`{name}`: `{option}` gives non-finite values.")
    return [float(v) for v in values], None


def _distribution(name: str, option: str, value: Any) -> NumericParam:
    quantised = option.startswith("q")
    family = option[1:] if quantised else option
    if family in ("uniform", "loguniform"):
        numbers = _option_numbers(value, option, name, ("low", "high", "q"), (3,) if quantised else (2,))
        low, high = numbers[0], numbers[1]
        if not high > low:
            raise SearchError(f"`{name}`: `{option}` needs low < high.")
        step = numbers[2] if quantised else None
        if family == "uniform":
            return NumericParam(name, "uniform", low=low, high=high, step=step, anchor=0 if step else None)
        # Polyaxon's loguniform is exp(U(low, high)): low and high are natural-log exponents.
        return NumericParam(
            name, "loguniform", low=math.exp(low), high=math.exp(high), step=step, base=math.e,
            anchor=0 if step else None,
        )  # fmt: skip
    numbers = _option_numbers(value, option, name, ("loc", "scale", "q"), (3,) if quantised else (2,))
    loc, scale = numbers[0], numbers[1]
    if not scale > 0:
        raise SearchError(f"`{name}`: `{option}` needs scale > 0.")
    step = numbers[2] if quantised else None
    if family == "normal":
        return NumericParam(name, "normal", mu=loc, sigma=scale, step=step, anchor=0 if step else None)
    # exp(N(loc, scale)): the engine's lognormal has ln v ~ N(ln mu, ln sigma).
    return NumericParam(
        name, "lognormal", mu=math.exp(loc), sigma=math.exp(scale), step=step, base=math.e,
        anchor=0 if step else None,
    )  # fmt: skip


def matrix_param(name: str, spec: Any) -> Param:
    if not isinstance(spec, dict) or len(spec) != 1:
        raise SearchError(f"`{name}` must define exactly one option.")
    option, value = next(iter(spec.items()))
    try:
        if option in DISCRETE_OPTIONS:
            values, probabilities = _discrete_values(name, option, value)
            return CategoricalParam(name, tuple(values), tuple(probabilities) if probabilities else None)
        if option in DISTRIBUTION_OPTIONS:
            if option.startswith("q") and step_of(value) is not None and step_of(value) <= 0:  # type: ignore[operator]
                raise SearchError(f"`{name}`: `{option}` needs q > 0.")
            return _distribution(name, option, value)
    except SpaceError as error:
        raise SearchError(f"`{name}`: {error.reason}.") from None
    raise SearchError(f"`{name}`: unknown option `{option}`.")


def step_of(value: Any) -> float | None:
    try:
        if isinstance(value, str):
            return float(value.split(":")[2])
        if isinstance(value, list):
            return float(value[2])
        if isinstance(value, dict) and "q" in value:
            return float(value["q"])
    except (IndexError, TypeError, ValueError):
        return None
    return None


# --- the hptuning block ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class EarlyStop:
    metric: str
    value: float
    maximize: bool

    def reached(self, last_metric: Mapping[str, Any]) -> bool:
        value = last_metric.get(self.metric)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        return value >= self.value if self.maximize else value <= self.value


@dataclass(frozen=True)
class Plan:
    """A validated hptuning block."""

    algorithm: str  # grid | random | hyperband | bo
    space: SearchSpace
    concurrency: int
    seed: int | None
    settings: dict[str, Any]
    early_stopping: tuple[EarlyStop, ...]


def _positive_int(value: Any, where: str, *, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise SearchError(f"`{where}` must be an integer >= {minimum}.")
    return value


def _metric(block: Mapping[str, Any], where: str) -> tuple[str, bool]:
    metric = block.get("metric")
    if not isinstance(metric, dict) or not isinstance(metric.get("name"), str) or not metric["name"]:
        raise SearchError(f"`{where}.metric` must be a mapping with a `name`.")
    optimization = metric.get("optimization", "maximize")
    if optimization not in ("maximize", "minimize"):
        raise SearchError(f"`{where}.metric.optimization` must be `maximize` or `minimize`.")
    return metric["name"], optimization == "maximize"


def gp_options(bo: Mapping[str, Any]) -> dict[str, Any]:
    """The `bo.utility_function` block → the engine's gaussian_process options."""
    utility = bo.get("utility_function") or {}
    if not isinstance(utility, dict):
        raise SearchError("`bo.utility_function` must be a mapping.")
    options: dict[str, Any] = {}
    if utility.get("acquisition_function") is not None:
        options["acquisition_function"] = utility["acquisition_function"]
    for key in ("kappa", "eps"):
        if utility.get(key) is not None:
            options[key] = utility[key]
    process = utility.get("gaussian_process") or {}
    if not isinstance(process, dict):
        raise SearchError("`bo.utility_function.gaussian_process` must be a mapping.")
    for key in ("kernel", "length_scale", "nu", "n_restarts_optimizer"):
        if process.get(key) is not None:
            options[key] = process[key]
    return options


def plan(hptuning: Mapping[str, Any]) -> Plan:
    """Validate an hptuning block (spec §4.7 "Validation")."""
    for key in hptuning:
        if key not in HPTUNING_KEYS:
            raise SearchError(f"Unknown field `hptuning.{key}`.")
    matrix = hptuning.get("matrix")
    if not isinstance(matrix, dict) or not matrix:
        raise SearchError("`hptuning.matrix` must be a non-empty mapping.")
    params = [matrix_param(str(name), spec) for name, spec in matrix.items()]
    space = SearchSpace(params)
    concurrency = _positive_int(
        hptuning.get("concurrency", 1) if hptuning.get("concurrency") is not None else 1,
        "hptuning.concurrency",
    )
    seed = hptuning.get("seed")
    if seed is not None:
        seed = _positive_int(seed, "hptuning.seed", minimum=0)
    chosen = [key for key in ALGORITHMS if hptuning.get(key) is not None]
    if len(chosen) > 1:
        raise SearchError("Give at most one of grid_search, random_search, hyperband and bo.")
    key = chosen[0] if chosen else "grid_search"
    block = hptuning.get(key) or {}
    if not isinstance(block, dict):
        raise SearchError(f"`hptuning.{key}` must be a mapping.")
    settings: dict[str, Any] = {}
    if key == "grid_search":
        for param in params:
            if isinstance(param, NumericParam):
                raise SearchError(
                    f"`{param.name}` defines a distribution, and it cannot be used with grid search."
                )
        if block.get("n_experiments") is not None:
            settings["n_experiments"] = _positive_int(block["n_experiments"], "grid_search.n_experiments")
    elif key == "random_search":
        settings["n_experiments"] = _positive_int(block.get("n_experiments"), "random_search.n_experiments")
    elif key == "hyperband":
        settings["max_iter"] = _positive_int(block.get("max_iter"), "hyperband.max_iter")
        settings["eta"] = _positive_int(block.get("eta", 3), "hyperband.eta", minimum=2)
        resource = block.get("resource")
        if not isinstance(resource, dict) or not isinstance(resource.get("name"), str):
            raise SearchError("`hyperband.resource` must be a mapping with a `name`.")
        kind = resource.get("type", "float")
        if kind not in ("int", "float"):
            raise SearchError("`hyperband.resource.type` must be `int` or `float`.")
        settings["resource"] = {"name": resource["name"], "type": kind}
        settings["metric"], settings["maximize"] = _metric(block, "hyperband")
        settings["resume"] = bool(block.get("resume", False))
    else:
        settings["n_initial_trials"] = _positive_int(block.get("n_initial_trials"), "bo.n_initial_trials")
        settings["n_iterations"] = _positive_int(block.get("n_iterations"), "bo.n_iterations", minimum=0)
        settings["metric"], settings["maximize"] = _metric(block, "bo")
        settings["options"] = gp_options(block)
        try:  # checked now, so a bad option is a 400 rather than a failed group later
            suggest(space, [], "gaussian_process", 0, settings["options"])
        except ValueError as error:
            raise SearchError(f"`bo.utility_function`: {error}") from None
    return Plan(ALGORITHM_NAMES[key], space, concurrency, seed, settings, _early_stopping(hptuning))


def _early_stopping(hptuning: Mapping[str, Any]) -> tuple[EarlyStop, ...]:
    entries = hptuning.get("early_stopping") or []
    if not isinstance(entries, list):
        raise SearchError("`hptuning.early_stopping` must be a list.")
    rules = []
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("metric"), str):
            raise SearchError("Each early stopping entry needs a `metric`.")
        value = entry.get("value")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise SearchError("Each early stopping entry needs a numeric `value`.")
        optimization = entry.get("optimization", "maximize")
        if optimization not in ("maximize", "minimize"):
            raise SearchError("`early_stopping.optimization` must be `maximize` or `minimize`.")
        policy = entry.get("policy")  # validated, not applied in this version
        if policy is not None and (
            not isinstance(policy, dict)
            or policy.get("kind", "median") not in ("median", "average", "truncation")
        ):
            raise SearchError("`early_stopping.policy.kind` must be median, average or truncation.")
        rules.append(EarlyStop(entry["metric"], float(value), optimization == "maximize"))
    return tuple(rules)


# --- what to run next --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finished:
    """A finished group member the algorithms learn from."""

    params: Mapping[str, Any]
    metrics: Mapping[str, Any]


def initial_state(plan_: Plan, rng_seed: int) -> dict[str, Any]:
    state: dict[str, Any] = {"seed": plan_.seed if plan_.seed is not None else rng_seed, "issued": 0}
    if plan_.algorithm == "hyperband":
        eta, max_iter = plan_.settings["eta"], plan_.settings["max_iter"]
        state["s_max"] = math.floor(math.log(max_iter) / math.log(eta) + 1e-9)
        state["bracket"] = state["s_max"]
        state["rung"] = 0
        state["rung_configs"] = None  # the configurations of the current rung, once chosen
        state["rung_experiments"] = []
    return state


def _all_discrete(space: SearchSpace) -> bool:
    return all(isinstance(param, CategoricalParam) for param in space)


def batch(plan_: Plan, state: dict[str, Any]) -> list[dict[str, Any]] | None:
    """For grid and random: every configuration of the group, in order (deterministic from the seed)."""
    if plan_.algorithm == "grid":
        limit = plan_.settings.get("n_experiments") or MAX_EXPERIMENTS
        return list(islice(grid(plan_.space), min(limit, MAX_EXPERIMENTS)))
    if plan_.algorithm == "random":
        n = min(plan_.settings["n_experiments"], MAX_EXPERIMENTS)
        rng = np.random.default_rng(state["seed"])
        if _all_discrete(plan_.space):
            return sample_distinct(plan_.space, min(n, grid_size(plan_.space)), rng)
        return [sample_prior(plan_.space, rng) for _ in range(n)]
    return None


def bo_next(plan_: Plan, state: dict[str, Any], finished: Sequence[Finished]) -> dict[str, Any] | None:
    """The next BO configuration, or None when all initial trials and iterations are issued."""
    settings = plan_.settings
    issued = state["issued"]
    total = settings["n_initial_trials"] + settings["n_iterations"]
    if issued >= total:
        return None
    if issued < settings["n_initial_trials"]:
        rng = np.random.default_rng(state["seed"])
        draws = [sample_prior(plan_.space, rng) for _ in range(settings["n_initial_trials"])]
        return draws[issued]
    observations = []
    for member in finished:
        value = member.metrics.get(settings["metric"])
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            continue
        observations.append(Observation(dict(member.params), -value if settings["maximize"] else value))
    answer = suggest(
        plan_.space, observations, "gaussian_process", state["seed"] + issued, settings["options"]
    )
    return answer.values


def metric_rank_key(metric: str, maximize: bool) -> Any:
    """Sort key for hyperband: best first, a missing value last."""

    def key(member: Finished) -> tuple[int, float]:
        value = member.metrics.get(metric)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            return (1, 0.0)
        return (0, -value if maximize else value)

    return key


def hyperband_rung(plan_: Plan, state: dict[str, Any]) -> tuple[int, float]:
    """(number of configurations, resource) of the current rung of the current bracket."""
    eta, max_iter = plan_.settings["eta"], plan_.settings["max_iter"]
    s_max, s, i = state["s_max"], state["bracket"], state["rung"]
    n = math.ceil((s_max + 1) / (s + 1) * eta**s)
    r = max_iter * eta ** (-s)
    return math.floor(n * eta ** (-i)), r * eta**i


def hyperband_fresh_configs(plan_: Plan, state: dict[str, Any], count: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng([state["seed"], state["bracket"]])
    if _all_discrete(plan_.space):
        draws = sample_distinct(plan_.space, count, rng)
        while len(draws) < count:  # a small discrete space repeats configurations across a bracket
            draws.append(sample_prior(plan_.space, rng))
        return draws
    return [sample_prior(plan_.space, rng) for _ in range(count)]


def resource_value(plan_: Plan, resource: float) -> int | float:
    return round(resource) if plan_.settings["resource"]["type"] == "int" else float(resource)
