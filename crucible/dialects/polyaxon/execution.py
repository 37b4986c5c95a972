"""Running managed experiments (spec §4.6) through the shared job executor (crucible.core.executor).

The dialect owns everything Polyaxon-specific about a run: the POLYAXON_* environment, the working copy
extracted from the experiment's code version, the outputs directory, the run-scoped token and the
single-use ephemeral token, the warning lines, and the mapping of executor events to statuses, which
always goes through the transition function. The executor only runs shell steps and reports events.

The bridge is what routes and the group scheduler call: `submit_after_commit` once the creating
transaction has committed, and `stop`, which records `stopped` at once and signals the run after commit.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crucible.core.executor import (
    Executor,
    Finished,
    Logs,
    Resources,
    RunEvent,
    Running,
    RunSpec,
    RunState,
    Starting,
)
from crucible.dialects.polyaxon import auth, logs, statuses
from crucible.dialects.polyaxon.content import render_command
from crucible.dialects.polyaxon.models import PlxCodeVersion, PlxExperiment, PlxGroup, PlxJob, PlxProject
from crucible.dialects.polyaxon.repos import extract_to
from crucible.dialects.polyaxon.representations import (
    experiment_unique_name,
    group_unique_name,
    project_unique_name,
)
from crucible.dialects.polyaxon.runtime import Runtime, after_commit

log = logging.getLogger(__name__)

NO_CMD = "No run.cmd in polyaxonfile"
SERVER_RESTARTED = "Server restarted during execution"
SUBMITTABLE = frozenset((statuses.CREATED, statuses.RESUMING, statuses.WARNING, statuses.UNKNOWN))


def run_id(experiment: PlxExperiment) -> str:
    """Also the Ray submission id, which Ray never lets anyone reuse: one per experiment, forever."""
    return f"polyaxon-{experiment.uuid}"


@dataclass
class PreparedRun:
    spec: RunSpec
    warnings: list[str] = field(default_factory=list)


class Launcher:
    """Submits experiments to the executor and turns its events into statuses, logs and jobs."""

    def __init__(self, runtime: Runtime, executor: Callable[[], Executor]) -> None:
        self.runtime = runtime
        self._executor = executor
        self._warnings: dict[int, list[str]] = {}
        self.is_ray = bool(runtime.settings.executor_ray_address)

    @property
    def executor(self) -> Executor:
        return self._executor()

    # --- submission -----------------------------------------------------------------------------------

    def submit(self, experiment_id: int) -> None:
        try:
            prepared = self._prepare(experiment_id)
            if prepared is None:
                return
            self._warnings[experiment_id] = prepared.warnings
            self.executor.submit(prepared.spec, self._on_event(experiment_id, prepared.spec.working_dir))
        except Exception as error:
            log.exception("could not submit experiment", extra={"experiment": experiment_id})
            with self.runtime.write() as session:
                statuses.transition(
                    session, experiment_id, statuses.FAILED, f"Could not start the run: {error}"
                )

    def _prepare(self, experiment_id: int) -> PreparedRun | None:
        """Record `scheduled`, mint the run's tokens, build the working copy; None when not runnable."""
        settings = self.runtime.settings
        with self.runtime.write() as session:
            experiment = statuses.lock_experiment(session, experiment_id)
            if experiment is None or not experiment.is_managed:
                return None
            if experiment.last_status != statuses.SCHEDULED:  # a scheduled one is being re-queued
                if experiment.last_status not in SUBMITTABLE:
                    return None
                statuses.transition(session, experiment.id, statuses.SCHEDULED)
            config = experiment.config or {}
            rendered = render_command(config, experiment.params)
            if rendered.command is None:
                statuses.transition(session, experiment.id, statuses.FAILED, NO_CMD)
                return None
            build = config.get("build") if isinstance(config.get("build"), dict) else {}
            steps = [*(build.get("build_steps") or []), rendered.command]
            run_token, token_row = auth.issue_run_token(session, experiment)
            experiment.run_token_id = token_row.id
            ephemeral = auth.issue_ephemeral_token(session, experiment)
            env = self._environment(session, experiment, run_token, ephemeral, build)
            version = (
                session.get(PlxCodeVersion, experiment.code_version_id)
                if experiment.code_version_id
                else None
            )
            blob_key = version.blob_key if version is not None else None
            outputs_dir = self.runtime.outputs_root / experiment.outputs_path
            warnings = [*self._executor_warnings(config), *rendered.warnings]
            labels = {
                "dialect": "polyaxon",
                "experiment_id": str(experiment.id),
                "experiment_uuid": experiment.uuid,
                "group": str(experiment.group_id or ""),
            }
            resources = _resources(experiment.resources)
            spec_id = run_id(experiment)
        working_dir = settings.data_dir.resolve() / "polyaxon" / "work" / spec_id
        shutil.rmtree(working_dir, ignore_errors=True)
        working_dir.mkdir(parents=True)
        if blob_key is not None:
            extract_to(self.runtime.blobs, blob_key, working_dir)
        outputs_dir.mkdir(parents=True, exist_ok=True)
        spec = RunSpec(
            run_id=spec_id,
            steps=steps,
            working_dir=working_dir,
            outputs_dir=outputs_dir,
            env=env,
            resources=resources,
            labels=labels,
            python_bin_dir=self.runtime.services.python_bin_dir(),
        )
        return PreparedRun(spec, warnings)

    def _environment(
        self,
        session: Session,
        experiment: PlxExperiment,
        run_token: str,
        ephemeral: str,
        build: dict[str, Any],
    ) -> dict[str, str]:
        settings = self.runtime.settings
        project = session.get(PlxProject, experiment.project_id)
        group = session.get(PlxGroup, experiment.group_id) if experiment.group_id else None
        assert project is not None
        api_url = settings.resolved_executor_api_url
        if self.is_ray and settings.executor_ray_api_url:
            api_url = settings.executor_ray_api_url.rstrip("/")
        info = {
            "project_name": project_unique_name(session, project),
            "experiment_name": experiment_unique_name(session, experiment),
            "experiment_group_name": group_unique_name(session, group) if group is not None else None,
            "project_uuid": project.uuid,
            "experiment_uuid": experiment.uuid,
            "experiment_group_uuid": group.uuid if group is not None else None,
        }
        env = {str(k): str(v) for k, v in (build.get("env_vars") or [])}
        env.update(
            {
                "PYTHONUNBUFFERED": "1",
                "POLYAXON_IS_MANAGED": "true",
                "POLYAXON_API_HTTP_HOST": api_url,
                "POLYAXON_API_WS_HOST": "ws" + api_url.removeprefix("http"),
                "POLYAXON_EXPERIMENT_INFO": json.dumps(info),
                "POLYAXON_SECRET_EPHEMERAL_TOKEN": ephemeral,
                "POLYAXON_SECRET_USER_TOKEN": run_token,
                "POLYAXON_RUN_OUTPUTS_PATH": str(self.runtime.outputs_root / experiment.outputs_path),
                "POLYAXON_PARAMS": json.dumps(experiment.params or {}),
                "POLYAXON_LOG_LEVEL": "INFO",
                "POLYAXON_RUN_DATA_PATHS": "{}",
                "POLYAXON_REFS_OUTPUTS_PATHS": "{}",
                "POLYAXON_NO_OP": "false",
            }
        )
        if self.is_ray:  # Ray does not apply python_bin_dir: put the chosen interpreter first on PATH
            env.setdefault("PATH", f"{self.runtime.services.python_bin_dir()}{os.pathsep}{os.defpath}")
        return env

    def _executor_warnings(self, config: dict[str, Any]) -> list[str]:
        """What neither executor can honour, said once at the start of the run's log."""
        python = str(self.runtime.services.python_bin_dir() / "python")
        where = (
            "the Ray cluster's environment" if self.is_ray else f"the server's Python environment ({python})"
        )
        name = "Ray" if self.is_ray else "local"
        lines = []
        build = config.get("build") if isinstance(config.get("build"), dict) else {}
        environment = config.get("environment") if isinstance(config.get("environment"), dict) else {}
        image = build.get("image")
        if image and not (self.is_ray and self.runtime.settings.executor_ray_honour_image):
            lines.append(
                f'[polyaxon] WARNING: build.image "{image}" is not used by the {name} executor; running in {where}'
            )
        if build.get("dockerfile"):
            lines.append(f"[polyaxon] WARNING: build.dockerfile is not used by the {name} executor")
        if environment.get("replicas"):
            lines.append(
                f"[polyaxon] WARNING: environment.replicas is ignored; the {name} executor runs one process"
            )
        resources = environment.get("resources") if isinstance(environment.get("resources"), dict) else {}
        for kind in ("gpu", "tpu"):
            if resources.get(kind) and not (self.is_ray and kind == "gpu"):
                lines.append(f"[polyaxon] WARNING: {kind} requests cannot be honoured by the {name} executor")
        for key in ("node_selector", "affinity", "tolerations"):
            if environment.get(key):
                lines.append(f"[polyaxon] WARNING: environment.{key} is ignored by the {name} executor")
        return lines

    # --- events ----------------------------------------------------------------------------------------

    def _on_event(self, experiment_id: int, working_dir: Path | None) -> Callable[[RunEvent], None]:
        def handle(event: RunEvent) -> None:
            try:
                self._apply(experiment_id, event)
            except Exception:
                log.exception("could not record an executor event", extra={"experiment": experiment_id})
            if isinstance(event, Finished):
                self._warnings.pop(experiment_id, None)
                if working_dir is not None:
                    shutil.rmtree(working_dir, ignore_errors=True)

        return handle

    def _apply(self, experiment_id: int, event: RunEvent) -> None:
        max_bytes = self.runtime.settings.polyaxon_logs_max_bytes
        with self.runtime.write() as session:
            if session.get(PlxExperiment, experiment_id) is None:
                return  # deleted meanwhile
            if isinstance(event, Starting):
                statuses.transition(session, experiment_id, statuses.STARTING)
                warnings = self._warnings.get(experiment_id) or []
                if warnings:
                    logs.append(session, experiment_id, warnings, max_bytes)
            elif isinstance(event, Running):
                applied = statuses.transition(session, experiment_id, statuses.RUNNING)
                if applied.applied or not _master_job(session, experiment_id):
                    self._record_job(session, experiment_id, event)
            elif isinstance(event, Logs):
                logs.append(session, experiment_id, [line.text for line in event.lines], max_bytes)
            elif isinstance(event, Finished):
                status = {
                    RunState.SUCCEEDED: statuses.SUCCEEDED,
                    RunState.STOPPED: statuses.STOPPED,
                }.get(event.state, statuses.FAILED)
                statuses.transition(session, experiment_id, status, event.message, event.traceback)

    def _record_job(self, session: Session, experiment_id: int, event: Running) -> None:
        experiment = session.get(PlxExperiment, experiment_id)
        assert experiment is not None
        pod_id = event.submission_id or (f"local-{event.pid}" if event.pid else None)
        job = _master_job(session, experiment_id)
        if job is None:
            job = statuses.create_job(session, experiment, pod_id, event.host or None)
            statuses.job_transition(session, job, statuses.SCHEDULED)
        job.pod_id, job.node_scheduled, job.run_handle = pod_id, event.host or None, event.handle
        if experiment.last_status in statuses.DONE:
            statuses.job_transition(session, job, experiment.last_status)
        else:
            statuses.job_transition(session, job, statuses.RUNNING)

    # --- stop and recovery ------------------------------------------------------------------------------

    def cancel_run(self, spec_id: str) -> None:
        self.executor.stop(spec_id)

    def recover(self) -> None:
        """After a (re)start: re-queue `scheduled` runs; take over `starting`/`running` ones by their
        handle (a local run is killed and reported failed, a Ray job is followed again)."""
        if not self.runtime.settings.executor_local_enabled and not self.is_ray:
            return
        with self.runtime.db.read() as session:
            rows = session.execute(
                select(PlxExperiment.id, PlxExperiment.uuid, PlxExperiment.last_status).where(
                    PlxExperiment.is_managed.is_(True),
                    PlxExperiment.last_status.in_((statuses.SCHEDULED, statuses.STARTING, statuses.RUNNING)),
                )
            ).all()
            handles = {
                job.experiment_id: job.run_handle
                for job in session.scalars(
                    select(PlxJob).where(PlxJob.experiment_id.in_([r[0] for r in rows]))
                )
            }
            seen = {r[0]: logs.line_count(session, r[0]) for r in rows}
        for experiment_id, uuid, status in rows:
            if status == statuses.SCHEDULED:
                self.submit(experiment_id)
                continue
            handle = handles.get(experiment_id)
            if handle is None:
                with self.runtime.write() as session:
                    statuses.transition(session, experiment_id, statuses.FAILED, SERVER_RESTARTED)
                continue
            try:
                self.executor.reattach(
                    f"polyaxon-{uuid}",
                    handle,
                    self._on_event(experiment_id, None),
                    lines_seen=seen[experiment_id],
                )
            except (ValueError, RuntimeError) as error:
                with self.runtime.write() as session:
                    statuses.transition(
                        session, experiment_id, statuses.FAILED, f"{SERVER_RESTARTED}: {error}"
                    )


