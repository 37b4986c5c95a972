"""Task state machines (spec §4.4): claims, done/failed reports, lease expiry.

    todo --claim--> pending --done--> done
      ^                |----failed--> failed
      '--lease expiry--'  (after the last allowed attempt: failed, "lease expired")

Every transition is one conditional UPDATE (`... WHERE status = 'pending' AND ...`): the row count
says whether this request made the transition, so under any concurrency exactly one caller wins.
Reports and expiry of learnuplets lock the algo row first and propagate the best model in the same
transaction.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from crucible.core import metrics
from crucible.core.db import Database
from crucible.dialects.morpheo import fields, learnuplets
from crucible.dialects.morpheo.errors import MorpheoError, bad_request, not_found
from crucible.dialects.morpheo.learnuplets import DONE, FAILED, PENDING, TODO
from crucible.dialects.morpheo.models import MorpheoLearnuplet, MorpheoPreduplet, MorpheoProblem

LEARNUPLET = "learnuplet"
PREDUPLET = "preduplet"
LEASE_EXPIRED = "lease expired"
EXPIRY_BATCH = 200

TaskModel = type[MorpheoLearnuplet] | type[MorpheoPreduplet]


def _model(kind: str) -> TaskModel:
    return MorpheoLearnuplet if kind == LEARNUPLET else MorpheoPreduplet


def _find(session: Session, kind: str, uuid: str) -> MorpheoLearnuplet | MorpheoPreduplet | None:
    model = _model(kind)
    return session.scalar(select(model).where(model.uuid == uuid).execution_options(populate_existing=True))


# --- claims ----------------------------------------------------------------------------------------


def claim(session: Session, kind: str, uuid: str, worker: str, user_id: int, now: float) -> None:
    """todo → pending for this worker, or a 404/400 saying why not."""
    model = _model(kind)
    statement = update(model).where(model.uuid == uuid, model.status == TODO)
    if kind == LEARNUPLET:
        statement = statement.where(MorpheoLearnuplet.model_start.is_not(None))
    statement = statement.values(status=PENDING, worker=worker, claimant_id=user_id, claimed_at=now)
    result = session.execute(statement.execution_options(synchronize_session=False))
    if result.rowcount == 1:  # type: ignore[attr-defined]
        return
    row = _find(session, kind, uuid)
    if row is None:
        raise not_found(kind, uuid)
    if isinstance(row, MorpheoLearnuplet) and row.status == TODO and row.model_start is None:
        raise bad_request(f"learnuplet {uuid} is not ready (no model_start)")
    raise bad_request(f"worker not set for {kind} {uuid}. Might be already pending")


# --- reports ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Report:
    """A validated /learndone or /preddone body."""

    status: str
    worker: str | None
    error: str | None
    perf: float | None = None
    train_perf: dict[str, float] | None = None
    test_perf: dict[str, float] | None = None
    prediction_storage_uuid: str | None = None


@dataclass(frozen=True)
class ReportOutcome:
    """`recorded` holds the metric stream and records written, to publish after the commit."""

    recorded: tuple[int, list[metrics.MetricRecord]] | None = None


def _report_status(body: dict[str, Any]) -> str:
    status = body["status"]
    if status not in (DONE, FAILED):
        raise bad_request("status must be done or failed")
    return str(status)


def _parse_learn_report(body: dict[str, Any], row: MorpheoLearnuplet) -> Report:
    status = _report_status(body)
    worker = fields.worker_value(body, required=False)
    error = fields.error_text(body)
    if status == FAILED:
        return Report(status, worker, error)
    fields.require_keys(body, "perf", "train_perf", "test_perf")
    return Report(
        status,
        worker,
        error,
        perf=fields.number_value(body, "perf"),
        train_perf=fields.perf_map(body, "train_perf", list(row.train_data)),
        test_perf=fields.perf_map(body, "test_perf", list(row.test_data)),
    )


def _parse_pred_report(body: dict[str, Any]) -> Report:
    status = _report_status(body)
    worker = fields.worker_value(body, required=False)
    error = fields.error_text(body)
    if status == FAILED:
        return Report(status, worker, error)
    fields.require_keys(body, "prediction_storage_uuid")
    return Report(
        status, worker, error, prediction_storage_uuid=fields.uuid_value(body, "prediction_storage_uuid")
    )


def _claimed_by_someone_else(row: MorpheoLearnuplet | MorpheoPreduplet, report: Report, user_id: int) -> bool:
    if row.claimant_id is None:
        return False
    return row.claimant_id != user_id or (report.worker is not None and row.worker != report.worker)


def _is_identical_repeat(row: MorpheoLearnuplet | MorpheoPreduplet, report: Report) -> bool:
    """Same status and the same results; the `error` text is ignored."""
    if row.status != report.status:
        return False
    if report.status == FAILED:
        return True
    if isinstance(row, MorpheoLearnuplet):
        return (
            row.perf == report.perf
            and _floats(row.train_perf) == report.train_perf
            and _floats(row.test_perf) == report.test_perf
        )
    return row.prediction_storage_uuid == report.prediction_storage_uuid


def _floats(values: dict[str, Any] | None) -> dict[str, float] | None:
    return None if values is None else {name: float(value) for name, value in values.items()}


def _apply(
    session: Session,
    kind: str,
    row: MorpheoLearnuplet | MorpheoPreduplet,
    report: Report,
    user_id: int,
    now: int,
) -> bool:
    """The conditional UPDATE pending → done/failed; True when this request made it."""
    model = _model(kind)
    values: dict[str, Any] = {"status": report.status, "timestamp_done": now, "error": report.error}
    if kind == LEARNUPLET:
        values.update(perf=report.perf, train_perf=report.train_perf, test_perf=report.test_perf)
    else:
        values.update(prediction_storage_uuid=report.prediction_storage_uuid)
    statement = update(model).where(
        model.uuid == row.uuid, model.status == PENDING, model.claimant_id == user_id
    )
    if report.worker is not None:
        statement = statement.where(model.worker == report.worker)
    result = session.execute(statement.values(**values).execution_options(synchronize_session=False))
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def _refuse(kind: str, row: MorpheoLearnuplet | MorpheoPreduplet, report: Report, user_id: int) -> None:
    """After a report that changed nothing: 200 for an identical repeat, else 403 or 400."""
    if _claimed_by_someone_else(row, report, user_id):
        raise MorpheoError(403, f"{kind} {row.uuid} is claimed by another worker")
    if row.status in (DONE, FAILED) and _is_identical_repeat(row, report):
        return
    raise bad_request(f"no update of {kind} {row.uuid}")


def report_learnuplet(
    session: Session, uuid: str, body: dict[str, Any], user_id: int, now: int
) -> ReportOutcome:
    fields.require_keys(body, "status")
    found = _find(session, LEARNUPLET, uuid)
    if found is None:
        raise not_found(LEARNUPLET, uuid)
    report = _parse_learn_report(body, found)
    (algo,) = learnuplets.lock_algos(session, [found.algo])
    row = _find(session, LEARNUPLET, uuid)  # fresh, now that the algo is locked
    assert isinstance(row, MorpheoLearnuplet)
    if _claimed_by_someone_else(row, report, user_id):
        raise MorpheoError(403, f"{LEARNUPLET} {uuid} is claimed by another worker")
    if not _apply(session, LEARNUPLET, row, report, user_id, now):
        _refuse(LEARNUPLET, row, report, user_id)
        return ReportOutcome()
    # `row` still holds the values before the update; algo, rank and model_end never change.
    learnuplets.propagate(session, row, _lower_is_better(session, row.problem))
    if report.status == DONE:
        assert report.perf is not None
        return ReportOutcome(recorded=record_perf(session, row, algo.name, report.perf))
    return ReportOutcome()


def report_preduplet(
    session: Session, uuid: str, body: dict[str, Any], user_id: int, now: int
) -> ReportOutcome:
    fields.require_keys(body, "status")
    row = _find(session, PREDUPLET, uuid)
    if row is None:
        raise not_found(PREDUPLET, uuid)
    report = _parse_pred_report(body)
    if _claimed_by_someone_else(row, report, user_id):
        raise MorpheoError(403, f"{PREDUPLET} {uuid} is claimed by another worker")
    if not _apply(session, PREDUPLET, row, report, user_id, now):
        _refuse(PREDUPLET, _find(session, PREDUPLET, uuid) or row, report, user_id)
    return ReportOutcome()


def _lower_is_better(session: Session, problem: str) -> bool:
    return bool(
        session.scalar(select(MorpheoProblem.lower_is_better).where(MorpheoProblem.uuid == problem)) or False
    )


def metric_ref(algo: str) -> str:
    """The metrics store's `ref` holds 64 characters; longer algo uuids are hashed."""
    return algo if len(algo) <= 64 else hashlib.sha256(algo.encode()).hexdigest()


