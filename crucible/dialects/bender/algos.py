"""Algos: a named set of hyperparameters with search spaces inside an experiment (spec §3.3, §4.3)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crucible.core.accounts import User
from crucible.core.db import utcnow
from crucible.dialects.bender import representations
from crucible.dialects.bender.access import can_see_algo, get_algo, is_participant, require_algo_writer
from crucible.dialects.bender.errors import BenderProblem, field_error, forbidden, non_field_error, too_many
from crucible.dialects.bender.fields import MISSING, FieldErrors, canonical_uuid, string_problem, type_name
from crucible.dialects.bender.models import BenderAlgo, BenderExperiment, BenderTrial
from crucible.dialects.bender.pagination import PageRequest
from crucible.dialects.bender.quotas import Quotas
from crucible.dialects.bender.spaces import CATEGORIES, search_space_problem

UNIQUE_NAME = "The fields experiment, name must make a unique set."


def list_algos(
    session: Session, user: User, query: dict[str, str], page: PageRequest
) -> tuple[list[dict[str, Any]], int]:
    statement = select(BenderAlgo)
    allowed = False
    if "owner" in query:
        allowed = query["owner"] == user.username
        statement = statement.join(User, User.id == BenderAlgo.owner_id).where(
            User.username == query["owner"]
        )
    if "experiment" in query:
        experiment_id = canonical_uuid(query["experiment"])
        experiment = session.get(BenderExperiment, experiment_id) if experiment_id else None
        if experiment is not None and is_participant(session, experiment, user):
            allowed = True
        statement = statement.where(BenderAlgo.experiment_id == experiment_id)
    if not allowed:
        raise forbidden()
    if "name" in query:
        statement = statement.where(BenderAlgo.name == query["name"])
    if query.get("o") == "date":
        statement = statement.order_by(BenderAlgo.created, BenderAlgo.id)
    else:
        statement = statement.order_by(BenderAlgo.created.desc(), BenderAlgo.id)
    count = session.scalar(select(func.count()).select_from(statement.order_by(None).subquery())) or 0
    rows = session.scalars(statement.limit(page.limit).offset(page.offset)).all()
    return representations.algos(session, rows), count


def _parameter_errors(item: Any) -> tuple[dict[str, Any] | None, dict[str, list[str]]]:
    """One parameter item: (clean parameter, per-field errors)."""
    if not isinstance(item, dict):
        return None, {
            "non_field_errors": [f"Invalid data. Expected a dictionary, but got {type_name(item)}."]
        }
    errors: dict[str, list[str]] = {}
    name = item.get("name", MISSING)
    if name is MISSING:
        errors["name"] = ["This field is required."]
    elif name is None:
        errors["name"] = ["This field may not be null."]
    elif problem := string_problem(name, max_length=150):
        errors["name"] = [problem]
    category = item.get("category")
    if category is not None and (not isinstance(category, str) or category not in CATEGORIES):
        errors["category"] = [f'"{category}" is not a valid choice.']
    search_space = item.get("search_space")
    if search_space is not None and not isinstance(search_space, dict):
        errors["search_space"] = [f'Expected a dictionary of items but got type "{type_name(search_space)}".']
    if errors:
        return None, errors
    if category is not None and category != "descriptive" and search_space:
        problem = search_space_problem(category, search_space)
        if problem:
            return None, {"non_field_errors": [problem]}
    return {"name": str(name), "category": category, "search_space": search_space}, {}


def _parameters(value: Any) -> list[dict[str, Any]]:
    if value is None:
        raise field_error("parameters", "This field may not be null.")
    if not isinstance(value, list):
        raise field_error("parameters", f'Expected a list of items but got type "{type_name(value)}".')
    clean: list[dict[str, Any]] = []
    all_errors: list[dict[str, Any]] = []
    for item in value:
        parameter, errors = _parameter_errors(item)
        all_errors.append(errors)
        if parameter is not None:
            clean.append(parameter)
    if any(all_errors):
        raise field_error("parameters", all_errors)
    names = [p["name"] for p in clean]
    if len(set(names)) != len(names):
        raise non_field_error("Two or more parameters have the same name!")
    return clean


def create_algo(session: Session, user: User, data: dict[str, Any], quotas: Quotas) -> dict[str, Any]:
    fields = FieldErrors(data)
    name = fields.string("name", max_length=100)
    experiment_ref = data.get("experiment", MISSING)
    experiment = None
    if experiment_ref is MISSING:
        fields.add("experiment", "This field is required.")
    elif experiment_ref is None:
        fields.add("experiment", "This field may not be null.")
    else:
        experiment_id = canonical_uuid(experiment_ref)
        experiment = session.get(BenderExperiment, experiment_id) if experiment_id else None
        if experiment is None:
            fields.add("experiment", f'Invalid pk "{experiment_ref}" - object does not exist.')
    parameters: list[dict[str, Any]] = []
    if "parameters" not in data:
        fields.add("parameters", "This field is required.")
    else:
        try:
            parameters = _parameters(data["parameters"])
        except BenderProblem as problem:
            fields.absorb(problem)
    fields.raise_if_any()
    assert experiment is not None
    if not is_participant(session, experiment, user):
        raise forbidden()
    taken = session.scalar(
        select(BenderAlgo.id).where(BenderAlgo.experiment_id == experiment.id, BenderAlgo.name == name)
    )
    if taken is not None:
        raise non_field_error(UNIQUE_NAME)
    count = session.scalar(select(func.count()).where(BenderAlgo.experiment_id == experiment.id)) or 0
    if quotas.applies(user) and count >= quotas.max_algos:
        raise too_many("Max number of algos reached for this experiment.")
    algo = BenderAlgo(
        experiment_id=experiment.id,
        owner_id=user.id,
        name=name,
        description=data.get("description"),
        parameters=parameters,
    )
    session.add(algo)
    session.flush()
    return representations.algo_created(algo)


def retrieve_algo(session: Session, user: User, algo_id: str) -> dict[str, Any]:
    algo = get_algo(session, algo_id)
    if not can_see_algo(session, algo, user):
        raise forbidden()
    return representations.algos(session, [algo])[0]


def update_algo(
    session: Session, user: User, algo_id: str, data: dict[str, Any], *, partial: bool
) -> dict[str, Any]:
    algo = get_algo(session, algo_id, for_update=True)
    require_algo_writer(session, algo, user)
    fields = FieldErrors(data)
    name = fields.string("name", max_length=100, partial=partial)
    given: list[dict[str, Any]] | None = None
    if "parameters" in data:
        try:
            given = _parameters(data["parameters"])
        except BenderProblem as problem:
            fields.absorb(problem)
    elif not partial:
        fields.add("parameters", "This field is required.")
    fields.raise_if_any()

    if name is not MISSING and name != algo.name:
        taken = session.scalar(
            select(BenderAlgo.id).where(
                BenderAlgo.experiment_id == algo.experiment_id, BenderAlgo.name == name
            )
        )
        if taken is not None:
            raise non_field_error(UNIQUE_NAME)
        algo.name = name
    if "description" in data:
        algo.description = data["description"]
    if given is not None:
        algo.parameters = _merge_parameters(session, algo, given)
    algo.modified = utcnow()
    session.flush()
    return representations.algo_updated(algo)


def _merge_parameters(
    session: Session, algo: BenderAlgo, given: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Given parameters replace those of the same name or are appended; the others are kept."""
    has_trials = (
        session.scalar(select(BenderTrial.id).where(BenderTrial.algo_id == algo.id).limit(1)) is not None
    )
    merged = [dict(p) for p in algo.parameters]
    by_name = {p["name"]: p for p in merged}
    for parameter in given:
        existing = by_name.get(parameter["name"])
        if existing is None:
            if has_trials:
                raise non_field_error("Cannot add a new parameter to an algo with trials")
            merged.append(parameter)
            by_name[parameter["name"]] = parameter
            continue
        if has_trials and existing.get("category") != parameter["category"]:
            raise non_field_error(
                "Cannot change the category of an existing parameter after trials have been made"
            )
        existing["category"] = parameter["category"]
        existing["search_space"] = parameter["search_space"]
    return merged


def delete_algo(session: Session, user: User, algo_id: str) -> None:
    algo = get_algo(session, algo_id)
    if algo.owner_id != user.id:
        raise forbidden()
    session.delete(algo)