def _master_job(session: Session, experiment_id: int) -> PlxJob | None:
    return session.scalar(
        select(PlxJob).where(PlxJob.experiment_id == experiment_id, PlxJob.role == "master")
    )


def _resources(resources: dict[str, Any] | None) -> Resources:
    def request(kind: str) -> float | None:
        entry = (resources or {}).get(kind) or {}
        value = entry.get("requests") if isinstance(entry, dict) else None
        return (
            float(value)
            if isinstance(value, int | float) and not isinstance(value, bool) and value > 0
            else None
        )

    return Resources(cpus=request("cpu"), gpus=request("gpu"))


class Bridge:
    """What the routes and the group scheduler call; `launcher` is None when execution is off."""

    def __init__(self, runtime: Runtime, launcher: Launcher | None) -> None:
        self.runtime = runtime
        self.launcher = launcher

    def submit_after_commit(self, session: Session, experiment_id: int) -> None:
        launcher = self.launcher
        if launcher is not None:
            after_commit(session, lambda: launcher.submit(experiment_id))

    def stop_after_commit(self, session: Session, experiment_id: int) -> None:
        """Signal the run (if any) once the transaction commits; writes no status (deletions)."""
        launcher = self.launcher
        experiment = session.get(PlxExperiment, experiment_id)
        if launcher is not None and experiment is not None:
            spec_id = run_id(experiment)
            after_commit(session, lambda: launcher.cancel_run(spec_id))

    def stop(
        self, session: Session, experiment_id: int, message: str | None, traceback: str | None = None
    ) -> None:
        """Record `stopped` now (a no-op on done experiments) and signal the run after commit."""
        result = statuses.transition(session, experiment_id, statuses.STOPPED, message, traceback)
        if result.applied:
            self.stop_after_commit(session, experiment_id)


def install(runtime: Runtime) -> Bridge:
    settings = runtime.settings
    if not settings.executor_local_enabled and not settings.executor_ray_address:
        return Bridge(runtime, None)
    launcher = Launcher(runtime, runtime.services.executor)
    runtime.services.on_startup(launcher.recover)
    return Bridge(runtime, launcher)