def record_perf(
    session: Session, row: MorpheoLearnuplet, algo_name: str, perf: float
) -> tuple[int, list[metrics.MetricRecord]]:
    """One point per done step in the algo's stream (step = rank), for the dashboard's curves."""
    stream_id = metrics.ensure_stream(
        session,
        owner_id=row.claimant_id,
        dialect="morpheo",
        kind="algo",
        ref=metric_ref(row.algo),
        label=f"{algo_name} on {row.problem}"[:300],
    )
    records = metrics.append(
        session,
        stream_id,
        [
            metrics.NewRecord(
                values={"perf": perf},
                step=row.rank,
                tags={"learnuplet": row.uuid, "problem": row.problem, "model": row.model_end},
            )
        ],
    )
    return stream_id, records


# --- lease expiry -------------------------------------------------------------------------------------


def expire_leases(db: Database, lease_seconds: float, max_attempts: int, now: float | None = None) -> int:
    """Give back tasks whose claim is older than the lease (a worker died or hung): to todo, or to
    failed ("lease expired", with propagation) once the attempts are used up. Returns how many."""
    now = time.time() if now is None else now
    cutoff = now - lease_seconds
    expired = 0
    for kind in (LEARNUPLET, PREDUPLET):
        model = _model(kind)
        with db.read() as session:
            uuids = session.scalars(
                select(model.uuid)
                .where(model.status == PENDING, model.claimed_at < cutoff)
                .order_by(model.seq)
                .limit(EXPIRY_BATCH)
            ).all()
        for uuid in uuids:
            with db.write() as session:
                expired += _expire_one(session, kind, uuid, cutoff, max_attempts, int(now))
    return expired


def _expire_one(session: Session, kind: str, uuid: str, cutoff: float, max_attempts: int, now: int) -> int:
    model = _model(kind)
    row = _find(session, kind, uuid)
    if row is None:
        return 0
    if isinstance(row, MorpheoLearnuplet):
        learnuplets.lock_algos(session, [row.algo])
    attempts = row.attempts + 1
    if attempts >= max_attempts:
        values: dict[str, Any] = {"status": FAILED, "error": LEASE_EXPIRED, "timestamp_done": now}
    else:
        values = {"status": TODO, "worker": None, "claimant_id": None, "claimed_at": None}
    statement = (
        update(model)
        .where(model.uuid == uuid, model.status == PENDING, model.claimed_at < cutoff)
        .values(attempts=attempts, **values)
        .execution_options(synchronize_session=False)
    )
    if session.execute(statement).rowcount != 1:  # type: ignore[attr-defined]
        return 0  # reported meanwhile
    if values["status"] == FAILED and isinstance(row, MorpheoLearnuplet):
        finished = _find(session, kind, uuid)
        assert isinstance(finished, MorpheoLearnuplet)
        learnuplets.propagate(session, finished, _lower_is_better(session, finished.problem))
    return 1
