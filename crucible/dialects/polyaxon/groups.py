"""Experiment groups (spec §3.5, §4.7): selection groups fed by the client, and studies whose experiments
the group scheduler creates from the search algorithm, within the group's concurrency.

The scheduler runs in one background thread. It is woken when a group is created, when one of its
experiments changes status and when it is stopped; each pass is one write transaction holding the
group's row lock, so two passes never issue the same suggestion twice.
"""

from __future__ import annotations

import json
import logging
import queue
import secrets
import threading
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crucible.core.accounts import User
from crucible.core.db import utcnow
from crucible.dialects.polyaxon import content as polyaxonfile
from crucible.dialects.polyaxon import query as query_grammar
from crucible.dialects.polyaxon import search, statuses
from crucible.dialects.polyaxon.auth import Principal
from crucible.dialects.polyaxon.errors import field_error, not_found
from crucible.dialects.polyaxon.execution import Bridge
from crucible.dialects.polyaxon.experiments import (
    clone_experiment,
    create_experiment,
    filter_and_page,
    latest_code_version,
)
from crucible.dialects.polyaxon.models import PlxExperiment, PlxGroup, PlxProject
from crucible.dialects.polyaxon.projects import bool_field, merge_tags, tags_field, text_field
from crucible.dialects.polyaxon.representations import experiment_unique_name
from crucible.dialects.polyaxon.runtime import Runtime
from crucible.dialects.polyaxon.wire import PageRequest, check_name

log = logging.getLogger(__name__)

GROUP_FIELDS = frozenset(("id", "name", "user", "status", "tags", *query_grammar.DATETIME_FIELDS))


# --- CRUD ---------------------------------------------------------------------------------------------------


def find_group(session: Session, project: PlxProject, group_id: str) -> PlxGroup:
    if not group_id.isdigit() or int(group_id) >= 2**62:
        raise not_found()
    group = session.get(PlxGroup, int(group_id))
    if group is None or group.project_id != project.id:
        raise not_found()
    return group


def _name_taken(session: Session, project_id: int, name: str, exclude: int | None = None) -> bool:
    query = select(PlxGroup.id).where(PlxGroup.project_id == project_id, PlxGroup.name == name)
    if exclude is not None:
        query = query.where(PlxGroup.id != exclude)
    return session.scalar(query) is not None


def create_group(
    session: Session, principal: Principal, project: PlxProject, data: Mapping[str, Any]
) -> PlxGroup:
    body = dict(data)
    raw_content = body.get("content")
    config: dict[str, Any] | None = None
    plan: search.Plan | None = None
    parsed = None
    if raw_content is not None:
        try:
            parsed = polyaxonfile.parse(raw_content, "group")
            plan = search.plan(parsed.hptuning or {})
        except (polyaxonfile.ContentError, search.SearchError) as error:
            raise field_error("content", str(error)) from None
        config = parsed.data
    name = body.get("name") if body.get("name") is not None else (parsed.name if parsed else None)
    if name is not None:
        name = check_name(name)
        if _name_taken(session, project.id, name):
            raise field_error("name", f"A group with name `{name}` already exists in this project.")
    tags = tags_field(body)
    if tags is None and parsed is not None:
        tags = parsed.tags
    now = utcnow()
    version = latest_code_version(session, project.id)
    group = PlxGroup(
        project_id=project.id,
        user_id=principal.user.id,
        name=name,
        description=text_field(body, "description"),
        tags=tags,
        content=raw_content if isinstance(raw_content, str) or raw_content is None else str(raw_content),
        config=config,
        is_managed=plan is not None and bool_field(body, "is_managed", True) is not False,
        group_type="study" if plan is not None else "selection",
        search_algorithm=plan.algorithm if plan is not None else None,
        concurrency=plan.concurrency if plan is not None else 1,
        backend=parsed.backend if parsed is not None else None,
        search_state=search.initial_state(plan, secrets.randbelow(2**31)) if plan is not None else None,
        code_version_id=version.id if version is not None else None,
        created_at=now,
        updated_at=now,
    )
    session.add(group)
    session.flush()
    statuses.write_group_created(session, group)
    project.updated_at = now
    return group


