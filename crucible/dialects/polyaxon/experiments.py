"""Experiments: creation from a client's schema dump, atomic PATCH merges, listing with the query grammar,
deletion, and restart/resume/copy clones (spec §3.3, §4.2, §4.5)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from crucible.core import metrics as metrics_store
from crucible.core.accounts import User
from crucible.core.db import utcnow
from crucible.dialects.polyaxon import content as polyaxonfile
from crucible.dialects.polyaxon import query as query_grammar
from crucible.dialects.polyaxon.auth import Principal
from crucible.dialects.polyaxon.errors import PolyaxonProblem, conflict, field_error, not_found
from crucible.dialects.polyaxon.models import (
    PlxBookmark,
    PlxCodeVersion,
    PlxExperiment,
    PlxGroup,
    PlxProject,
)
from crucible.dialects.polyaxon.projects import bool_field, merge_tags, tags_field, text_field
from crucible.dialects.polyaxon.representations import experiment_unique_name
from crucible.dialects.polyaxon.statuses import DONE, lock_experiment, write_created
from crucible.dialects.polyaxon.wire import PageRequest, check_name, query_bool

METRICS_KIND = "experiment"
DIALECT = "polyaxon"
CLONING_STRATEGIES = ("restart", "resume", "copy")


# --- helpers --------------------------------------------------------------------------------------------


def dict_field(data: Mapping[str, Any], key: str) -> dict[str, Any] | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise field_error(key, "Expected a dictionary of items.")
    return value


def optional_string(data: Mapping[str, Any], key: str, max_length: int = 50) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > max_length:
        raise field_error(key, f"Not a valid string of at most {max_length} characters.")
    return value


def latest_code_version(session: Session, project_id: int) -> PlxCodeVersion | None:
    return session.scalar(
        select(PlxCodeVersion)
        .where(PlxCodeVersion.project_id == project_id)
        .order_by(PlxCodeVersion.created_at.desc(), PlxCodeVersion.id.desc())
        .limit(1)
    )


def unique_experiment_name(session: Session, project_id: int, name: str) -> str:
    """A duplicate name in the project becomes name-2, name-3, ... (as in the original)."""
    taken = set(
        session.scalars(
            select(PlxExperiment.name).where(
                PlxExperiment.project_id == project_id,
                or_(PlxExperiment.name == name, PlxExperiment.name.like(f"{name}-%")),
            )
        )
    )
    if name not in taken:
        return name
    suffix = 2
    while f"{name}-{suffix}" in taken:
        suffix += 1
    return f"{name}-{suffix}"


def resolve_group(session: Session, project: PlxProject, reference: Any) -> PlxGroup | None:
    """`experiment_group` as an id or a unique name; it must belong to the project."""
    if reference is None:
        return None
    group_id: int | None = None
    if isinstance(reference, int) and not isinstance(reference, bool):
        group_id = reference
    elif isinstance(reference, str):
        last = reference.rsplit(".", 1)[-1]
        group_id = int(last) if last.isdigit() else None
    group = session.get(PlxGroup, group_id) if group_id is not None and group_id < 2**62 else None
    if group is None or group.project_id != project.id:
        raise field_error("experiment_group", "The group does not exist in this project.")
    return group


def outputs_path(session: Session, experiment: PlxExperiment) -> str:
    """<user>/<project>/[<group>/]<id>, relative to the outputs root."""
    project = session.get(PlxProject, experiment.project_id)
    owner = session.get(User, project.owner_id) if project else None
    assert project is not None and owner is not None
    parts = [owner.username, project.name]
    if experiment.group_id is not None:
        parts.append(str(experiment.group_id))
    parts.append(str(experiment.id))
    return "/".join(parts)


def parse_content(raw: Any, kind: str = "experiment") -> polyaxonfile.Polyaxonfile:
    try:
        return polyaxonfile.parse(raw, kind)
    except polyaxonfile.ContentError as error:
        raise field_error("content", str(error)) from None


# --- creation -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewExperiment:
    """What a creation decided, beyond the row: whether it must be submitted to the executor."""

    experiment: PlxExperiment
    submit: bool


def create_experiment(
    session: Session,
    principal: Principal,
    project: PlxProject,
    data: Mapping[str, Any],
    *,
    group: PlxGroup | None = None,
) -> NewExperiment:
    is_managed = bool_field(dict(data), "is_managed", None)
    is_managed = True if is_managed is None else is_managed
    raw_content = data.get("content")
    parsed = parse_content(raw_content) if raw_content is not None else None
    if is_managed and parsed is None:
        raise field_error("content", "Experiment expects a `content`.")
    if group is None:
        group = resolve_group(session, project, data.get("experiment_group"))

    name = data.get("name")
    if name is None and parsed is not None:
        name = parsed.name
    if name is not None:
        name = unique_experiment_name(session, project.id, check_name(name))
    params = dict_field(data, "params")
    if params is None and parsed is not None:
        params = parsed.params
    tags = tags_field(dict(data))
    if tags is None and parsed is not None:
        tags = parsed.tags
    backend = optional_string(data, "backend") or (parsed.backend if parsed else None)
    framework = optional_string(data, "framework") or (parsed.framework if parsed else None)
    version = latest_code_version(session, project.id)
    now = utcnow()
    experiment = PlxExperiment(
        project_id=project.id,
        group_id=group.id if group is not None else None,
        user_id=principal.user.id,
        name=name,
        description=text_field(dict(data), "description"),
        content=raw_content if isinstance(raw_content, str) or raw_content is None else str(raw_content),
        config=parsed.data if parsed is not None else None,
        params=params,
        tags=tags,
        framework=framework,
        backend=backend,
        is_managed=is_managed,
        run_env=dict_field(data, "run_env"),
        data_refs=dict_field(data, "data_refs"),
        resources=parsed.resources if parsed is not None else None,
        code_version_id=version.id if version is not None else None,
        last_metric={},
        last_metric_sources={},
        created_at=now,
        updated_at=now,
    )
    session.add(experiment)
    session.flush()
    experiment.outputs_path = outputs_path(session, experiment)
    write_created(session, experiment)
    project.updated_at = now
    return NewExperiment(experiment, submit=is_managed)


# --- PATCH ----------------------------------------------------------------------------------------------

_PATCHABLE_DICTS = ("params", "data_refs", "run_env")


def update_experiment(session: Session, experiment_id: int, data: Mapping[str, Any]) -> PlxExperiment:
    """Apply a PATCH in one transaction holding the row lock, so concurrent merges lose nothing (D4)."""
    experiment = lock_experiment(session, experiment_id)
    if experiment is None:
        raise not_found()
    body = dict(data)
    merge = bool_field(body, "merge", False)
    if body.get("name") is not None:
        name = check_name(body["name"])
        clash = session.scalar(
            select(PlxExperiment.id).where(
                PlxExperiment.project_id == experiment.project_id,
                PlxExperiment.name == name,
                PlxExperiment.id != experiment.id,
            )
        )
        if clash is not None:
            raise field_error("name", f"An experiment with name `{name}` already exists in this project.")
        experiment.name = name
    elif "name" in body:
        experiment.name = None
    for key in ("description", "readme"):
        if key in body:
            setattr(experiment, key, text_field(body, key))
    for key in ("framework", "backend"):
        if key in body:
            setattr(experiment, key, optional_string(body, key))
    if "tags" in body:
        tags = tags_field(body)
        experiment.tags = merge_tags(experiment.tags, tags) if merge else tags
    for key in _PATCHABLE_DICTS:
        if key in body:
            value = dict_field(body, key)
            if merge and value is not None:
                value = {**(getattr(experiment, key) or {}), **value}
            setattr(experiment, key, value)
    experiment.updated_at = utcnow()
    return experiment


# --- listing --------------------------------------------------------------------------------------------


def experiment_record(session: Session, experiment: PlxExperiment) -> dict[str, Any]:
    """The queryable fields of an experiment (spec §3.7)."""
    user = session.get(User, experiment.user_id)
    return {
        "row": experiment,
        "id": experiment.id,
        "name": experiment.name,
        "user": user.username if user else None,
        "status": experiment.last_status,
        "tags": experiment.tags or [],
        "group": experiment.group_id,
        "created_at": experiment.created_at,
        "updated_at": experiment.updated_at,
        "started_at": experiment.started_at,
        "finished_at": experiment.finished_at,
        "metrics": experiment.last_metric or {},
        "params": experiment.params or {},
    }


def filter_and_page(
    session: Session,
    base: Any,
    order: tuple[Any, ...],
    query: Mapping[str, str],
    page: PageRequest,
    record: Any,
    fields: frozenset[str],
) -> tuple[list[Any], int]:
    """SQL paging when there is no query/sort; otherwise filter and order in Python (see query.py)."""
    text, sort_text = query.get("query"), query.get("sort")
    try:
        conditions = query_grammar.parse_query(text, fields) if text else []
    except query_grammar.QueryError as error:
        raise query_grammar.problem(error, "query") from None
    try:
        sort = query_grammar.parse_sort(sort_text) if sort_text else []
    except query_grammar.QueryError as error:
        raise query_grammar.problem(error, "sort") from None
    if not conditions and not sort:
        count = session.scalar(select(func.count()).select_from(base.subquery())) or 0
        rows = session.scalars(base.order_by(*order).offset(page.offset).limit(page.limit)).all()
        return list(rows), count
    rows = session.scalars(base.order_by(*order)).all()
    kept = query_grammar.apply([record(session, row) for row in rows], conditions, sort)
    return [entry["row"] for entry in kept[page.offset : page.offset + page.limit]], len(kept)


def list_project_experiments(
    session: Session, project: PlxProject, query: Mapping[str, str], page: PageRequest
) -> tuple[list[PlxExperiment], int]:
    independent = query_bool(query, "independent")
    group_text = query.get("group")
    if independent and group_text:
        raise PolyaxonProblem(400, {"detail": "`independent` and `group` cannot be used together."})
    base = select(PlxExperiment).where(PlxExperiment.project_id == project.id)
    if independent:
        base = base.where(PlxExperiment.group_id.is_(None))
    if group_text:
        if not group_text.isdigit() or int(group_text) >= 2**62:
            raise field_error("group", "A valid integer is required.")
        base = base.where(PlxExperiment.group_id == int(group_text))
    order = (PlxExperiment.updated_at.desc(), PlxExperiment.id.desc())
    return filter_and_page(
        session, base, order, query, page, experiment_record, query_grammar.EXPERIMENT_FIELDS
    )


def list_readable_experiments(
    session: Session, principal: Principal, page: PageRequest
) -> tuple[list[PlxExperiment], int]:
    base = select(PlxExperiment).join(PlxProject, PlxProject.id == PlxExperiment.project_id)
    if principal.is_run:
        base = base.where(PlxProject.id == principal.project_id)
    elif not principal.user.is_superuser:
        base = base.where(or_(PlxProject.owner_id == principal.user.id, PlxProject.is_public.is_(True)))
    count = session.scalar(select(func.count()).select_from(base.subquery())) or 0
    rows = session.scalars(
        base.order_by(PlxExperiment.updated_at.desc(), PlxExperiment.id.desc())
        .offset(page.offset)
        .limit(page.limit)
    ).all()
    return list(rows), count


def find_experiment(session: Session, project: PlxProject, experiment_id: str) -> PlxExperiment:
    if not experiment_id.isdigit() or int(experiment_id) >= 2**62:
        raise not_found()
    experiment = session.get(PlxExperiment, int(experiment_id))
    if experiment is None or experiment.project_id != project.id:
        raise not_found()
    return experiment


# --- deletion -------------------------------------------------------------------------------------------


def delete_experiment_rows(session: Session, experiment: PlxExperiment) -> str | None:
    """Delete the experiment and its metrics stream; return its outputs path when no other experiment
    still shares it (the caller removes the directory after commit)."""
    shared = session.scalar(
        select(PlxExperiment.id).where(
            PlxExperiment.outputs_path == experiment.outputs_path, PlxExperiment.id != experiment.id
        )
    )
    metrics_store.delete_stream(session, dialect=DIALECT, kind=METRICS_KIND, ref=str(experiment.id))
    session.execute(
        delete(PlxBookmark).where(PlxBookmark.kind == "experiment", PlxBookmark.ref_id == experiment.id)
    )
    session.delete(experiment)
    session.flush()
    return None if shared is not None else experiment.outputs_path


def remove_outputs(outputs_root: Path, relative: str | None) -> None:
    if not relative:
        return
    target = (outputs_root / relative).resolve()
    if target != outputs_root and outputs_root in target.parents:
        shutil.rmtree(target, ignore_errors=True)


# --- restart / resume / copy ------------------------------------------------------------------------------


def resume_root(session: Session, experiment: PlxExperiment) -> PlxExperiment:
    """For resume, a source that is itself a resume is replaced by its root original."""
    current = experiment
    seen = {current.id}
    while current.cloning_strategy == "resume" and current.original_id is not None:
        parent = session.get(PlxExperiment, current.original_id)
        if parent is None or parent.id in seen:
            break
        seen.add(parent.id)
        current = parent
    return current


def clone_experiment(
    session: Session,
    principal: Principal,
    source: PlxExperiment,
    strategy: str,
    data: Mapping[str, Any],
    outputs_root: Path,
) -> NewExperiment:
    assert strategy in CLONING_STRATEGIES
    body = dict(data)
    original = resume_root(session, source) if strategy == "resume" else source
    if strategy == "resume":
        busy = session.scalar(
            select(PlxExperiment)
            .where(
                PlxExperiment.outputs_path == original.outputs_path, PlxExperiment.last_status.not_in(DONE)
            )
            .limit(1)
        )
        if busy is not None:
            raise conflict(
                f"Experiment `{experiment_unique_name(session, busy)}` is still running; stop it before resuming."
            )
    config = original.config if strategy == "resume" else source.config
    raw_content = original.content if strategy == "resume" else source.content
    params = (original if strategy == "resume" else source).params
    patch = body.get("content")
    parsed = None
    if patch is not None:
        try:
            decoded = polyaxonfile.decode(patch)
            merged = polyaxonfile.deep_merge(dict(config or {"version": 1, "kind": "experiment"}), decoded)
            parsed = polyaxonfile.validate(merged, "experiment")
        except polyaxonfile.ContentError as error:
            raise field_error("content", str(error)) from None
        config = parsed.data
        raw_content = json.dumps(config)
        params = parsed.params
    description = text_field(body, "description")
    update_code = bool_field(body, "update_code", False)
    project = session.get(PlxProject, source.project_id)
    assert project is not None
    version_id = source.code_version_id
    if update_code:
        latest = latest_code_version(session, project.id)
        version_id = latest.id if latest is not None else None
    now = utcnow()
    clone = PlxExperiment(
        project_id=source.project_id,
        group_id=source.group_id,
        user_id=principal.user.id,
        name=None,
        description=description if description is not None else source.description,
        content=raw_content,
        config=config,
        params=params,
        tags=None,
        framework=source.framework,
        backend=source.backend,
        is_managed=source.is_managed,
        run_env=None,
        data_refs=source.data_refs,
        resources=parsed.resources if parsed is not None else source.resources,
        original_id=original.id,
        cloning_strategy=strategy,
        code_version_id=version_id,
        last_metric={},
        last_metric_sources={},
        created_at=now,
        updated_at=now,
    )
    session.add(clone)
    session.flush()
    if strategy == "resume":
        clone.outputs_path = original.outputs_path
    else:
        clone.outputs_path = outputs_path(session, clone)
        if strategy == "copy":
            copy_outputs(outputs_root, source.outputs_path, clone.outputs_path)
    write_created(session, clone)
    return NewExperiment(clone, submit=clone.is_managed)


def copy_outputs(outputs_root: Path, source: str, target: str) -> None:
    source_dir, target_dir = outputs_root / source, outputs_root / target
    target_dir.parent.mkdir(parents=True, exist_ok=True)
    if source_dir.is_dir():
        shutil.copytree(source_dir, target_dir, symlinks=True, dirs_exist_ok=True)
    else:
        target_dir.mkdir(parents=True, exist_ok=True)
