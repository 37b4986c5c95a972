"""Polyaxon's wire format at /api/v1 (spec §3): paths, status codes and bodies.

Handlers are thin: authenticate, parse, call a domain module, shape the response. They are plain
functions, so FastAPI runs them in its thread pool and database work never blocks the event loop.
Every path answers with and without its trailing slash, never with a redirect (`PolyaxonPaths`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI
from sqlalchemy import func, select, update
from sqlalchemy.exc import DataError
from sqlalchemy.orm import Session
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from crucible.core import metrics as metrics_store
from crucible.core.accounts import User, find_user_by_username
from crucible.core.db import utcnow
from crucible.core.http import BodyError, ErrorFormats, absolute_url, parse_json_bytes, read_body_data
from crucible.core.services import Services
from crucible.dialects.polyaxon import (
    auth,
    bookmarks,
    execution,
    experiments,
    groups,
    heartbeats,
    logs,
    metrics,
    projects,
    repos,
    representations,
    schemas,
    statuses,
    tensorboards,
)
from crucible.dialects.polyaxon.auth import Principal
from crucible.dialects.polyaxon.errors import (
    PolyaxonProblem,
    bad_request,
    field_error,
    forbidden,
    is_polyaxon_path,
    not_found,
    problem_response,
    routing_error_response,
    too_large,
    unauthorized,
)
from crucible.dialects.polyaxon.models import (
    PlxCodeReference,
    PlxCodeVersion,
    PlxExperiment,
    PlxExperimentStatus,
    PlxGroup,
    PlxGroupStatus,
    PlxJob,
    PlxJobStatus,
    PlxProject,
)
from crucible.dialects.polyaxon.runtime import Runtime, after_commit
from crucible.dialects.polyaxon.wire import (
    METRICS_DEFAULT_LIMIT,
    METRICS_MAX_LIMIT,
    PageRequest,
    page_body,
    page_request,
    query_bool,
)

PREFIX = "/api/v1"
VERSIONS = {"latest_version": "0.5.6", "min_version": "0.5.0"}
NO_BODY = object()


class PolyaxonPaths:
    """ASGI middleware: `/api/v1/...x/` is routed as `/api/v1/...x`, so both forms answer alike."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            if path.startswith(PREFIX + "/") and path.endswith("/") and len(path) > len(PREFIX) + 1:
                scope = dict(scope)
                scope["crucible.original_path"] = path
                scope["path"] = path.rstrip("/")
                scope["raw_path"] = scope["path"].encode()
        await self.app(scope, receive, send)


async def raw_body(request: Request) -> bytes:
    return await request.body()


RawBody = Annotated[bytes, Depends(raw_body)]


def ok(body: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status)


def empty(status: int = 200) -> Response:
    return Response(status_code=status)


def parse_json(raw: bytes) -> Any:
    """The JSON body, or NO_BODY when there is none (action POSTs may send nothing)."""
    if not raw.strip():
        return NO_BODY
    try:
        return parse_json_bytes(raw, allow_nan=True)
    except BodyError as error:
        raise bad_request(f"JSON parse error - {error}") from None
    except RecursionError:
        raise bad_request("JSON parse error - too deeply nested") from None


def json_object(raw: bytes) -> dict[str, Any]:
    data = parse_json(raw)
    if data is NO_BODY:
        return {}
    if not isinstance(data, dict):
        raise PolyaxonProblem(400, {"non_field_errors": ["Invalid data. Expected a dictionary."]})
    return data


def install(app: FastAPI, services: Services, error_formats: ErrorFormats) -> Runtime:
    runtime = Runtime(services)
    error_formats.register(is_polyaxon_path, routing_error_response)
    app.add_middleware(PolyaxonPaths)
    bridge = execution.install(runtime)
    scheduler = groups.GroupScheduler(runtime, bridge)
    runtime.on_group_activity = scheduler.wake
    app.state.polyaxon = runtime
    runtime.group_scheduler = scheduler
    heartbeats.install(runtime)
    services.on_startup(scheduler.start)
    services.on_shutdown(scheduler.stop)
    app.include_router(build_router(runtime, bridge))
    return runtime


