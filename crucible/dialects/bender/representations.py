"""The wire shapes of experiments, algos and trials (spec §3.0). Stored JSON is returned as stored."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crucible.core.accounts import User
from crucible.dialects.bender.models import BenderAlgo, BenderExperiment, BenderShare, BenderTrial

CATEGORY_DISPLAY = {
    "descriptive": "Descriptive parameter",
    "categorical": "Categorical parameter",
    "uniform": "Uniformly distributed parameter",
    "normal": "Normally distributed parameter",
    "lognormal": "Log-Normally distributed parameter",
    "loguniform": "Log-Uniformly distributed parameter",
}


def timestamp(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def as_dict(rows: Any) -> dict[Any, Any]:
    """Two-column query rows as a mapping (a Result has .keys(), so dict() would misread it)."""
    return {key: value for key, value in rows}


def usernames(session: Session, user_ids: set[int]) -> dict[int, str]:
    if not user_ids:
        return {}
    rows = session.execute(select(User.id, User.username).where(User.id.in_(user_ids)))
    return {user_id: name for user_id, name in rows}


def is_search_space_defined(parameters: list[dict[str, Any]]) -> bool:
    """Every non-descriptive parameter has a category and a non-empty search space."""
    for parameter in parameters:
        category = parameter.get("category")
        if category == "descriptive":
            continue
        if category is None or not parameter.get("search_space"):
            return False
    return True


def experiments(session: Session, rows: Sequence[BenderExperiment]) -> list[dict[str, Any]]:
    """Full representations of many experiments with a fixed number of queries."""
    ids = [row.id for row in rows]
    if not ids:
        return []
    trial_counts = as_dict(
        session.execute(
            select(BenderTrial.experiment_id, func.count())
            .where(BenderTrial.experiment_id.in_(ids))
            .group_by(BenderTrial.experiment_id)
        )
    )
    algo_counts = as_dict(
        session.execute(
            select(BenderAlgo.experiment_id, func.count())
            .where(BenderAlgo.experiment_id.in_(ids))
            .group_by(BenderAlgo.experiment_id)
        )
    )
    shares: dict[str, list[int]] = defaultdict(list)
    for experiment_id, user_id in session.execute(
        select(BenderShare.experiment_id, BenderShare.user_id).where(BenderShare.experiment_id.in_(ids))
    ):
        shares[experiment_id].append(user_id)
    trial_owners: dict[str, set[int]] = defaultdict(set)
    for experiment_id, owner_id in session.execute(
        select(BenderTrial.experiment_id, BenderTrial.owner_id)
        .where(BenderTrial.experiment_id.in_(ids))
        .distinct()
    ):
        trial_owners[experiment_id].add(owner_id)
    all_users = {row.owner_id for row in rows}
    for group in (*shares.values(), *trial_owners.values()):
        all_users.update(group)
    names = usernames(session, all_users)
    return [
        {
            "id": row.id,
            "name": row.name,
            "description": row.description,
            "metrics": row.metrics,
            "dataset": row.dataset,
            "dataset_parameters": row.dataset_parameters,
            "trial_count": trial_counts.get(row.id, 0),
            "algo_count": algo_counts.get(row.id, 0),
            "owner": names.get(row.owner_id, ""),
            "participants": [[name] for name in sorted(names[uid] for uid in trial_owners.get(row.id, ()))],
            "shared_with": sorted(names[uid] for uid in shares.get(row.id, ())),
            "created": timestamp(row.created),
            "modified": timestamp(row.modified),
        }
        for row in rows
    ]


def experiment_created(row: BenderExperiment) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "description": row.description,
        "dataset": row.dataset,
        "dataset_parameters": row.dataset_parameters,
        "metrics": row.metrics,
    }


def experiment_updated(row: BenderExperiment, shared_with: list[str]) -> dict[str, Any]:
    return {
        "id": row.id,
        "description": row.description,
        "dataset": row.dataset,
        "dataset_parameters": row.dataset_parameters,
        "shared_with": shared_with,
    }


def short_parameters(parameters: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {"name": p["name"], "category": p.get("category"), "search_space": p.get("search_space")}
        for p in parameters
    ]


def algos(session: Session, rows: Sequence[BenderAlgo]) -> list[dict[str, Any]]:
    ids = [row.id for row in rows]
    if not ids:
        return []
    trial_counts = as_dict(
        session.execute(
            select(BenderTrial.algo_id, func.count())
            .where(BenderTrial.algo_id.in_(ids))
            .group_by(BenderTrial.algo_id)
        )
    )
    names = usernames(session, {row.owner_id for row in rows})
    return [
        {
            "id": row.id,
            "name": row.name,
            "experiment": row.experiment_id,
            "owner": names.get(row.owner_id, ""),
            "parameters": [
                {
                    "algo": row.id,
                    "name": p["name"],
                    "category": p.get("category"),
                    "search_space": p.get("search_space"),
                    "category_display": CATEGORY_DISPLAY.get(p.get("category") or ""),
                }
                for p in row.parameters
            ],
            "description": row.description,
            "trial_count": trial_counts.get(row.id, 0),
            "created": timestamp(row.created),
            "modified": timestamp(row.modified),
            "is_search_space_defined": is_search_space_defined(row.parameters),
        }
        for row in rows
    ]


def algo_created(row: BenderAlgo) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "experiment": row.experiment_id,
        "description": row.description,
        "parameters": short_parameters(row.parameters),
        "is_search_space_defined": is_search_space_defined(row.parameters),
    }


def algo_updated(row: BenderAlgo) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "description": row.description,
        "parameters": short_parameters(row.parameters),
    }


def trials(session: Session, rows: Sequence[BenderTrial]) -> list[dict[str, Any]]:
    if not rows:
        return []
    names = usernames(session, {row.owner_id for row in rows})
    algo_ids = {row.algo_id for row in rows}
    algo_names = as_dict(
        session.execute(select(BenderAlgo.id, BenderAlgo.name).where(BenderAlgo.id.in_(algo_ids)))
    )
    return [
        {
            "id": row.id,
            "algo": row.algo_id,
            "experiment": row.experiment_id,
            "owner": names.get(row.owner_id, ""),
            "parameters": row.parameters,
            "results": row.results,
            "comment": row.comment,
            "algo_name": algo_names.get(row.algo_id, ""),
            "created": timestamp(row.created),
            "modified": timestamp(row.modified),
            "weight": row.weight,
        }
        for row in rows
    ]


def trial_created(row: BenderTrial) -> dict[str, Any]:
    return {
        "id": row.id,
        "algo": row.algo_id,
        "parameters": row.parameters,
        "results": row.results,
        "comment": row.comment,
        "weight": row.weight,
    }
