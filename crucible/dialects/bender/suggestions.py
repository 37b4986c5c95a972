"""POST /api/algos/<id>/suggest/: the next parameters to try, from the shared optimisation engine
(spec §3.3, §4.5)."""

from __future__ import annotations

import json
import logging
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crucible.core.accounts import User
from crucible.dialects.bender.access import get_algo, require_algo_writer
from crucible.dialects.bender.errors import BenderProblem, field_error
from crucible.dialects.bender.fields import FieldErrors, is_unrepresentable, parse_integer
from crucible.dialects.bender.models import BenderAlgo, BenderTrial
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


class ObservationCache:
    """Usable observations per (algo, metric), kept between suggests in this process.

    Trials are immutable and every insert or delete bumps the algo's `trials_version`, so an entry
    is current when its version matches; after new trials it is extended with just those rows, and
    after anything else (a delete, another process's inconsistent view) it is rebuilt. This keeps a
    suggest on a long history from re-reading and re-checking every trial each time.
    """

    def __init__(self, size: int = 256) -> None:
        self._entries: OrderedDict[tuple[str, str], _CachedObservations] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def usable(
        self, session: Session, algo: BenderAlgo, space: optimize.SearchSpace, metric: str, sign: float
    ) -> list[optimize.Observation]:
        key = (algo.id, metric)
        signature = json.dumps(algo.parameters, sort_keys=True)
        with self._lock:
            entry = self._entries.get(key)
        if (
            entry is None
            or entry.signature != signature
            or not _extend(session, algo, space, metric, sign, entry)
        ):
            entry = _CachedObservations(signature=signature, version=algo.trials_version)
            _load(session, algo, space, metric, sign, entry, since=None)
        with self._lock:
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)
        return entry.usable


@dataclass
class _CachedObservations:
    signature: str
    version: int
    count: int = 0
    last_created: datetime | None = None
    ids: set[str] = field(default_factory=set)
    usable: list[optimize.Observation] = field(default_factory=list)


def _load(
    session: Session,
    algo: BenderAlgo,
    space: optimize.SearchSpace,
    metric: str,
    sign: float,
    entry: _CachedObservations,
    since: datetime | None,
) -> None:
    """Add the algo's trials (created at or after `since`, in creation order) to the entry."""
    query = select(
        BenderTrial.id, BenderTrial.created, BenderTrial.parameters, BenderTrial.results, BenderTrial.weight
    ).where(BenderTrial.algo_id == algo.id)
    if since is not None:
        query = query.where(BenderTrial.created >= since)
    for trial_id, created, parameters, results, weight in session.execute(
        query.order_by(BenderTrial.created, BenderTrial.id)
    ):
        if trial_id in entry.ids:
            continue
        entry.ids.add(trial_id)
        entry.count += 1
        entry.last_created = created
        value = _metric_value(results.get(metric)) if isinstance(results, dict) else None
        if value is None or not isinstance(parameters, dict):
            continue
        observation = optimize.Observation(parameters, sign * value, weight)
        if optimize.is_usable(space, observation):
            entry.usable.append(observation)


def _extend(
    session: Session,
    algo: BenderAlgo,
    space: optimize.SearchSpace,
    metric: str,
    sign: float,
    entry: _CachedObservations,
) -> bool:
    """Bring a cached entry up to date by appending new trials; False when it must be rebuilt."""
    if entry.version == algo.trials_version:
        return True
    count = session.scalar(select(func.count()).where(BenderTrial.algo_id == algo.id)) or 0
    if count < entry.count:
        return False
    extended = _CachedObservations(
        signature=entry.signature,
        version=algo.trials_version,
        count=entry.count,
        last_created=entry.last_created,
        ids=set(entry.ids),
        usable=list(entry.usable),
    )
    _load(session, algo, space, metric, sign, extended, since=entry.last_created)
    if extended.count != count:
        return False  # something was deleted (or reordered): rebuild from scratch
    entry.__dict__.update(extended.__dict__)
    return True


_cache = ObservationCache()


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
    usable = _cache.usable(session, algo, space, metric, sign)
    if optimizer == "random" or len(usable) < minimum:
        optimizer = "random"
    suggestion = optimize.suggest(space, usable, optimizer=optimizer, seed=seed)
    for name, value in suggestion.values.items():
        if is_unrepresentable(value):
            # e.g. a normal truncated far into its tail, whose probability mass underflows to 0
            log.warning("suggestion with a non-finite value", extra={"algo": algo.id, "param": name})
            raise BenderProblem(
                400,
                {
                    "detail": f"Search space of parameter '{name}' is invalid: "
                    "its distribution has no probability mass within its bounds"
                },
            )
    return suggestion