def build_router(runtime: Runtime, bridge: execution.Bridge) -> APIRouter:
    settings = runtime.settings
    db = runtime.db
    router = APIRouter(prefix=PREFIX, tags=["polyaxon"])
    key_cache = auth.KeyCache()

    def run(
        request: Request, work: Callable[[Session, Principal], Response], *, write: bool = False
    ) -> Response:
        authorization = request.headers.get("authorization")
        try:
            if write:
                with runtime.write() as session:
                    response = work(session, auth.authenticate(session, authorization))
                return response
            with db.read() as session:
                return work(session, auth.authenticate(session, authorization))
        except PolyaxonProblem as problem:
            return problem_response(problem)
        except DataError:  # e.g. a NUL character, which PostgreSQL text refuses: the input is at fault
            return problem_response(
                bad_request("The request holds characters or values the database refuses.")
            )

    def page_of(
        request: Request,
        lister: Callable[[Session, Principal, PageRequest], tuple[list[Any], int]],
        shape: Callable[[Session, Principal, Any], Any],
        *,
        default: int = 20,
        cap: int = 1000,
    ) -> Response:
        def work(session: Session, principal: Principal) -> Response:
            page = page_request(request.query_params, default=default, cap=cap)
            rows, count = lister(session, principal, page)
            base = absolute_url(
                request,
                request.scope.get("crucible.original_path", request.url.path),
                trust_forwarded=settings.trust_forwarded_headers,
            )
            results = [shape(session, principal, row) for row in rows]
            return ok(page_body(results, count, page, base, list(request.query_params.multi_items())))

        return run(request, work)

    # --- lookups -------------------------------------------------------------------------------------

    def project_of(
        session: Session, principal: Principal, u: str, p: str, *, write: bool = False
    ) -> PlxProject:
        return projects.find_project(session, principal, u, p, write=write)

    def experiment_of(
        session: Session, principal: Principal, u: str, p: str, eid: str, *, write: bool = False
    ) -> PlxExperiment:
        project = project_of(session, principal, u, p, write=write)
        return experiments.find_experiment(session, project, eid)

    def group_of(
        session: Session, principal: Principal, u: str, p: str, gid: str, *, write: bool = False
    ) -> PlxGroup:
        project = project_of(session, principal, u, p, write=write)
        return groups.find_group(session, project, gid)

    def job_of(session: Session, experiment: PlxExperiment, jid: str) -> PlxJob:
        job = session.get(PlxJob, int(jid)) if jid.isdigit() and int(jid) < 2**62 else None
        if job is None or job.experiment_id != experiment.id:
            raise not_found()
        return job

    def project_json(session: Session, principal: Principal, project: PlxProject) -> dict[str, Any]:
        return representations.project_body(session, project, principal.user.id)

    def experiment_json(session: Session, principal: Principal, experiment: PlxExperiment) -> dict[str, Any]:
        return representations.experiment_body(session, experiment, principal.user.id)

    def experiment_detail(
        session: Session, principal: Principal, experiment: PlxExperiment
    ) -> dict[str, Any]:
        return representations.experiment_body(session, experiment, principal.user.id, detail=True)

    def group_json(session: Session, principal: Principal, group: PlxGroup) -> dict[str, Any]:
        return representations.group_body(session, group, principal.user.id)

    # --- auth and users ------------------------------------------------------------------------------

    @router.post("/users/token")
    async def login(request: Request) -> Response:
        try:
            data = await read_body_data(request)
        except BodyError as error:
            return problem_response(bad_request(f"JSON parse error - {error}"))
        if not isinstance(data, dict):
            data = {}
        try:
            with runtime.write() as session:
                return ok(auth.login(session, data))
        except PolyaxonProblem as problem:
            return problem_response(problem)

    @router.get("/users")
    def whoami(request: Request) -> Response:
        return run(request, lambda s, principal: ok(representations.user_body(principal.user)))

    def superuser_action(request: Request, name: str, action: Callable[[User], Response]) -> Response:
        def work(session: Session, principal: Principal) -> Response:
            if principal.is_run or not principal.user.is_superuser:
                raise forbidden()
            user = find_user_by_username(session, name)
            if user is None:
                raise not_found()
            return action(user)

        return run(request, work, write=True)

    @router.post("/users/activate/{name}")
    def activate_user(request: Request, name: str) -> Response:
        def action(user: User) -> Response:
            user.is_active = True
            return ok(representations.user_body(user))

        return superuser_action(request, name, action)

    @router.delete("/users/delete/{name}")
    def delete_user(request: Request, name: str) -> Response:
        def action(user: User) -> Response:
            user.is_active = False  # deactivated, not erased: its projects and runs stay consistent
            return empty(204)

        return superuser_action(request, name, action)

    @router.post("/superusers/grant/{name}")
    def grant_superuser(request: Request, name: str) -> Response:
        def action(user: User) -> Response:
            user.is_superuser = True
            return ok(representations.user_body(user))

        return superuser_action(request, name, action)

    @router.post("/superusers/revoke/{name}")
    def revoke_superuser(request: Request, name: str) -> Response:
        def action(user: User) -> Response:
            user.is_superuser = False
            return ok(representations.user_body(user))

        return superuser_action(request, name, action)

    # --- versions, log handler, bookmarks, all experiments ------------------------------------------------

    @router.get("/versions/{name}")
    def versions(name: str) -> Response:
        if name in ("cli", "platform", "lib"):
            return ok(VERSIONS)
        if name == "chart":
            return ok({"version": "0.5.6"})
        return problem_response(not_found())

    @router.get("/log_handler")
    def log_handler() -> Response:
        return ok({"dsn": None, "environment": "production", "tags": {}})

    @router.get("/bookmarks/{u}/{kind}")
    def list_bookmarks(request: Request, u: str, kind: str) -> Response:
        kinds = {
            "projects": "project",
            "groups": "group",
            "experiments": "experiment",
            "jobs": None,
            "builds": None,
        }
        if kind not in kinds:
            return problem_response(not_found())

        def lister(session: Session, principal: Principal, page: PageRequest) -> tuple[list[Any], int]:
            owner = find_user_by_username(session, u)
            if owner is None:
                raise not_found()
            if principal.is_run or (principal.user.id != owner.id and not principal.user.is_superuser):
                raise forbidden()
            if kinds[kind] is None:
                return [], 0
            ids, count = bookmarks.bookmarked_ids(session, owner.id, kinds[kind], page.offset, page.limit)
            model = {"project": PlxProject, "group": PlxGroup, "experiment": PlxExperiment}[kinds[kind]]
            rows = [row for row in (session.get(model, ref) for ref in ids) if row is not None]
            return rows, count

        def shape(session: Session, principal: Principal, row: Any) -> dict[str, Any]:
            if isinstance(row, PlxProject):
                return {"content_object": project_json(session, principal, row)}
            if isinstance(row, PlxGroup):
                return {"content_object": group_json(session, principal, row)}
            return {"content_object": experiment_json(session, principal, row)}

        return page_of(request, lister, shape)

    @router.get("/experiments")
    def list_all_experiments(request: Request) -> Response:
        return page_of(
            request,
            lambda s, principal, page: experiments.list_readable_experiments(s, principal, page),
            experiment_json,
        )

    # --- projects -----------------------------------------------------------------------------------------

    @router.post("/projects", openapi_extra=schemas.body(schemas.PROJECT))
    def create_project(request: Request, raw: RawBody) -> Response:
        def work(session: Session, principal: Principal) -> Response:
            project = projects.create_project(session, principal, json_object(raw))
            return ok(project_json(session, principal, project), 201)

        return run(request, work, write=True)

    @router.get("/{u}")
    def list_projects(request: Request, u: str) -> Response:
        return page_of(
            request, lambda s, principal, page: projects.list_projects(s, principal, u, page), project_json
        )

    @router.get("/{u}/{p}")
    def get_project(request: Request, u: str, p: str) -> Response:
        return run(
            request, lambda s, principal: ok(project_json(s, principal, project_of(s, principal, u, p)))
        )

    @router.patch("/{u}/{p}", openapi_extra=schemas.body(schemas.PROJECT))
    def patch_project(request: Request, u: str, p: str, raw: RawBody) -> Response:
        def work(session: Session, principal: Principal) -> Response:
            project = project_of(session, principal, u, p, write=True)
            projects.update_project(session, project, json_object(raw))
            return ok(project_json(session, principal, project))

        return run(request, work, write=True)

    @router.delete("/{u}/{p}")
    def delete_project(request: Request, u: str, p: str) -> Response:
        def work(session: Session, principal: Principal) -> Response:
            project = project_of(session, principal, u, p, write=True)
            if principal.is_run:
                raise forbidden()
            doomed = list(
                session.scalars(select(PlxExperiment).where(PlxExperiment.project_id == project.id))
            )
            for experiment in doomed:
                bridge.stop_after_commit(session, experiment.id)
                experiments.delete_experiment_rows(session, experiment)
            for group in session.scalars(select(PlxGroup).where(PlxGroup.project_id == project.id)):
                bookmarks.forget(session, "group", group.id)
            bookmarks.forget(session, "project", project.id)
            owner = session.get(User, project.owner_id)
            project_key = f"polyaxon/repos/{project.id}"
            outputs = f"{owner.username}/{project.name}" if owner else None
            session.delete(project)
            after_commit(session, lambda: runtime.blobs.delete_prefix(project_key))
            after_commit(session, lambda: experiments.remove_outputs(runtime.outputs_root, outputs))
            return empty(204)

        return run(request, work, write=True)

    @router.post("/{u}/{p}/bookmark")
    def bookmark_project(request: Request, u: str, p: str) -> Response:
        def work(session: Session, principal: Principal) -> Response:
            bookmarks.bookmark(session, principal.user.id, "project", project_of(session, principal, u, p).id)
            return empty(201)

        return run(request, work, write=True)

    @router.delete("/{u}/{p}/unbookmark")
    def unbookmark_project(request: Request, u: str, p: str) -> Response:
        def work(session: Session, principal: Principal) -> Response:
            bookmarks.unbookmark(
                session, principal.user.id, "project", project_of(session, principal, u, p).id
            )
            return empty(204)

        return run(request, work, write=True)

    @router.post("/{u}/{p}/notebook/impersonatetoken")
    def notebook_impersonate(u: str, p: str) -> Response:
        return problem_response(unauthorized())

    # --- code repository -------------------------------------------------------------------------------

    @router.put("/{u}/{p}/repo/upload")
    async def upload_repo(request: Request, u: str, p: str) -> Response:
        limit = settings.polyaxon_repo_max_upload_bytes
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit + 1024 * 1024:
            return problem_response(too_large(f"The upload exceeds {limit} bytes."))
        authorization = request.headers.get("authorization")
        try:
            with db.read() as session:
                principal = auth.authenticate(session, authorization)
                project_id = project_of(session, principal, u, p, write=True).id
            upload = await repos_upload_file(request, limit)
            commit, size = await asyncio.to_thread(repos.prepare_upload, upload, runtime.blobs, project_id)
            with runtime.write() as session:
                project = session.get(PlxProject, project_id)
                if project is None:
                    raise not_found()
                repos.record_version(session, project, commit, size)
            return ok({"commit": commit, "has_code": True})
        except PolyaxonProblem as problem:
            return problem_response(problem)

    @router.get("/{u}/{p}/repo/download")
    def download_repo(request: Request, u: str, p: str) -> Response:
        def work(session: Session, principal: Principal) -> Response:
            project = project_of(session, principal, u, p)
            version = repos.find_version(session, project, request.query_params.get("commit"))
            size = runtime.blobs.size(version.blob_key)
            return gzip_response(runtime.blobs.open(version.blob_key), size, f"{project.name}.tar.gz")

        return run(request, work)

    # --- experiments ----------------------------------------------------------------------------------------

    @router.get("/{u}/{p}/experiments")
    def list_experiments(request: Request, u: str, p: str) -> Response:
        query = request.query_params
        trim_metrics = query_bool_or_problem(query, "metrics")
        trim_params = query_bool_or_problem(query, "params")

        def lister(session: Session, principal: Principal, page: PageRequest) -> tuple[list[Any], int]:
            if isinstance(trim_metrics, PolyaxonProblem):
                raise trim_metrics
            if isinstance(trim_params, PolyaxonProblem):
                raise trim_params
            project = project_of(session, principal, u, p)
            return experiments.list_project_experiments(session, project, query, page)

        def shape(session: Session, principal: Principal, experiment: PlxExperiment) -> dict[str, Any]:
            if trim_metrics or trim_params:
                name = representations.experiment_unique_name(session, experiment)
                return representations.trimmed_experiment_body(
                    experiment, name, metrics=bool(trim_metrics), params=bool(trim_params)
                )
            return experiment_json(session, principal, experiment)

        return page_of(request, lister, shape)

    @router.post("/{u}/{p}/experiments", openapi_extra=schemas.body(schemas.EXPERIMENT))
    def create_experiment(request: Request, u: str, p: str, raw: RawBody) -> Response:
        def work(session: Session, principal: Principal) -> Response:
            project = project_of(session, principal, u, p, write=True)
            created = experiments.create_experiment(session, principal, project, json_object(raw))
            if created.submit:
                bridge.submit_after_commit(session, created.experiment.id)
            return ok(experiment_detail(session, principal, created.experiment), 201)

        return run(request, work, write=True)

    @router.get("/{u}/{p}/experiments/{eid}")
    def get_experiment(request: Request, u: str, p: str, eid: str) -> Response:
        return run(request, lambda s, pr: ok(experiment_detail(s, pr, experiment_of(s, pr, u, p, eid))))

    @router.patch("/{u}/{p}/experiments/{eid}", openapi_extra=schemas.body(schemas.EXPERIMENT))
    def patch_experiment(request: Request, u: str, p: str, eid: str, raw: RawBody) -> Response:
        def work(session: Session, principal: Principal) -> Response:
            experiment = experiment_of(session, principal, u, p, eid, write=True)
            experiment = experiments.update_experiment(session, experiment.id, json_object(raw))
            return ok(experiment_detail(session, principal, experiment))

        return run(request, work, write=True)

    @router.delete("/{u}/{p}/experiments/{eid}")
    def delete_experiment(request: Request, u: str, p: str, eid: str) -> Response:
        def work(session: Session, principal: Principal) -> Response:
            experiment = experiment_of(session, principal, u, p, eid, write=True)
            bridge.stop_after_commit(session, experiment.id)
            outputs = experiments.delete_experiment_rows(session, experiment)
            after_commit(session, lambda: experiments.remove_outputs(runtime.outputs_root, outputs))
            return empty(204)

        return run(request, work, write=True)

    def clone(request: Request, u: str, p: str, eid: str, raw: bytes, strategy: str) -> Response:
        def work(session: Session, principal: Principal) -> Response:
            source = experiment_of(session, principal, u, p, eid, write=True)
            created = experiments.clone_experiment(
                session, principal, source, strategy, json_object(raw), runtime.outputs_root
            )
            if created.submit:
                bridge.submit_after_commit(session, created.experiment.id)
            return ok(experiment_json(session, principal, created.experiment), 201)

        return run(request, work, write=True)

    @router.post("/{u}/{p}/experiments/{eid}/restart", openapi_extra=schemas.body(schemas.CLONE))
    def restart_experiment(request: Request, u: str, p: str, eid: str, raw: RawBody) -> Response:
        return clone(request, u, p, eid, raw, "restart")

    @router.post("/{u}/{p}/experiments/{eid}/resume", openapi_extra=schemas.body(schemas.CLONE))
    def resume_experiment(request: Request, u: str, p: str, eid: str, raw: RawBody) -> Response:
        return clone(request, u, p, eid, raw, "resume")

    @router.post("/{u}/{p}/experiments/{eid}/copy", openapi_extra=schemas.body(schemas.CLONE))
    def copy_experiment(request: Request, u: str, p: str, eid: str, raw: RawBody) -> Response:
        return clone(request, u, p, eid, raw, "copy")

    @router.post("/{u}/{p}/experiments/{eid}/stop")
    def stop_experiment(request: Request, u: str, p: str, eid: str) -> Response:
        def work(session: Session, principal: Principal) -> Response:
            experiment = experiment_of(session, principal, u, p, eid, write=True)
            bridge.stop(session, experiment.id, "Stopped by the user.")
            return empty(200)

        return run(request, work, write=True)

    # --- statuses, metrics, logs ------------------------------------------------------------------------------

    @router.get("/{u}/{p}/experiments/{eid}/statuses")
    def list_statuses(request: Request, u: str, p: str, eid: str) -> Response:
        def lister(session: Session, principal: Principal, page: PageRequest) -> tuple[list[Any], int]:
            experiment = experiment_of(session, principal, u, p, eid)
            return paged_rows(
                session,
                select(PlxExperimentStatus).where(PlxExperimentStatus.experiment_id == experiment.id),
                (PlxExperimentStatus.created_at, PlxExperimentStatus.id),
                page,
            )

        return page_of(request, lister, lambda _s, _p, row: representations.experiment_status_body(row))

    @router.post("/{u}/{p}/experiments/{eid}/statuses", openapi_extra=schemas.body(schemas.STATUS))
    def create_status(request: Request, u: str, p: str, eid: str, raw: RawBody) -> Response:
        def work(session: Session, principal: Principal) -> Response:
            experiment = experiment_of(session, principal, u, p, eid, write=True)
            data = json_object(raw)
            status, message, traceback = status_fields(data, statuses.EXPERIMENT_STATUSES)
            if status == statuses.STOPPED:
                bridge.stop(session, experiment.id, message, traceback)
            else:
                statuses.transition(session, experiment.id, status, message, traceback)
            latest = statuses.latest_experiment_status(session, experiment.id)
            assert latest is not None
            return ok(representations.experiment_status_body(latest), 201)

        return run(request, work, write=True)

    @router.get("/{u}/{p}/experiments/{eid}/metrics")
    def list_metrics(request: Request, u: str, p: str, eid: str) -> Response:
        def lister(session: Session, principal: Principal, page: PageRequest) -> tuple[list[Any], int]:
            experiment = experiment_of(session, principal, u, p, eid)
            stream = metrics.stream_id(session, experiment.id, create=False)
            if stream is None:
                return [], 0
            rows, count = metrics_store.list_records(session, stream, offset=page.offset, limit=page.limit)
            return [(row, experiment.id) for row in rows], count

        return page_of(
            request,
            lister,
            lambda _s, _p, item: representations.metric_body(*item),
            default=METRICS_DEFAULT_LIMIT,
            cap=METRICS_MAX_LIMIT,
        )

    @router.post("/{u}/{p}/experiments/{eid}/metrics", openapi_extra=schemas.body(schemas.METRICS))
    def create_metrics(request: Request, u: str, p: str, eid: str, raw: RawBody) -> Response:
        """The ingestion hot path (tracking clients batch here): a cached key check and one lookup query
        instead of the ORM lookups of other routes; same answers, same transaction rules."""
        try:
            with runtime.write() as session:
                holder = key_cache.holder(session, request.headers.get("authorization"))
                experiment_id = metrics.find_writable_experiment(session, holder, u, p, eid)
                body = parse_json(raw)
                points, is_list = metrics.parse_body({} if body is NO_BODY else body)
                stream, rows = metrics.store(session, experiment_id, points, label=f"{u}.{p}.{experiment_id}")
        except PolyaxonProblem as problem:
            return problem_response(problem)
        except DataError:
            return problem_response(
                bad_request("The request holds characters or values the database refuses.")
            )
        runtime.services.metrics_hub.publish(stream, rows)
        shaped = metrics.metric_bodies(rows, experiment_id)
        return ok(shaped if is_list else shaped[0], 201)

    @router.get("/{u}/{p}/experiments/{eid}/logs")
    def get_logs(request: Request, u: str, p: str, eid: str) -> Response:
        def work(session: Session, principal: Principal) -> Response:
            experiment = experiment_of(session, principal, u, p, eid)
            return PlainTextResponse(logs.read(session, experiment))

        return run(request, work)

    @router.post("/{u}/{p}/experiments/{eid}/logs", openapi_extra=schemas.body(schemas.LOGS))
    def post_logs(request: Request, u: str, p: str, eid: str, raw: RawBody) -> Response:
        def work(session: Session, principal: Principal) -> Response:
            experiment = experiment_of(session, principal, u, p, eid, write=True)
            lines = logs.parse_lines(parse_json(raw))
            logs.append(session, experiment.id, lines, settings.polyaxon_logs_max_bytes)
            return empty(200)

        return run(request, work, write=True)

    # --- jobs ------------------------------------------------------------------------------------------------

    @router.get("/{u}/{p}/experiments/{eid}/jobs")
    def list_jobs(request: Request, u: str, p: str, eid: str) -> Response:
        def lister(session: Session, principal: Principal, page: PageRequest) -> tuple[list[Any], int]:
            experiment = experiment_of(session, principal, u, p, eid)
            rows, count = paged_rows(
                session, select(PlxJob).where(PlxJob.experiment_id == experiment.id), (PlxJob.id,), page
            )
            return [(row, experiment) for row in rows], count

        return page_of(request, lister, lambda s, _p, item: representations.job_body(s, *item))

    @router.get("/{u}/{p}/experiments/{eid}/jobs/{jid}")
    def get_job(request: Request, u: str, p: str, eid: str, jid: str) -> Response:
        def work(session: Session, principal: Principal) -> Response:
            experiment = experiment_of(session, principal, u, p, eid)
            return ok(representations.job_body(session, job_of(session, experiment, jid), experiment))

        return run(request, work)

    @router.get("/{u}/{p}/experiments/{eid}/jobs/{jid}/statuses")
    def list_job_statuses(request: Request, u: str, p: str, eid: str, jid: str) -> Response:
        def lister(session: Session, principal: Principal, page: PageRequest) -> tuple[list[Any], int]:
            job = job_of(session, experiment_of(session, principal, u, p, eid), jid)
            return paged_rows(
                session,
                select(PlxJobStatus).where(PlxJobStatus.job_id == job.id),
                (PlxJobStatus.created_at, PlxJobStatus.id),
                page,
            )

        return page_of(request, lister, lambda _s, _p, row: representations.job_status_body(row))

    @router.get("/{u}/{p}/experiments/{eid}/jobs/{jid}/logs")
    def get_job_logs(request: Request, u: str, p: str, eid: str, jid: str) -> Response:
        def work(session: Session, principal: Principal) -> Response:
            experiment = experiment_of(session, principal, u, p, eid)
            job_of(session, experiment, jid)
            return PlainTextResponse(logs.read(session, experiment))

        return run(request, work)

    # --- code reference, outputs, bookmarks, heartbeat, tokens -------------------------------------------------

    @router.get("/{u}/{p}/experiments/{eid}/coderef")
    def get_coderef(request: Request, u: str, p: str, eid: str) -> Response:
        def work(session: Session, principal: Principal) -> Response:
            reference = code_reference_body(session, experiment_of(session, principal, u, p, eid))
            if reference is None:
                raise not_found()
            return ok(reference)

        return run(request, work)

    @router.post("/{u}/{p}/experiments/{eid}/coderef", openapi_extra=schemas.body(schemas.CODE_REFERENCE))
    def post_coderef(request: Request, u: str, p: str, eid: str, raw: RawBody) -> Response:
        def work(session: Session, principal: Principal) -> Response:
            experiment = experiment_of(session, principal, u, p, eid, write=True)
            data = json_object(raw)
            reference = session.scalar(
                select(PlxCodeReference).where(PlxCodeReference.experiment_id == experiment.id)
            )
            if data:
                if reference is None:
                    reference = PlxCodeReference(experiment_id=experiment.id)
                    session.add(reference)
                for key, length in (("commit", 100), ("head", 100), ("branch", 200), ("git_url", 500)):
                    value = data.get(key)
                    if value is not None and (not isinstance(value, str) or len(value) > length):
                        raise field_error(key, f"Not a valid string of at most {length} characters.")
                    if key in data:
                        setattr(reference, key, value)
                if "is_dirty" in data:
                    reference.is_dirty = bool(data["is_dirty"])
                session.flush()
            stored = code_reference_body(session, experiment)
            empty_reference = {"id": None, "commit": None, "head": None, "branch": None, "git_url": None}
            return ok(stored or {**empty_reference, "is_dirty": False}, 201)

        return run(request, work, write=True)

    def code_reference_body(session: Session, experiment: PlxExperiment) -> dict[str, Any] | None:
        """The reference the client posted, else the pinned code version's; None without either."""
        reference = session.scalar(
            select(PlxCodeReference).where(PlxCodeReference.experiment_id == experiment.id)
        )
        if reference is not None:
            return {
                "id": reference.id,
                "commit": reference.commit,
                "head": reference.head,
                "branch": reference.branch,
                "git_url": reference.git_url,
                "is_dirty": reference.is_dirty,
            }
        if experiment.code_version_id is not None:
            version = session.get(PlxCodeVersion, experiment.code_version_id)
            if version is not None:
                return {
                    "id": version.id,
                    "commit": version.commit,
                    "head": version.commit,
                    "branch": "master",
                    "git_url": None,
                    "is_dirty": False,
                }
        return None

    def download_outputs(request: Request, u: str, p: str, eid: str) -> Response:
        def work(session: Session, principal: Principal) -> Response:
            experiment = experiment_of(session, principal, u, p, eid)
            handle, size = repos.archive_directory(runtime.outputs_root / experiment.outputs_path)
            unique = representations.experiment_unique_name(session, experiment)
            return gzip_response(handle, size, f"{unique}.tar.gz")

        return run(request, work)

    router.add_api_route("/{u}/{p}/experiments/{eid}/outputs/download", download_outputs, methods=["GET"])
    router.add_api_route("/{u}/{p}/experiments/{eid}/outputs", download_outputs, methods=["GET"])

    @router.post("/{u}/{p}/experiments/{eid}/bookmark")
    def bookmark_experiment(request: Request, u: str, p: str, eid: str) -> Response:
        def work(session: Session, principal: Principal) -> Response:
            experiment = experiment_of(session, principal, u, p, eid)
            bookmarks.bookmark(session, principal.user.id, "experiment", experiment.id)
            return empty(201)

        return run(request, work, write=True)

    @router.delete("/{u}/{p}/experiments/{eid}/unbookmark")
    def unbookmark_experiment(request: Request, u: str, p: str, eid: str) -> Response:
        def work(session: Session, principal: Principal) -> Response:
            experiment = experiment_of(session, principal, u, p, eid)
            bookmarks.unbookmark(session, principal.user.id, "experiment", experiment.id)
            return empty(204)

        return run(request, work, write=True)

    @router.post("/{u}/{p}/experiments/{eid}/_heartbeat")
    def heartbeat(request: Request, u: str, p: str, eid: str) -> Response:
        def work(session: Session, principal: Principal) -> Response:
            experiment = experiment_of(session, principal, u, p, eid, write=True)
            session.execute(
                update(PlxExperiment)
                .where(PlxExperiment.id == experiment.id)
                .values(last_heartbeat_at=utcnow())
            )
            return empty(200)

        return run(request, work, write=True)

    @router.post("/{u}/{p}/experiments/{eid}/ephemeraltoken")
    def exchange_token(request: Request, u: str, p: str, eid: str) -> Response:
        try:
            if not eid.isdigit() or int(eid) >= 2**62:
                raise unauthorized()
            with runtime.write() as session:
                token = auth.exchange_ephemeral_token(session, request.headers.get("authorization"), int(eid))
            return ok({"token": token})
        except PolyaxonProblem as problem:
            return problem_response(problem)

    @router.post("/{u}/{p}/experiments/{eid}/impersonatetoken")
    def impersonate(u: str, p: str, eid: str) -> Response:
        return problem_response(unauthorized())

    # --- tensorboards -----------------------------------------------------------------------------------

    def tensorboard_route(
        request: Request, target: Callable[[Session, Principal], tuple[str, str]], start: bool
    ) -> Response:
        def work(session: Session, principal: Principal) -> Response:
            key, logdir = target(session, principal)
            if start:
                url, created = tensorboards.start(key, runtime.outputs_root / logdir, settings.host)
                return ok({"url": url}, 201 if created else 200)
            tensorboards.stop(key)
            return empty(200)

        return run(request, work)

    @router.post("/{u}/{p}/tensorboard/start")
    def start_project_tensorboard(request: Request, u: str, p: str) -> Response:
        def target(session: Session, principal: Principal) -> tuple[str, str]:
            project = project_of(session, principal, u, p, write=True)
            return f"project-{project.id}", f"{u}/{project.name}"

        return tensorboard_route(request, target, True)

    @router.post("/{u}/{p}/tensorboard/stop")
    def stop_project_tensorboard(request: Request, u: str, p: str) -> Response:
        def target(session: Session, principal: Principal) -> tuple[str, str]:
            return f"project-{project_of(session, principal, u, p, write=True).id}", ""

        return tensorboard_route(request, target, False)

    @router.post("/{u}/{p}/experiments/{eid}/tensorboard/start")
    def start_experiment_tensorboard(request: Request, u: str, p: str, eid: str) -> Response:
        def target(session: Session, principal: Principal) -> tuple[str, str]:
            experiment = experiment_of(session, principal, u, p, eid, write=True)
            return f"experiment-{experiment.id}", experiment.outputs_path

        return tensorboard_route(request, target, True)

    @router.post("/{u}/{p}/experiments/{eid}/tensorboard/stop")
    def stop_experiment_tensorboard(request: Request, u: str, p: str, eid: str) -> Response:
        def target(session: Session, principal: Principal) -> tuple[str, str]:
            return f"experiment-{experiment_of(session, principal, u, p, eid, write=True).id}", ""

        return tensorboard_route(request, target, False)

    # --- groups -------------------------------------------------------------------------------------------------

    @router.get("/{u}/{p}/groups")
    def list_groups(request: Request, u: str, p: str) -> Response:
        def lister(session: Session, principal: Principal, page: PageRequest) -> tuple[list[Any], int]:
            return groups.list_groups(
                session, project_of(session, principal, u, p), request.query_params, page
            )

        return page_of(request, lister, group_json)

    @router.post("/{u}/{p}/groups", openapi_extra=schemas.body(schemas.GROUP))
    def create_group(request: Request, u: str, p: str, raw: RawBody) -> Response:
        def work(session: Session, principal: Principal) -> Response:
            project = project_of(session, principal, u, p, write=True)
            group = groups.create_group(session, principal, project, json_object(raw))
            after_commit(session, lambda: runtime.on_group_activity(group.id))
            return ok(group_json(session, principal, group), 201)

        return run(request, work, write=True)

    @router.get("/{u}/{p}/groups/{gid}")
    def get_group(request: Request, u: str, p: str, gid: str) -> Response:
        return run(request, lambda s, pr: ok(group_json(s, pr, group_of(s, pr, u, p, gid))))

    @router.patch("/{u}/{p}/groups/{gid}", openapi_extra=schemas.body(schemas.GROUP))
    def patch_group(request: Request, u: str, p: str, gid: str, raw: RawBody) -> Response:
        def work(session: Session, principal: Principal) -> Response:
            group = group_of(session, principal, u, p, gid, write=True)
            groups.update_group(session, group.id, json_object(raw))
            return ok(group_json(session, principal, group))

        return run(request, work, write=True)

    @router.delete("/{u}/{p}/groups/{gid}")
    def delete_group(request: Request, u: str, p: str, gid: str) -> Response:
        def work(session: Session, principal: Principal) -> Response:
            group = group_of(session, principal, u, p, gid, write=True)
            removals = []
            for experiment in session.scalars(
                select(PlxExperiment).where(PlxExperiment.group_id == group.id)
            ):
                bridge.stop_after_commit(session, experiment.id)
                removals.append(experiments.delete_experiment_rows(session, experiment))
            bookmarks.forget(session, "group", group.id)
            session.delete(group)
            for outputs in removals:
                after_commit(session, lambda o=outputs: experiments.remove_outputs(runtime.outputs_root, o))
            return empty(204)

        return run(request, work, write=True)

    @router.get("/{u}/{p}/groups/{gid}/statuses")
    def list_group_statuses(request: Request, u: str, p: str, gid: str) -> Response:
        def lister(session: Session, principal: Principal, page: PageRequest) -> tuple[list[Any], int]:
            group = group_of(session, principal, u, p, gid)
            return paged_rows(
                session,
                select(PlxGroupStatus).where(PlxGroupStatus.group_id == group.id),
                (PlxGroupStatus.created_at, PlxGroupStatus.id),
                page,
            )

        return page_of(request, lister, lambda _s, _p, row: representations.group_status_body(row))

    @router.post("/{u}/{p}/groups/{gid}/statuses", openapi_extra=schemas.body(schemas.STATUS))
    def create_group_status(request: Request, u: str, p: str, gid: str, raw: RawBody) -> Response:
        def work(session: Session, principal: Principal) -> Response:
            group = group_of(session, principal, u, p, gid, write=True)
            data = json_object(raw)
            choices = (*statuses.GROUP_STATUSES, statuses.SUCCEEDED)
            status, message, _traceback = status_fields(data, choices)
            statuses.group_transition(session, group.id, status, message)
            latest = statuses.latest_group_status(session, group.id)
            assert latest is not None
            return ok(representations.group_status_body(latest), 201)

        return run(request, work, write=True)

    @router.post("/{u}/{p}/groups/{gid}/stop", openapi_extra=schemas.body(schemas.GROUP_STOP))
    def stop_group(request: Request, u: str, p: str, gid: str, raw: RawBody) -> Response:
        def work(session: Session, principal: Principal) -> Response:
            group = group_of(session, principal, u, p, gid, write=True)
            pending = bool(json_object(raw).get("pending"))
            groups.stop_group(session, bridge, group.id, pending=pending)
            return empty(200)

        return run(request, work, write=True)

    @router.post("/{u}/{p}/groups/{gid}/bookmark")
    def bookmark_group(request: Request, u: str, p: str, gid: str) -> Response:
        def work(session: Session, principal: Principal) -> Response:
            bookmarks.bookmark(
                session, principal.user.id, "group", group_of(session, principal, u, p, gid).id
            )
            return empty(201)

        return run(request, work, write=True)

    @router.delete("/{u}/{p}/groups/{gid}/unbookmark")
    def unbookmark_group(request: Request, u: str, p: str, gid: str) -> Response:
        def work(session: Session, principal: Principal) -> Response:
            bookmarks.unbookmark(
                session, principal.user.id, "group", group_of(session, principal, u, p, gid).id
            )
            return empty(204)

        return run(request, work, write=True)

    @router.post("/{u}/{p}/groups/{gid}/tensorboard/start")
    def start_group_tensorboard(request: Request, u: str, p: str, gid: str) -> Response:
        def target(session: Session, principal: Principal) -> tuple[str, str]:
            group = group_of(session, principal, u, p, gid, write=True)
            return f"group-{group.id}", f"{u}/{p}/{group.id}"

        return tensorboard_route(request, target, True)

    @router.post("/{u}/{p}/groups/{gid}/tensorboard/stop")
    def stop_group_tensorboard(request: Request, u: str, p: str, gid: str) -> Response:
        def target(session: Session, principal: Principal) -> tuple[str, str]:
            return f"group-{group_of(session, principal, u, p, gid, write=True).id}", ""

        return tensorboard_route(request, target, False)

    return router


