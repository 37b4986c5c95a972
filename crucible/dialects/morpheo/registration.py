"""POST /problem, /algo, /data and /prediction (spec §3.3): validate everything, then write.

Each function runs in one write transaction; every check comes before the first write, and any error
rolls the transaction back, so a refused request writes nothing.
"""

from __future__ import annotations

import uuid as uuid_module
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crucible.dialects.morpheo import fields, learnuplets
from crucible.dialects.morpheo.documents import (
    algo_document,
    data_document,
    preduplet_document,
    problem_document,
)
from crucible.dialects.morpheo.errors import NO_RELATED_PROBLEM, MorpheoError, bad_request
from crucible.dialects.morpheo.models import (
    MorpheoAlgo,
    MorpheoData,
    MorpheoDataProblem,
    MorpheoPreduplet,
    MorpheoProblem,
)


def _exists(session: Session, model: type[MorpheoProblem | MorpheoAlgo | MorpheoData], uuid: str) -> bool:
    return session.scalar(select(model.seq).where(model.uuid == uuid)) is not None


def register_problem(session: Session, body: dict[str, Any], now: int) -> dict[str, Any]:
    fields.require_keys(body, "uuid", "workflow", "test_dataset", "size_train_dataset")
    uuid = fields.uuid_value(body, "uuid")
    workflow = fields.uuid_value(body, "workflow")
    test_dataset = fields.uuid_list(body, "test_dataset", single_allowed=False, allow_empty=True)
    size = fields.positive_int(body, "size_train_dataset")
    lower_is_better = fields.bool_value(body, "lower_is_better") if "lower_is_better" in body else False
    if _exists(session, MorpheoProblem, uuid):
        raise MorpheoError(409, f"problem {uuid} already exists")
    problem = MorpheoProblem(
        uuid=uuid,
        workflow=workflow,
        test_dataset=test_dataset,
        size_train_dataset=size,
        lower_is_better=lower_is_better,
        timestamp_upload=now,
    )
    session.add(problem)
    session.flush()
    return problem_document(problem)


def register_algo(session: Session, body: dict[str, Any], now: int) -> tuple[dict[str, Any], int]:
    fields.require_keys(body, "uuid", "problem", "name")
    uuid = fields.uuid_value(body, "uuid")
    problem_uuid = fields.uuid_value(body, "problem")
    name = fields.text_value(body, "name")
    problem = learnuplets.lock_problems(session, [problem_uuid]).get(problem_uuid)
    if problem is None:
        raise bad_request(NO_RELATED_PROBLEM)
    if _exists(session, MorpheoAlgo, uuid):
        raise MorpheoError(409, f"algo {uuid} already exists")
    algo = MorpheoAlgo(uuid=uuid, problem=problem_uuid, name=name, timestamp_upload=now)
    session.add(algo)
    session.flush()
    created = learnuplets.build_chain(session, problem, uuid, now)
    return algo_document(algo), created


def register_data(session: Session, body: dict[str, Any], now: int) -> tuple[list[dict[str, Any]], int]:
    fields.require_keys(body, "uuid", "problems")
    uuids = fields.uuid_list(body, "uuid", single_allowed=True, allow_empty=False)
    problem_uuids = fields.uuid_list(body, "problems", single_allowed=True, allow_empty=False)
    problems = learnuplets.lock_problems(session, problem_uuids)
    if len(problems) != len(problem_uuids):
        raise bad_request(NO_RELATED_PROBLEM)
    existing = session.scalar(select(MorpheoData.uuid).where(MorpheoData.uuid.in_(uuids)).limit(1))
    if existing is not None:
        raise MorpheoError(409, f"data {existing} already exists")
    rows = [MorpheoData(uuid=uuid, problems=problem_uuids, timestamp_upload=now) for uuid in uuids]
    session.add_all(rows)
    session.flush()
    session.add_all(
        MorpheoDataProblem(problem=problem, data_seq=row.seq, data_uuid=row.uuid)
        for row in rows
        for problem in problem_uuids
    )
    session.flush()
    created = sum(learnuplets.extend_chains(session, problems[p], uuids, now) for p in problem_uuids)
    return [data_document(row) for row in rows], created


def request_prediction(session: Session, body: dict[str, Any], now: int) -> dict[str, Any]:
    fields.require_keys(body, "data", "problem")
    data = fields.uuid_list(body, "data", single_allowed=True, allow_empty=False)
    problem_uuid = fields.uuid_value(body, "problem")
    problem = session.scalar(select(MorpheoProblem).where(MorpheoProblem.uuid == problem_uuid))
    algos = session.scalars(select(MorpheoAlgo.uuid).where(MorpheoAlgo.problem == problem_uuid)).all()
    best = learnuplets.best_done(session, algos, problem.lower_is_better) if problem and algos else None
    if problem is None or best is None:
        raise bad_request("no problem or trained model")
    preduplet = MorpheoPreduplet(
        uuid=str(uuid_module.uuid4()),
        problem=problem.uuid,
        workflow=problem.workflow,
        data=data,
        model=best.model_end,
        status=learnuplets.TODO,
        timestamp_request=now,
        attempts=0,
    )
    session.add(preduplet)
    session.flush()
    return preduplet_document(preduplet)
