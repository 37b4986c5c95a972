"""Background jobs (spec §4.7): expiring advices get their default reward; hourly theta snapshots.

Both run on the core scheduler's threads under a database lease, so one server process runs each.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import delete, select, update

from crucible.core.db import Database, utcnow
from crucible.dialects.streamingbandit import stats
from crucible.dialects.streamingbandit.errors import SbError
from crucible.dialects.streamingbandit.execution import AdviceGone, Executor
from crucible.dialects.streamingbandit.experiments import Experiment
from crucible.dialects.streamingbandit.models import SbAdvice, SbExperiment
from crucible.dialects.streamingbandit.stats import LogRow, dumps, iso

log = logging.getLogger(__name__)

MAX_EXPIRY_FAILURES = 3
"""An advice whose default reward fails on this many sweeps is dropped (and logged)."""
SWEEP_BATCH = 1000


def live_experiments(db: Database, *, advice: bool = False, hourly: bool = False) -> list[Experiment]:
    query = select(SbExperiment).where(SbExperiment.deleted_at.is_(None))
    if advice:
        query = query.where(SbExperiment.advice_on.is_(True))
    if hourly:
        query = query.where(SbExperiment.hourly_theta_on.is_(True))
    with db.read() as session:
        return [Experiment.from_row(row) for row in session.scalars(query)]


def sweep_advices(db: Database, executor: Executor) -> int:
    """Run set_reward with the default reward for every expired advice; returns how many succeeded."""
    done = 0
    now = utcnow()
    for experiment in live_experiments(db, advice=True):
        cutoff = now - timedelta(hours=experiment.delta_hours)
        with db.read() as session:
            advice_ids = list(
                session.scalars(
                    select(SbAdvice.advice_id)
                    .where(SbAdvice.exp_id == experiment.id, SbAdvice.created_at < cutoff)
                    .order_by(SbAdvice.created_at)
                    .limit(SWEEP_BATCH)
                )
            )
        for advice_id in advice_ids:
            try:
                advice = executor.claim(experiment, advice_id, expired_ok=True)
                executor.expire(experiment, advice)
                done += 1
            except AdviceGone:
                continue  # a client used it in the meantime
            except SbError as error:
                record_failure(db, experiment.id, advice_id, error.message)
    return done


def record_failure(db: Database, exp_id: str, advice_id: str, message: str) -> None:
    with db.write() as session:
        row = session.get(SbAdvice, advice_id)
        if row is None:
            return
        failures = row.failures + 1
        if failures >= MAX_EXPIRY_FAILURES:
            session.execute(delete(SbAdvice).where(SbAdvice.advice_id == advice_id))
            log.warning(
                "dropped advice %s of experiment %s after %d failed expiry runs: %s",
                advice_id,
                exp_id,
                failures,
                message,
            )
        else:
            session.execute(update(SbAdvice).where(SbAdvice.advice_id == advice_id).values(failures=failures))


def snapshot_thetas(db: Database, executor: Executor) -> int:
    """Store `get_theta()` with `exp_id` and `date` for every experiment with hourly_theta on."""
    now = utcnow()
    rows = []
    for experiment in live_experiments(db, hourly=True):
        theta = executor.store.read_shaped(experiment.id)
        rows.append(
            LogRow(experiment.id, "hourly", dumps({**theta, "exp_id": experiment.id, "date": iso(now)}), now)
        )
    with db.transaction() as connection:
        stats.add_rows(connection, rows)
    return len(rows)
