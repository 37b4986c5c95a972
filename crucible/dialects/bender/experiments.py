"""Experiments: create, list, read, update (incl. sharing), delete (spec §3.2, §4.2)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from crucible.core.accounts import User
from crucible.core.db import utcnow
from crucible.dialects.bender import representations
from crucible.dialects.bender.access import get_experiment, is_participant, shared_user_ids
from crucible.dialects.bender.errors import BenderProblem, field_error, forbidden, non_field_error, too_many
from crucible.dialects.bender.fields import MISSING, FieldErrors, string_problem, type_name
from crucible.dialects.bender.models import BenderExperiment, BenderShare
from crucible.dialects.bender.pagination import PageRequest
from crucible.dialects.bender.quotas import Quotas

METRIC_TYPES = ("loss", "reward")


def list_experiments(
    session: Session, user: User, query: dict[str, str], page: PageRequest
) -> tuple[list[dict[str, Any]], int]:
    owner, shared_with = query.get("owner"), query.get("shared_with")
    if user.username not in (owner, shared_with):
        raise forbidden()
    statement = select(BenderExperiment)
    if owner is not None:
        statement = statement.join(User, User.id == BenderExperiment.owner_id).where(User.username == owner)
    if shared_with is not None:
        shared_user = select(User.id).where(User.username == shared_with).scalar_subquery()
        statement = statement.where(
            BenderExperiment.id.in_(
                select(BenderShare.experiment_id).where(BenderShare.user_id == shared_user)
            )
        )
    if "name" in query:
        statement = statement.where(BenderExperiment.name == query["name"])
    if "dataset" in query:
        statement = statement.where(BenderExperiment.dataset == query["dataset"])
    ordering = query.get("o")
    if ordering == "date":
        statement = statement.order_by(BenderExperiment.created, BenderExperiment.id)
    elif ordering == "-date":
        statement = statement.order_by(BenderExperiment.created.desc(), BenderExperiment.id)
    else:
        statement = statement.order_by(BenderExperiment.modified.desc(), BenderExperiment.id)
    count = session.scalar(select(func.count()).select_from(statement.order_by(None).subquery())) or 0
    rows = session.scalars(statement.limit(page.limit).offset(page.offset)).all()
    return representations.experiments(session, rows), count


def _metrics(value: Any) -> list[dict[str, str]]:
    if value is MISSING:
        raise field_error("metrics", "This field is required.")
    if value is None:
        raise field_error("metrics", "This field may not be null.")
    if not isinstance(value, list):
        raise field_error("metrics", f'Expected a list of items but got type "{type_name(value)}".')
    if not value:
        raise field_error("metrics", "This list may not be empty.")
    item_errors: list[dict[str, Any]] = []
    metrics: list[dict[str, str]] = []
    for item in value:
        errors: dict[str, list[str]] = {}
        if not isinstance(item, dict):
            item_errors.append(
                {"non_field_errors": [f"Invalid data. Expected a dictionary, but got {type_name(item)}."]}
            )
            continue
        name = item.get("metric_name", MISSING)
        if name is MISSING:
            errors["metric_name"] = ["This field is required."]
        elif name is None:
            errors["metric_name"] = ["This field may not be null."]
        elif problem := string_problem(name, max_length=50):
            errors["metric_name"] = [problem]
        kind = item.get("type", MISSING)
        if kind is MISSING:
            errors["type"] = ["This field is required."]
        elif kind not in METRIC_TYPES or isinstance(kind, bool):
            errors["type"] = [f'"{kind}" is not a valid choice.']
        item_errors.append(errors)
        if not errors:
            metrics.append({"metric_name": str(name), "type": kind})
    if any(item_errors):
        raise field_error("metrics", item_errors)
    names = [m["metric_name"] for m in metrics]
    if len(set(names)) != len(names):
        raise field_error("metrics", "Metric names must be unique.")
    return metrics


def _optional_fields(fields: FieldErrors) -> dict[str, Any]:
    """description, dataset and dataset_parameters as given (absent ones left out)."""
    values: dict[str, Any] = {}
    description = fields.string(
        "description", required=False, max_length=500, allow_null=True, allow_blank=True
    )
    if description is not MISSING:
        values["description"] = description
    dataset = fields.string("dataset", required=False, max_length=100, allow_null=True, allow_blank=True)
    if dataset is not MISSING:
        values["dataset"] = dataset
    if "dataset_parameters" in fields.data:
        values["dataset_parameters"] = fields.data["dataset_parameters"]
    return values


def create_experiment(session: Session, user: User, data: dict[str, Any], quotas: Quotas) -> dict[str, Any]:
    fields = FieldErrors(data)
    name = fields.string("name", max_length=100)
    values = _optional_fields(fields)
    metrics: list[dict[str, str]] = []
    try:
        metrics = _metrics(data.get("metrics", MISSING))
    except BenderProblem as problem:
        fields.absorb(problem)
    fields.raise_if_any()
    existing = session.scalar(
        select(BenderExperiment.id).where(BenderExperiment.owner_id == user.id, BenderExperiment.name == name)
    )
    if existing is not None:
        raise field_error("name", "Experiment with same name already exist!")
    count = session.scalar(select(func.count()).where(BenderExperiment.owner_id == user.id)) or 0
    if quotas.applies(user) and count >= quotas.max_experiments:
        raise too_many("Max number of experiments reached.")
    experiment = BenderExperiment(
        owner_id=user.id,
        name=name,
        metrics=metrics,
        description=values.get("description"),
        dataset=values.get("dataset"),
        dataset_parameters=values.get("dataset_parameters"),
    )
    session.add(experiment)
    session.flush()
    return representations.experiment_created(experiment)


def retrieve_experiment(session: Session, user: User, experiment_id: str) -> dict[str, Any]:
    experiment = get_experiment(session, experiment_id)
    if not is_participant(session, experiment, user):
        raise forbidden()
    return representations.experiments(session, [experiment])[0]


def _shared_with(
    session: Session, experiment: BenderExperiment, value: Any, quotas: Quotas, owner: User
) -> list[User]:
    if value is None or not isinstance(value, list):
        got = "null" if value is None else type_name(value)
        raise field_error("shared_with", f'Expected a list of items but got type "{got}".')
    users: dict[int, User] = {}
    for username in value:
        user = (
            session.scalar(select(User).where(User.username == username))
            if isinstance(username, str) and "\x00" not in username
            else None
        )
        if user is None:
            raise field_error("shared_with", f"Object with username={username} does not exist.")
        users[user.id] = user
    if experiment.owner_id in users:
        raise non_field_error("Owner should not be in shared_with argument!")
    if quotas.applies(owner) and len(users) > quotas.max_shared_with:
        raise too_many("Max number of users in shared_with reached.")
    return list(users.values())


def update_experiment(
    session: Session, user: User, experiment_id: str, data: dict[str, Any], quotas: Quotas
) -> dict[str, Any]:
    experiment = get_experiment(session, experiment_id, for_update=True)
    if experiment.owner_id != user.id:
        raise forbidden()
    fields = FieldErrors(data)
    values = _optional_fields(fields)
    fields.raise_if_any()
    if "shared_with" in data:
        new_users = _shared_with(session, experiment, data["shared_with"], quotas, user)
        session.execute(delete(BenderShare).where(BenderShare.experiment_id == experiment.id))
        session.add_all(BenderShare(experiment_id=experiment.id, user_id=u.id) for u in new_users)
    for key, value in values.items():
        setattr(experiment, key, value)
    experiment.modified = utcnow()
    session.flush()
    shared = sorted(representations.usernames(session, set(shared_user_ids(session, experiment.id))).values())
    return representations.experiment_updated(experiment, shared)


def delete_experiment(session: Session, user: User, experiment_id: str) -> None:
    experiment = get_experiment(session, experiment_id)
    if experiment.owner_id != user.id:
        raise forbidden()
    session.delete(experiment)
