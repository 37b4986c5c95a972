"""GET /leaderboard?problem=<uuid> (spec §3.5, §4.9), an addition: the original computed it in the
analytics front end from the learnuplet list. Same ordering rules as the best model (§4.3)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crucible.dialects.morpheo.errors import not_found
from crucible.dialects.morpheo.learnuplets import DONE, FAILED, PENDING, TODO
from crucible.dialects.morpheo.models import MorpheoAlgo, MorpheoLearnuplet, MorpheoProblem


def _better_first(step: MorpheoLearnuplet, lower_is_better: bool) -> tuple[Any, ...]:
    assert step.perf is not None
    perf = step.perf if lower_is_better else -step.perf
    return (perf, step.rank, step.timestamp_done or 0, step.uuid)


def _best_step(steps: list[MorpheoLearnuplet], lower_is_better: bool) -> MorpheoLearnuplet | None:
    done = [step for step in steps if step.status == DONE and step.perf is not None]
    return min(done, key=lambda step: _better_first(step, lower_is_better)) if done else None


def _entry(
    algo: MorpheoAlgo, steps: list[MorpheoLearnuplet], best: MorpheoLearnuplet | None
) -> dict[str, Any]:
    counts = Counter(step.status for step in steps)
    curve = []
    seen_train_data = 0
    for step in sorted(steps, key=lambda step: step.rank):
        seen_train_data += len(step.train_data)
        if step.status == DONE and step.perf is not None:
            curve.append({"rank": step.rank, "n_train_data": seen_train_data, "perf": step.perf})
    return {
        "position": None,
        "algo": algo.uuid,
        "name": algo.name,
        "best_perf": best.perf if best else None,
        "best_learnuplet": best.uuid if best else None,
        "best_model": best.model_end if best else None,
        "counts": {status: counts.get(status, 0) for status in (TODO, PENDING, DONE, FAILED)},
        "learning_curve": curve,
    }


def leaderboard(session: Session, problem_uuid: str) -> dict[str, Any]:
    problem = session.scalar(select(MorpheoProblem).where(MorpheoProblem.uuid == problem_uuid))
    if problem is None:
        raise not_found("problem", problem_uuid)
    algos = session.scalars(select(MorpheoAlgo).where(MorpheoAlgo.problem == problem_uuid)).all()
    steps = session.scalars(select(MorpheoLearnuplet).where(MorpheoLearnuplet.problem == problem_uuid)).all()
    by_algo: dict[str, list[MorpheoLearnuplet]] = {algo.uuid: [] for algo in algos}
    for step in steps:
        by_algo.setdefault(step.algo, []).append(step)
    ranked: list[tuple[MorpheoAlgo, MorpheoLearnuplet]] = []
    unranked: list[MorpheoAlgo] = []
    for algo in algos:
        best = _best_step(by_algo[algo.uuid], problem.lower_is_better)
        if best is None:
            unranked.append(algo)
        else:
            ranked.append((algo, best))
    sign = 1 if problem.lower_is_better else -1
    ranked.sort(key=lambda pair: (sign * (pair[1].perf or 0.0), pair[1].timestamp_done or 0, pair[0].uuid))
    unranked.sort(key=lambda algo: (algo.timestamp_upload, algo.uuid))
    entries = []
    for position, (algo, best) in enumerate(ranked, start=1):
        entries.append({**_entry(algo, by_algo[algo.uuid], best), "position": position})
    entries.extend(_entry(algo, by_algo[algo.uuid], None) for algo in unranked)
    return {"problem": problem.uuid, "lower_is_better": problem.lower_is_better, "algos": entries}
