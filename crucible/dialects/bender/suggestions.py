"""POST /api/algos/<id>/suggest/: the next parameters to try, from the shared optimisation engine
(spec §3.3, §4.5)."""

from __future__ import annotations

import logging
import math
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crucible.core.accounts import User
from crucible.dialects.bender.access import get_algo, require_algo_writer
from crucible.dialects.bender.errors import BenderProblem, field_error
from crucible.dialects.bender.fields import FieldErrors, parse_integer
from crucible.dialects.bender.models import BenderTrial
from crucible.dialects.bender.representations import is_search_space_defined
from crucible.dialects.bender.spaces import optimised_space
from crucible.engines import optimize

log = logging.getLogger(__name__)

DEFAULT_OPTIMIZER = "parzen_estimator"
DEFAULT_MINIMUM_OBSERVATIONS = 30


def optimizer_names() -> list[str]:
    return optimize.optimizer_names()


def _metric_value(value: Any) -> float | None:
    """A finite number, or a string that parses as one; anything else makes the trial unusable."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def _request(data: dict[str, Any]) -> tuple[str, str, int, int | None]:
    fields = FieldErrors(data)
    metric = data.get("metric")
    if metric is None or metric == "" or not isinstance(metric, str):
        fields.add("metric", "Missing metric argument")
    optimizer = data.get("optimizer", DEFAULT_OPTIMIZER)
    if optimizer is None:
        optimizer = DEFAULT_OPTIMIZER
    if not isinstance(optimizer, str) or optimizer not in optimizer_names():
        fields.add("optimizer", f'"{optimizer}" is not a valid choice. Valid: {", ".join(optimizer_names())}')
    minimum = DEFAULT_MINIMUM_OBSERVATIONS
    if data.get("minimum_observations") is not None:
        parsed = parse_integer(data["minimum_observations"])
        if parsed is None:
            fields.add("minimum_observations", "A valid integer is required.")
        elif parsed < 1:
            fields.add("minimum_observations", "Ensure this value is greater than or equal to 1.")
        elif parsed > 1000:
            fields.add("minimum_observations", "Ensure this value is less than or equal to 1000.")
        else:
            minimum = parsed
    seed = None
    if data.get("seed") is not None:
        seed = parse_integer(data["seed"])
        if seed is None:
            fields.add("seed", "A valid integer is required.")
        elif seed < 0:
            fields.add("seed", "Ensure this value is greater than or equal to 0.")
    fields.raise_if_any()
    return metric, optimizer, minimum, seed  # type: ignore[return-value]


def suggest(session: Session, user: User, algo_id: str, data: dict[str, Any]) -> optimize.Suggestion | None:
    """The suggestion, or None when the algo's search space is not defined (answered with 204)."""
    algo = get_algo(session, algo_id)
    experiment = require_algo_writer(session, algo, user)
    metric, optimizer, minimum, seed = _request(data)
    orientation = {m["metric_name"]: m["type"] for m in experiment.metrics}
    if metric not in orientation:
        raise field_error("metric", "Unknown metric asked")
    if not is_search_space_defined(algo.parameters):
        return None
    try:
        space = optimised_space(algo.parameters)
    except optimize.SpaceError as error:
        raise BenderProblem(
            400, {"detail": f"Search space of parameter '{error.param}' is invalid: {error.reason}"}
        ) from error

    sign = 1.0 if orientation[metric] == "loss" else -1.0
    rows = session.execute(
        select(BenderTrial.parameters, BenderTrial.results, BenderTrial.weight)
        .where(BenderTrial.algo_id == algo.id)
        .order_by(BenderTrial.created, BenderTrial.id)
    )
    observations = []
    for parameters, results, weight in rows:
        value = _metric_value(results.get(metric)) if isinstance(results, dict) else None
        if value is None or not isinstance(parameters, dict):
            continue
        observations.append(optimize.Observation(parameters, sign * value, weight))
    usable = optimize.usable_observations(space, observations)
    if optimizer == "random" or len(usable) < minimum:
        optimizer = "random"
    return optimize.suggest(space, usable, optimizer=optimizer, seed=seed)
