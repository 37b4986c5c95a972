"""Trials: the parameters tried and the metric values obtained (spec §3.4, §4.4). Immutable once made."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crucible.core.accounts import User
from crucible.dialects.bender import representations
from crucible.dialects.bender.access import can_see_algo, get_trial, is_participant, require_algo_writer
from crucible.dialects.bender.errors import forbidden, non_field_error, too_many
from crucible.dialects.bender.fields import (
    MISSING,
    FieldErrors,
    canonical_uuid,
    has_unrepresentable_number,
    is_unrepresentable,
    parse_number,
    type_name,
)
from crucible.dialects.bender.models import BenderAlgo, BenderExperiment, BenderTrial
from crucible.dialects.bender.pagination import PageRequest
from crucible.dialects.bender.quotas import Quotas


def _access_granted(session: Session, user: User, query: dict[str, str]) -> bool:
    """A trial list needs one filter that names something the caller may see."""
    if query.get("owner") == user.username:
        return True
    algo_id = canonical_uuid(query.get("algo"))
    algo = session.get(BenderAlgo, algo_id) if algo_id else None
    if algo is not None and can_see_algo(session, algo, user):
        return True
    experiment_id = canonical_uuid(query.get("experiment"))
    experiment = session.get(BenderExperiment, experiment_id) if experiment_id else None
    return experiment is not None and is_participant(session, experiment, user)


def _json_sort_key(value: Any) -> tuple[int, Any]:
    """Numbers first by value, then strings, then anything else (spec D13)."""
    if isinstance(value, int | float) and not isinstance(value, bool) and not is_unrepresentable(value):
        return (0, value)
    if isinstance(value, str):
        return (1, value)
    return (2, 0)


def _sorted_by_json(rows: list[BenderTrial], column: str, ordering: str) -> list[BenderTrial]:
    descending = ordering.startswith("-")
    key_name = ordering.removeprefix("-")
    groups: dict[int, list[tuple[Any, BenderTrial]]] = {0: [], 1: [], 2: []}
    for row in rows:
        stored = getattr(row, column)
        value = stored.get(key_name, MISSING) if isinstance(stored, dict) else MISSING
        group, sort_value = _json_sort_key(value) if value is not MISSING else (2, 0)
        groups[group].append((sort_value, row))
    ordered: list[BenderTrial] = []
    for group in (0, 1, 2):
        entries = groups[group]
        if group < 2:
            entries.sort(key=lambda entry: entry[0], reverse=descending)
        ordered.extend(row for _, row in entries)
    return ordered


def list_trials(
    session: Session, user: User, query: dict[str, str], page: PageRequest
) -> tuple[list[dict[str, Any]], int]:
    if not _access_granted(session, user, query):
        raise forbidden()
    statement = select(BenderTrial)
    if "owner" in query:
        statement = statement.join(User, User.id == BenderTrial.owner_id).where(
            User.username == query["owner"]
        )
    for name, column in (("algo", BenderTrial.algo_id), ("experiment", BenderTrial.experiment_id)):
        if name in query:
            # a malformed id in an extra filter matches nothing
            statement = statement.where(column == (canonical_uuid(query[name]) or ""))
    json_ordering = None
    if "o_results" in query:
        json_ordering = ("results", query["o_results"])
    elif "o_parameters" in query:
        json_ordering = ("parameters", query["o_parameters"])
    if query.get("o") == "date":
        statement = statement.order_by(BenderTrial.created, BenderTrial.id)
    else:
        statement = statement.order_by(BenderTrial.created.desc(), BenderTrial.id)
    if json_ordering is not None:
        rows = _sorted_by_json(list(session.scalars(statement)), *json_ordering)
        page_rows = rows[page.offset : page.offset + page.limit]
        return representations.trials(session, page_rows), len(rows)
    count = session.scalar(select(func.count()).select_from(statement.order_by(None).subquery())) or 0
    page_rows = session.scalars(statement.limit(page.limit).offset(page.offset)).all()
    return representations.trials(session, page_rows), count


def _bad_values(values: dict[str, Any]) -> str | None:
    """Null values are refused at the top level; NaN/±Infinity anywhere (they could never be sent back)."""
    for value in values.values():
        if value is None:
            return "None is an invalid value for a parameter"
        if has_unrepresentable_number(value):
            return "NaN is an invalid value for a parameter"
    return None


def create_trial(session: Session, user: User, data: dict[str, Any], quotas: Quotas) -> dict[str, Any]:
    fields = FieldErrors(data)
    algo_ref = data.get("algo", MISSING)
    algo = None
    if algo_ref is MISSING:
        fields.add("algo", "This field is required.")
    elif algo_ref is None:
        fields.add("algo", "This field may not be null.")
    else:
        algo_id = canonical_uuid(algo_ref)
        algo = session.get(BenderAlgo, algo_id) if algo_id else None
        if algo is None:
            fields.add("algo", f'Invalid pk "{algo_ref}" - object does not exist.')
    for name in ("parameters", "results"):
        value = data.get(name, MISSING)
        if value is MISSING:
            fields.add(name, "This field is required.")
        elif not isinstance(value, dict):
            got = "null" if value is None else type_name(value)
            fields.add(name, f'Expected a dictionary of items but got type "{got}".')
    if has_unrepresentable_number(data.get("comment")):
        fields.add("comment", "NaN, Infinity and numbers beyond a double are not valid here.")
    weight = 1.0
    if "weight" in data:
        parsed = parse_number(data["weight"])
        if parsed is None:
            fields.add("weight", "A valid number is required.")
        elif parsed < 0:
            fields.add("weight", "Ensure this value is greater than or equal to 0.")
        else:
            weight = parsed
    fields.raise_if_any()
    assert algo is not None
    # Lock the algo row so concurrent trial posts count against the quota one at a time.
    session.refresh(algo, with_for_update=True)
    experiment = require_algo_writer(session, algo, user)
    parameters: dict[str, Any] = data["parameters"]
    results: dict[str, Any] = data["results"]

    optimised = {p["name"] for p in algo.parameters if p.get("category") != "descriptive"}
    every_name = {p["name"] for p in algo.parameters}
    if not optimised <= parameters.keys() <= every_name:
        raise non_field_error("Parameters are different from algo parameters.")
    if set(results) != {m["metric_name"] for m in experiment.metrics}:
        raise non_field_error("Results keys are differents from experiment metrics.")
    problem = _bad_values(parameters) or _bad_values(results)
    if problem:
        raise non_field_error(problem)
    if quotas.applies(user):
        count = session.scalar(select(func.count()).where(BenderTrial.algo_id == algo.id)) or 0
        if count >= quotas.max_trials:
            raise too_many("Max number of trials reached for this algo.")
    trial = BenderTrial(
        algo_id=algo.id,
        experiment_id=algo.experiment_id,
        owner_id=user.id,
        parameters=parameters,
        results=results,
        comment=data.get("comment"),
        weight=weight,
    )
    session.add(trial)
    algo.trials_version += 1
    session.flush()
    return representations.trial_created(trial)


def retrieve_trial(session: Session, user: User, trial_id: str) -> dict[str, Any]:
    trial = get_trial(session, trial_id)
    if trial.owner_id != user.id:
        raise forbidden()
    return representations.trials(session, [trial])[0]


def delete_trial(session: Session, user: User, trial_id: str) -> None:
    trial = get_trial(session, trial_id)
    if trial.owner_id != user.id:
        raise forbidden()
    algo = session.get(BenderAlgo, trial.algo_id, with_for_update=True)
    if algo is not None:
        algo.trials_version += 1
    session.delete(trial)
