"""Rows as the orchestrator's JSON documents (spec §3.1): every field present, `null` where unset."""

from __future__ import annotations

from typing import Any

from crucible.dialects.morpheo.models import (
    MorpheoAlgo,
    MorpheoData,
    MorpheoLearnuplet,
    MorpheoPreduplet,
    MorpheoProblem,
)

Row = MorpheoProblem | MorpheoAlgo | MorpheoData | MorpheoLearnuplet | MorpheoPreduplet


def problem_document(row: MorpheoProblem) -> dict[str, Any]:
    return {
        "uuid": row.uuid,
        "workflow": row.workflow,
        "test_dataset": list(row.test_dataset),
        "size_train_dataset": row.size_train_dataset,
        "lower_is_better": row.lower_is_better,
        "timestamp_upload": row.timestamp_upload,
    }


def algo_document(row: MorpheoAlgo) -> dict[str, Any]:
    return {
        "uuid": row.uuid,
        "problem": row.problem,
        "name": row.name,
        "timestamp_upload": row.timestamp_upload,
    }


def data_document(row: MorpheoData) -> dict[str, Any]:
    return {"uuid": row.uuid, "problems": list(row.problems), "timestamp_upload": row.timestamp_upload}


def learnuplet_document(row: MorpheoLearnuplet) -> dict[str, Any]:
    return {
        "uuid": row.uuid,
        "problem": row.problem,
        "workflow": row.workflow,
        "algo": row.algo,
        "model_start": row.model_start,
        "model_end": row.model_end,
        "train_data": list(row.train_data),
        "test_data": list(row.test_data),
        "worker": row.worker,
        "perf": row.perf,
        "train_perf": row.train_perf,
        "test_perf": row.test_perf,
        "status": row.status,
        "rank": row.rank,
        "timestamp_creation": row.timestamp_creation,
        "timestamp_done": row.timestamp_done,
        "error": row.error,
        "attempts": row.attempts,
    }


def preduplet_document(row: MorpheoPreduplet) -> dict[str, Any]:
    return {
        "uuid": row.uuid,
        "problem": row.problem,
        "workflow": row.workflow,
        "data": list(row.data),
        "model": row.model,
        "worker": row.worker,
        "status": row.status,
        "timestamp_request": row.timestamp_request,
        "timestamp_done": row.timestamp_done,
        "prediction_storage_uuid": row.prediction_storage_uuid,
        "error": row.error,
        "attempts": row.attempts,
    }


def document(row: Row) -> dict[str, Any]:
    if isinstance(row, MorpheoProblem):
        return problem_document(row)
    if isinstance(row, MorpheoAlgo):
        return algo_document(row)
    if isinstance(row, MorpheoData):
        return data_document(row)
    if isinstance(row, MorpheoLearnuplet):
        return learnuplet_document(row)
    return preduplet_document(row)