# --- helpers shared by several routes ------------------------------------------------------------------


def paged_rows(
    session: Session, query: Any, order: tuple[Any, ...], page: PageRequest
) -> tuple[list[Any], int]:
    count = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(*order).offset(page.offset).limit(page.limit)).all()
    return list(rows), count


def query_bool_or_problem(query: Any, name: str) -> bool | PolyaxonProblem | None:
    try:
        return query_bool(query, name)
    except PolyaxonProblem as problem:
        return problem


MAX_MESSAGE = 4096


def status_fields(data: dict[str, Any], choices: tuple[str, ...]) -> tuple[str, str | None, str | None]:
    status = data.get("status")
    if status is None:
        raise field_error("status", "This field is required.")
    if not isinstance(status, str) or status not in choices:
        raise field_error("status", f'"{status}" is not a valid choice.')
    message, traceback = data.get("message"), data.get("traceback")
    if message is not None and not isinstance(message, str):
        raise field_error("message", "Not a valid string.")
    if message is not None and len(message) > MAX_MESSAGE:
        raise field_error("message", f"Ensure this field has no more than {MAX_MESSAGE} characters.")
    if traceback is not None and not isinstance(traceback, str):
        raise field_error("traceback", "Not a valid string.")
    return status, message, traceback


def gzip_response(handle: Any, size: int, filename: str) -> Response:
    headers = {
        "Content-Disposition": f'attachment; filename="{filename}"',
        "Content-Length": str(size),
        "x-polyaxon-content-length": str(size),
    }
    return StreamingResponse(repos.iter_file(handle), media_type="application/gzip", headers=headers)


async def repos_upload_file(request: Request, limit: int) -> Any:
    """The uploaded archive: the `repo` file part, else the first file part (the client's tests use `code`)."""
    try:
        form = await request.form(max_part_size=limit + 1)
    except Exception as error:  # malformed multipart bodies come in many shapes
        raise bad_request(f"Could not read the multipart upload: {error}") from None
    files = [(key, value) for key, value in form.multi_items() if isinstance(value, UploadFile)]
    if not files:
        raise bad_request("No file was uploaded; send the repository as a multipart file part.")
    chosen = next((value for key, value in files if key == "repo"), files[0][1])
    chosen.file.seek(0, 2)
    size = chosen.file.tell()
    chosen.file.seek(0)
    if size > limit:
        raise too_large(f"The upload exceeds {limit} bytes.")
    return chosen.file
