"""Learnuplet chains: generation when algos or data arrive (§4.2) and best-model propagation (§4.3).

Every function here runs inside the caller's write transaction, after `lock_algos` took the per-algo
lock (a no-op on SQLite, whose write transactions already run one at a time), so generation and
propagation for one algo never interleave.
"""

from __future__ import annotations

import uuid as uuid_module
from collections.abc import Sequence

from sqlalchemy import asc, desc, func, select
from sqlalchemy.orm import Session

from crucible.dialects.morpheo.models import (
    MorpheoAlgo,
    MorpheoDataProblem,
    MorpheoLearnuplet,
    MorpheoProblem,
)

TODO = "todo"
PENDING = "pending"
DONE = "done"
FAILED = "failed"


def chunk(items: Sequence[str], size: int) -> list[list[str]]:
    """Consecutive slices of `size`, the last one possibly shorter (10 items, size 4 → 4, 4, 2)."""
    return [list(items[start : start + size]) for start in range(0, len(items), size)]


def lock_algos(session: Session, uuids: Sequence[str]) -> list[MorpheoAlgo]:
    """Lock algo rows (PostgreSQL `FOR UPDATE`) in one fixed order, so two transactions locking
    several algos cannot deadlock."""
    if not uuids:
        return []
    statement = select(MorpheoAlgo).where(MorpheoAlgo.uuid.in_(list(uuids))).order_by(MorpheoAlgo.seq)
    return list(session.scalars(statement.with_for_update()).all())


def lock_problems(session: Session, uuids: Sequence[str]) -> dict[str, MorpheoProblem]:
    """Lock problem rows (PostgreSQL `FOR UPDATE`, in a fixed order) so that registrations of algos
    and data for one problem run one at a time: each then sees the other's rows."""
    if not uuids:
        return {}
    statement = (
        select(MorpheoProblem).where(MorpheoProblem.uuid.in_(list(uuids))).order_by(MorpheoProblem.seq)
    )
    return {problem.uuid: problem for problem in session.scalars(statement.with_for_update()).all()}


def train_data_of(session: Session, problem: MorpheoProblem) -> list[str]:
    """Data registered for the problem, in registration order, minus its test data."""
    test = set(problem.test_dataset)
    rows = session.scalars(
        select(MorpheoDataProblem.data_uuid)
        .where(MorpheoDataProblem.problem == problem.uuid)
        .order_by(MorpheoDataProblem.data_seq)
    ).all()
    return [data for data in rows if data not in test]


def best_done(session: Session, algo_uuids: Sequence[str], lower_is_better: bool) -> MorpheoLearnuplet | None:
    """The best done learnuplet among these algos': better perf, then lower rank, then earlier
    `timestamp_done`, then uuid. Ties keep the older model."""
    perf_order = asc(MorpheoLearnuplet.perf) if lower_is_better else desc(MorpheoLearnuplet.perf)
    statement = (
        select(MorpheoLearnuplet)
        .where(
            MorpheoLearnuplet.algo.in_(list(algo_uuids)),
            MorpheoLearnuplet.status == DONE,
            MorpheoLearnuplet.perf.is_not(None),
        )
        .order_by(
            perf_order,
            MorpheoLearnuplet.rank,
            MorpheoLearnuplet.timestamp_done,
            MorpheoLearnuplet.uuid,
        )
        .limit(1)
    )
    return session.scalar(statement)


def start_model_for_next_step(session: Session, algo: str, lower_is_better: bool) -> str:
    """Best model of the algo, or the algo uuid ("start from no model") when no step is done."""
    best = best_done(session, [algo], lower_is_better)
    return best.model_end if best is not None else algo


def _create_steps(
    session: Session,
    problem: MorpheoProblem,
    algo: str,
    chunks: list[list[str]],
    first_rank: int,
    first_model_start: str | None,
    now: int,
) -> int:
    for offset, train_data in enumerate(chunks):
        session.add(
            MorpheoLearnuplet(
                uuid=str(uuid_module.uuid4()),
                problem=problem.uuid,
                workflow=problem.workflow,
                algo=algo,
                model_start=first_model_start if offset == 0 else None,
                model_end=str(uuid_module.uuid4()),
                train_data=train_data,
                test_data=list(problem.test_dataset),
                status=TODO,
                rank=first_rank + offset,
                timestamp_creation=now,
                attempts=0,
            )
        )
    session.flush()
    return len(chunks)


def build_chain(session: Session, problem: MorpheoProblem, algo: str, now: int) -> int:
    """Rule 1: the whole chain of an algo over all the problem's train data, rank 0 ready."""
    chunks = chunk(train_data_of(session, problem), problem.size_train_dataset)
    return _create_steps(session, problem, algo, chunks, 0, algo, now)


def extend_chains(session: Session, problem: MorpheoProblem, new_data: list[str], now: int) -> int:
    """Rule 2: new train data for a problem extend every algo's chain (or start it)."""
    test = set(problem.test_dataset)
    new = [data for data in new_data if data not in test]
    if not new:
        return 0
    algo_uuids = session.scalars(select(MorpheoAlgo.uuid).where(MorpheoAlgo.problem == problem.uuid)).all()
    algos = sorted(lock_algos(session, algo_uuids), key=lambda algo: (algo.timestamp_upload, algo.uuid))
    created = 0
    for algo in algos:
        last = session.scalar(
            select(MorpheoLearnuplet)
            .where(MorpheoLearnuplet.algo == algo.uuid)
            .order_by(MorpheoLearnuplet.rank.desc())
            .limit(1)
        )
        if last is None:
            created += build_chain(session, problem, algo.uuid, now)
            continue
        first_start = None
        if last.status in (DONE, FAILED):
            first_start = start_model_for_next_step(session, algo.uuid, problem.lower_is_better)
        chunks = chunk(new, problem.size_train_dataset)
        created += _create_steps(session, problem, algo.uuid, chunks, last.rank + 1, first_start, now)
    return created


def propagate(session: Session, finished: MorpheoLearnuplet, lower_is_better: bool) -> None:
    """After `finished` (only its algo and rank are read) became done or failed: its successor, if still waiting for a start model,
    starts from the algo's best model (a worse step is thus skipped)."""
    successor = session.scalar(
        select(MorpheoLearnuplet).where(
            MorpheoLearnuplet.algo == finished.algo,
            MorpheoLearnuplet.rank == finished.rank + 1,
            MorpheoLearnuplet.status == TODO,
            MorpheoLearnuplet.model_start.is_(None),
        )
    )
    if successor is not None:
        successor.model_start = start_model_for_next_step(session, finished.algo, lower_is_better)
        session.flush()


def count_done(session: Session, problem: str) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(MorpheoLearnuplet)
            .where(MorpheoLearnuplet.problem == problem, MorpheoLearnuplet.status == DONE)
        )
        or 0
    )