def update_group(session: Session, group_id: int, data: Mapping[str, Any]) -> PlxGroup:
    group = statuses.lock_group(session, group_id)
    if group is None:
        raise not_found()
    body = dict(data)
    merge = bool_field(body, "merge", False)
    if body.get("name") is not None:
        name = check_name(body["name"])
        if _name_taken(session, group.project_id, name, exclude=group.id):
            raise field_error("name", f"A group with name `{name}` already exists in this project.")
        group.name = name
    for key in ("description", "readme"):
        if key in body:
            setattr(group, key, text_field(body, key))
    if "tags" in body:
        tags = tags_field(body)
        group.tags = merge_tags(group.tags, tags) if merge else tags
    group.updated_at = utcnow()
    return group


def group_record(session: Session, group: PlxGroup) -> dict[str, Any]:
    user = session.get(User, group.user_id)
    return {
        "row": group,
        "id": group.id,
        "name": group.name,
        "user": user.username if user else None,
        "status": group.last_status,
        "tags": group.tags or [],
        "created_at": group.created_at,
        "updated_at": group.updated_at,
        "started_at": group.started_at,
        "finished_at": group.finished_at,
    }


def list_groups(
    session: Session, project: PlxProject, query: Mapping[str, str], page: PageRequest
) -> tuple[list[PlxGroup], int]:
    base = select(PlxGroup).where(PlxGroup.project_id == project.id)
    order = (PlxGroup.updated_at.desc(), PlxGroup.id.desc())
    return filter_and_page(session, base, order, query, page, group_record, GROUP_FIELDS)


def members(session: Session, group_id: int) -> list[PlxExperiment]:
    return list(
        session.scalars(
            select(PlxExperiment).where(PlxExperiment.group_id == group_id).order_by(PlxExperiment.id)
        )
    )


def stop_group(session: Session, bridge: Bridge, group_id: int, *, pending: bool) -> None:
    """Without `pending`: stopping, stop every member not done, stopped. With it: stop members that have
    not started, create nothing more, and end `stopped` once the running ones finish."""
    group = statuses.lock_group(session, group_id)
    if group is None or group.last_status in statuses.GROUP_DONE_STATUSES:
        return
    if pending:
        group.stop_pending = True
        for experiment in members(session, group.id):
            if experiment.last_status in statuses.NOT_STARTED:
                bridge.stop(session, experiment.id, "Stopped with its group (pending experiments).")
        if not any(e.last_status not in statuses.DONE for e in members(session, group.id)):
            statuses.group_transition(session, group.id, statuses.STOPPED, "Stopped by the user.")
        return
    statuses.group_transition(session, group.id, statuses.GROUP_STOPPING)
    for experiment in members(session, group.id):
        if experiment.last_status not in statuses.DONE:
            bridge.stop(session, experiment.id, "Stopped with its group.")
    statuses.group_transition(session, group.id, statuses.STOPPED, "Stopped by the user.")


# --- the scheduler -----------------------------------------------------------------------------------------


class GroupScheduler:
    """Creates a study's experiments as slots free up; one background thread, woken per group."""

    def __init__(self, runtime: Runtime, bridge: Bridge) -> None:
        self.runtime = runtime
        self.bridge = bridge
        self._queue: queue.Queue[int | None] = queue.Queue()
        self._thread: threading.Thread | None = None

    def wake(self, group_id: int) -> None:
        self._queue.put(group_id)
        if self._thread is None:  # not started (e.g. in-process tests without lifespan): run inline
            self._drain()

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return  # already started (an app's lifespan may run more than once)
        self._thread = threading.Thread(target=self._loop, name="polyaxon-groups", daemon=True)
        self._thread.start()
        with self.runtime.db.read() as session:  # pick up groups that were running before a restart
            active = session.scalars(
                select(PlxGroup.id).where(
                    PlxGroup.group_type == "study", PlxGroup.last_status.not_in(statuses.GROUP_DONE_STATUSES)
                )
            ).all()
        for group_id in active:
            self._queue.put(group_id)

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=10)
            self._thread = None

    def wait_idle(self) -> None:
        """Block until every wake-up so far has been handled (tests use it instead of polling)."""
        self._queue.join()

    def _loop(self) -> None:
        while True:
            group_id = self._queue.get()
            try:
                if group_id is None:
                    return
                self._run(group_id)
            finally:
                self._queue.task_done()

    def _drain(self) -> None:
        while True:
            try:
                group_id = self._queue.get_nowait()
            except queue.Empty:
                return
            try:
                if group_id is not None:
                    self._run(group_id)
            finally:
                self._queue.task_done()

    def _run(self, group_id: int) -> None:
        try:
            with self.runtime.write() as session:
                schedule(session, self.bridge, group_id)
        except Exception as error:  # an engine failure fails the group, it never kills the thread
            log.exception("group scheduling failed", extra={"group": group_id})
            try:
                with self.runtime.write() as session:
                    statuses.group_transition(session, group_id, statuses.FAILED, f"Search failed: {error}")
            except Exception:
                log.exception("could not mark the group failed", extra={"group": group_id})


def schedule(session: Session, bridge: Bridge, group_id: int) -> None:
    """One scheduling pass (spec §4.7 "Scheduling", "Early stopping", "Stop")."""
    group = statuses.lock_group(session, group_id)
    if group is None or group.group_type != "study" or group.last_status in statuses.GROUP_DONE_STATUSES:
        return
    if group.last_status == statuses.GROUP_STOPPING:
        return
    assert group.config is not None
    plan = search.plan(group.config.get("hptuning") or {})
    state = dict(group.search_state or search.initial_state(plan, 0))
    current = members(session, group.id)

    if group.stop_pending:
        if all(e.last_status in statuses.DONE for e in current):
            statuses.group_transition(session, group.id, statuses.STOPPED, "Stopped by the user.")
        return

    if not state.get("early_stopped"):
        for experiment in current:
            rule = next((r for r in plan.early_stopping if r.reached(experiment.last_metric or {})), None)
            if rule is not None:
                name = experiment_unique_name(session, experiment)
                state["early_stopped"] = f"early stopping: {rule.metric} reached {rule.value:g} in {name}"
                for other in current:
                    if other.last_status in statuses.NOT_STARTED:
                        statuses.transition(
                            session, other.id, statuses.SKIPPED, "Skipped: the group stopped early."
                        )
                        bridge.stop_after_commit(session, other.id)
                break

    exhausted = bool(state.get("early_stopped"))
    if not exhausted:
        exhausted = _issue(session, bridge, group, plan, state, current)
    group.search_state = state
    if exhausted and all(e.last_status in statuses.DONE for e in members(session, group.id)):
        statuses.group_transition(session, group.id, statuses.GROUP_DONE, state.get("early_stopped"))


def _active(experiments: list[PlxExperiment]) -> int:
    return sum(1 for e in experiments if e.last_status not in statuses.DONE)


def _issue(
    session: Session,
    bridge: Bridge,
    group: PlxGroup,
    plan: search.Plan,
    state: dict[str, Any],
    current: list[PlxExperiment],
) -> bool:
    """Create experiments while slots are free; True when the algorithm has nothing more to issue."""
    slots = plan.concurrency - _active(current)
    if plan.algorithm in ("grid", "random"):
        configs = search.batch(plan, state) or []
        while slots > 0 and state["issued"] < len(configs):
            _create_member(session, bridge, group, configs[state["issued"]])
            state["issued"] += 1
            slots -= 1
        return state["issued"] >= len(configs)
    if plan.algorithm == "bo":
        while slots > 0:
            finished = [
                search.Finished(e.params or {}, e.last_metric or {})
                for e in current
                if e.last_status == statuses.SUCCEEDED
            ]
            config = search.bo_next(plan, state, finished)
            if config is None:
                return True
            _create_member(session, bridge, group, config)
            state["issued"] += 1
            slots -= 1
        total = plan.settings["n_initial_trials"] + plan.settings["n_iterations"]
        return state["issued"] >= total
    return _issue_hyperband(session, bridge, group, plan, state, slots)


def _issue_hyperband(
    session: Session, bridge: Bridge, group: PlxGroup, plan: search.Plan, state: dict[str, Any], slots: int
) -> bool:
    resource_name = plan.settings["resource"]["name"]
    while state["bracket"] >= 0:
        count, resource = search.hyperband_rung(plan, state)
        if state["rung_configs"] is None:
            if state["rung"] == 0:
                configs = search.hyperband_fresh_configs(plan, state, count)
                state["rung_configs"] = [{"params": c, "resume_from": None} for c in configs]
            state["rung_experiments"] = []
        rung_configs = state["rung_configs"]
        while slots > 0 and len(state["rung_experiments"]) < len(rung_configs):
            entry = rung_configs[len(state["rung_experiments"])]
            params = {**entry["params"], resource_name: search.resource_value(plan, resource)}
            experiment = _create_member(session, bridge, group, params, resume_from=entry["resume_from"])
            state["rung_experiments"].append(experiment.id)
            state["issued"] += 1
            slots -= 1
        if len(state["rung_experiments"]) < len(rung_configs):
            return False
        rung = [session.get(PlxExperiment, eid) for eid in state["rung_experiments"]]
        if any(e is not None and e.last_status not in statuses.DONE for e in rung):
            return False
        done = [e for e in rung if e is not None]
        ranked = sorted(
            done,
            key=lambda e: search.metric_rank_key(plan.settings["metric"], plan.settings["maximize"])(
                search.Finished(e.params or {}, e.last_metric or {})
            ),
        )
        keep = count // plan.settings["eta"]
        if state["rung"] + 1 > state["bracket"] or keep == 0:
            state["bracket"] -= 1
            state["rung"] = 0
            state["rung_configs"] = None
            continue
        state["rung"] += 1
        state["rung_configs"] = [
            {
                "params": {k: v for k, v in (e.params or {}).items() if k != resource_name},
                "resume_from": e.id if plan.settings["resume"] else None,
            }
            for e in ranked[:keep]
        ]
        state["rung_experiments"] = []
    return True


def _create_member(
    session: Session,
    bridge: Bridge,
    group: PlxGroup,
    params: dict[str, Any],
    *,
    resume_from: int | None = None,
) -> PlxExperiment:
    user = session.get(User, group.user_id)
    project = session.get(PlxProject, group.project_id)
    assert user is not None and project is not None and group.config is not None
    principal = Principal(user)
    if resume_from is not None:
        source = session.get(PlxExperiment, resume_from)
        if source is not None:
            created = clone_experiment(
                session,
                principal,
                source,
                "resume",
                {"content": json.dumps({"params": params})},
                bridge.runtime.outputs_root,
            )
            created.experiment.params = {**(source.params or {}), **params}
            if created.submit:
                bridge.submit_after_commit(session, created.experiment.id)
            _mark_group_running(session, group)
            return created.experiment
    config = polyaxonfile.experiment_config_for_group(group.config, params)
    created = create_experiment(
        session,
        principal,
        project,
        {"content": json.dumps(config), "is_managed": group.is_managed},
        group=group,
    )
    if group.code_version_id is not None:
        created.experiment.code_version_id = group.code_version_id
    if created.submit:
        bridge.submit_after_commit(session, created.experiment.id)
    _mark_group_running(session, group)
    return created.experiment


def _mark_group_running(session: Session, group: PlxGroup) -> None:
    if group.last_status in (statuses.CREATED, statuses.WARNING):
        statuses.group_transition(session, group.id, statuses.RUNNING)
