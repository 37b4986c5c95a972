"""Bonsai's REST surface (spec §3): paths, status codes and bodies exactly as the CLI and SDK read them.

Handlers are thin: they read the request, call brains/training/status functions in a worker thread
(database, blobs, compiling), start or stop trainers through the runtime, and shape the response.
Every failure is `{"error": "..."}`; no route ever redirects.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import APIRouter, FastAPI
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from crucible.core.accounts import User
from crucible.core.http import ErrorFormats
from crucible.core.services import Services
from crucible.dialects.bonsai import brains, projects, status, training, websockets
from crucible.dialects.bonsai.auth import authenticate, authorize
from crucible.dialects.bonsai.errors import (
    BonsaiError,
    bad_request,
    error_response,
    is_bonsai_path,
    not_found,
    routing_error_response,
)
from crucible.dialects.bonsai.events import rfc3339
from crucible.dialects.bonsai.runtime import BonsaiRuntime

T = TypeVar("T")


class BonsaiPaths:
    """ASGI middleware: a `/v1/...` path ending in `/` is the same path without it (never a redirect)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            path: str = scope["path"]
            if path.startswith("/v1/") and len(path) > 4 and path.endswith("/"):
                trimmed = path.rstrip("/")
                scope = dict(scope)
                scope["path"] = trimmed
                scope["raw_path"] = trimmed.encode()
        await self.app(scope, receive, send)


async def read_limited_body(request: Request, limit: int = projects.MAX_REQUEST_BYTES) -> bytes:
    """The request body, refusing (413) more than `limit` bytes without reading them all."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BonsaiError(413, "Request body too large")
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BonsaiError(413, "Request body too large")
        chunks.append(chunk)
    return b"".join(chunks)


def json_object(raw: bytes) -> dict[str, Any]:
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise bad_request("Body is not valid JSON") from error
    if not isinstance(data, dict):
        raise bad_request("Expected a JSON object")
    return data


def _refuse_constant(token: str) -> Any:
    raise ValueError(token)


def install(app: FastAPI, services: Services, error_formats: ErrorFormats) -> BonsaiRuntime:
    runtime = BonsaiRuntime(services)
    services.on_startup(runtime.startup)
    services.on_shutdown(runtime.shutdown)
    error_formats.register(is_bonsai_path, routing_error_response)
    app.add_middleware(BonsaiPaths)
    app.include_router(build_router(services, runtime))
    app.include_router(websockets.build_router(services, runtime))
    app.state.bonsai = runtime
    return runtime


def build_router(services: Services, runtime: BonsaiRuntime) -> APIRouter:
    router = APIRouter(tags=["bonsai"])
    db = services.db
    blobs = services.blobs
    settings = services.settings

    async def answer(work: Callable[[], T], shape: Callable[[T], Response] | None = None) -> Response:
        """Run `work` in a worker thread; BonsaiError becomes its `{"error"}` response."""
        try:
            result = await run_in_threadpool(work)
            return shape(result) if shape is not None else result  # type: ignore[return-value]
        except BonsaiError as error:
            return error_response(error.status, error.message)

    def owner_brain(session: Session, request: Request, user: str, brain: str) -> tuple[User, brains.Brain]:
        owner = authorize(session, request.headers.get("authorization"), user)
        return owner, brains.get_brain(session, owner, brain)

    # --- account and brains ---------------------------------------------------------------------------

    @router.post("/v1/validate")
    async def validate(request: Request) -> Response:
        def work() -> Response:
            with db.read() as session:
                user = authenticate(session, request.headers.get("authorization"))
                return JSONResponse({"username": user.username})

        return await answer(work)

    @router.get("/v1/{user}")
    async def list_brains(request: Request, user: str) -> Response:
        def work() -> Response:
            with db.read() as session:
                owner = authorize(session, request.headers.get("authorization"), user)
                listed = []
                for brain in brains.list_brains(session, owner):
                    latest = brains.latest_version(session, brain)
                    listed.append(
                        {
                            "name": brain.name,
                            "state": brains.brain_state(brain, latest),
                            "url": brains.brain_url(owner.username, brain.name),
                            "version": latest.number if latest else 0,
                            "last_modified": rfc3339(brain.updated_at),
                        }
                    )
                return JSONResponse({"brains": listed})

        return await answer(work)

    @router.post("/v1/{user}/brains")
    async def create_brain(request: Request, user: str) -> Response:
        try:
            raw = await read_limited_body(request)
        except BonsaiError as error:
            return error_response(error.status, error.message)
        content_type = request.headers.get("content-type", "")

        def work() -> Response:
            with db.read() as session:
                owner = authorize(session, request.headers.get("authorization"), user)
            if content_type.lower().startswith("multipart/"):
                upload = projects.parse_upload(content_type, raw)
                name, description, files, project_type = (
                    upload.name,
                    upload.description or "",
                    upload.files,
                    None,
                )
            else:
                data = json_object(raw)
                name, description = data.get("name"), data.get("description") or ""
                project_type = data.get("project_type")
                if not isinstance(description, str):
                    raise bad_request("description must be a string")
                if project_type is not None and not isinstance(project_type, str):
                    raise bad_request("project_type must be a string")
                files = brains.template_files(project_type) if project_type else {}
            name = brains.check_name(name)
            compiled = brains.compile_files(files) if any(path.endswith(".ink") for path in files) else None
            with db.write() as session:
                owner = session.get(User, owner.id)
                assert owner is not None
                if brains.find_brain(session, owner, name) is not None:
                    raise BonsaiError(409, f"Brain '{name}' already exists")
                brain = brains.Brain(owner_id=owner.id, name=name, description=description)
                session.add(brain)
                session.flush()
                brains.store_files(session, blobs, brain, files, replace=True)
                body = brains.project_body(brain, owner, list(files), compiled)
            return JSONResponse(body, status_code=201)

        return await answer(work)

    @router.get("/v1/{user}/{brain}")
    async def get_brain(request: Request, user: str, brain: str) -> Response:
        wanted_file = request.query_params.get("file")
        multipart = "multipart/mixed" in request.headers.get("accept", "").lower()

        def work() -> Response:
            with db.read() as session:
                owner, found = owner_brain(session, request, user, brain)
                if wanted_file is not None:
                    rows = [row for row in brains.file_rows(session, found) if row.path == wanted_file]
                    if not rows:
                        raise not_found(f"File '{wanted_file[:200]}' not found")
                    data = brains.read_file_rows(blobs, rows)[wanted_file]
                    return Response(data, media_type=projects.content_type_for(wanted_file, data))
                if multipart:
                    files = brains.current_files(session, blobs, found)
                    if not files:
                        files = {projects.DEFAULT_PROJECT_FILE: projects.bproj_bytes({"files": []})}
                    body, content_type = projects.multipart_download(files)
                    return Response(body, headers={"Content-Type": content_type})
                latest = brains.latest_version(session, found)
                state = brains.brain_state(found, latest)
                return JSONResponse(status.brain_body(owner, found, brains.versions(session, found), state))

        return await answer(work)

    @router.put("/v1/{user}/{brain}")
    async def push(request: Request, user: str, brain: str) -> Response:
        wanted_file = request.query_params.get("file")
        try:
            raw = await read_limited_body(request)
        except BonsaiError as error:
            return error_response(error.status, error.message)
        content_type = request.headers.get("content-type", "")

        def work() -> Response:
            with db.read() as session:
                owner = authorize(session, request.headers.get("authorization"), user)
                brains.get_brain(session, owner, brain)
            if wanted_file is not None:
                path = projects.check_filename(wanted_file)
                projects.check_sizes({path: raw})
                compiled = brains.compile_files({path: raw}) if path.lower().endswith(".ink") else None
                with db.write() as session:
                    found = brains.get_brain(session, owner, brain, for_update=True)
                    brains.refuse_while_training(session, found)
                    changed = brains.store_files(session, blobs, found, {path: raw}, replace=False)
                runtime.publish_file_changes(found.id, changed, {path: raw})
                body = (
                    compiled.to_json()
                    if compiled
                    else {"success": True, "errors": [], "warnings": [], "compiler_version": "1.9.0"}
                )
                return JSONResponse(body)
            upload = projects.parse_upload(content_type, raw)
            compiled = brains.compile_files(upload.files)
            with db.write() as session:
                found = brains.get_brain(session, owner, brain, for_update=True)
                brains.refuse_while_training(session, found)
                if upload.description is not None:
                    found.description = upload.description
                changed = brains.store_files(session, blobs, found, upload.files, replace=True)
                body = brains.project_body(found, owner, list(upload.files), compiled)
            runtime.publish_file_changes(found.id, changed, upload.files)
            return JSONResponse(body)

        return await answer(work)

    @router.delete("/v1/{user}/{brain}")
    async def delete_brain(request: Request, user: str, brain: str) -> Response:
        def find() -> int:
            with db.read() as session:
                return owner_brain(session, request, user, brain)[1].id

        try:
            brain_id = await run_in_threadpool(find)
        except BonsaiError as error:
            return error_response(error.status, error.message)
        await runtime.forget_brain(brain_id)

        def work() -> Response:
            with db.write() as session:
                found = session.get(brains.Brain, brain_id)
                paths = training.delete_brain(session, found) if found is not None else []
            runtime.remove_brain_storage(brain_id, paths)
            return JSONResponse({})

        return await answer(work)

    # --- status, sims, metrics, logs ---------------------------------------------------------------------

    @router.get("/v1/{user}/{brain}/status")
    async def brain_status(request: Request, user: str, brain: str) -> Response:
        def work() -> Response:
            with db.read() as session:
                owner, found = owner_brain(session, request, user, brain)
                return JSONResponse(status.status_body(session, blobs, owner, found, runtime.sims))

        return await answer(work)

    @router.get("/v1/{user}/{brain}/sims")
    async def brain_sims(request: Request, user: str, brain: str) -> Response:
        def work() -> Response:
            with db.read() as session:
                _owner, found = owner_brain(session, request, user, brain)
                return JSONResponse(status.sims_body(session, blobs, found, runtime.sims))

        return await answer(work)

    @router.get("/v1/{user}/{brain}/{version}/metrics/{metric}")
    async def version_metric(request: Request, user: str, brain: str, version: str, metric: str) -> Response:
        def work() -> Response:
            with db.read() as session:
                _owner, found = owner_brain(session, request, user, brain)
                row = brains.get_version(session, found, version)
                if metric not in status.METRIC_NAMES:
                    raise not_found(f"Metric '{metric[:100]}' not found")
                return JSONResponse(status.metric_points(session, row, metric))

        return await answer(work)

    @router.get("/v1/{user}/{brain}/{version}/sims/{sim}/logs")
    async def sim_logs(request: Request, user: str, brain: str, version: str, sim: str) -> Response:
        def work() -> Response:
            with db.read() as session:
                _owner, found = owner_brain(session, request, user, brain)
                row = brains.get_version(session, found, version)
            sim_id = websockets.log_sim_filter(sim)
            return JSONResponse(runtime.logs.lines(row.id, sim_id))

        return await answer(work)

    @router.get("/v1/{user}/{brain}/{version}")
    async def get_version(request: Request, user: str, brain: str, version: str) -> Response:
        multipart = "multipart/mixed" in request.headers.get("accept", "").lower()

        def work() -> Response:
            with db.read() as session:
                owner, found = owner_brain(session, request, user, brain)
                row = brains.get_version(session, found, version)
                if multipart:
                    files = brains.read_file_rows(blobs, row.files)
                    if not files:
                        files = {projects.DEFAULT_PROJECT_FILE: projects.bproj_bytes({"files": []})}
                    body, content_type = projects.multipart_download(files)
                    return Response(body, headers={"Content-Type": content_type})
                return JSONResponse(status.version_body(owner, found, row))

        return await answer(work)

    # --- training control ---------------------------------------------------------------------------------

    @router.put("/v1/{user}/{brain}/train")
    async def train(request: Request, user: str, brain: str) -> Response:
        try:
            raw = await read_limited_body(request, 1024 * 1024)
        except BonsaiError as error:
            return error_response(error.status, error.message)

        def work() -> tuple[User, brains.Brain, training.Started]:
            manage = training.check_manage_simulator(json_object(raw), settings)
            del manage
            with db.write() as session:
                owner, found = owner_brain(session, request, user, brain)
                found = brains.get_brain(session, owner, brain, for_update=True)
                return owner, found, training.create_version(session, blobs, found, settings)

        try:
            owner, found, started = await run_in_threadpool(work)
        except BonsaiError as error:
            return error_response(error.status, error.message)
        await runtime.start(started.version_id, resume=False)
        runtime.publish_training_started(started)
        return JSONResponse(training.train_body(owner, found, started.number, False))

    @router.put("/v1/{user}/{brain}/stop")
    async def stop(request: Request, user: str, brain: str) -> Response:
        def work() -> int:
            with db.read() as session:
                _owner, found = owner_brain(session, request, user, brain)
                return training.version_to_stop(session, found).id

        try:
            version_id = await run_in_threadpool(work)
        except BonsaiError as error:
            return error_response(error.status, error.message)
        await runtime.stop(version_id)
        return JSONResponse({})

    @router.put("/v1/{user}/{brain}/{version}/resume")
    async def resume(request: Request, user: str, brain: str, version: str) -> Response:
        try:
            raw = await read_limited_body(request, 1024 * 1024)
        except BonsaiError as error:
            return error_response(error.status, error.message)

        def work() -> tuple[User, brains.Brain, training.Started, bool]:
            training.check_manage_simulator(json_object(raw), settings)
            with db.write() as session:
                owner, found = owner_brain(session, request, user, brain)
                found = brains.get_brain(session, owner, brain, for_update=True)
                row = brains.get_version(session, found, version)
                started = training.prepare_resume(session, found, row, settings)
                return owner, found, started, training.has_checkpoint(session, row.id)

        try:
            owner, found, started, checkpointed = await run_in_threadpool(work)
        except BonsaiError as error:
            return error_response(error.status, error.message)
        if not started.already_training:
            await runtime.start(started.version_id, resume=checkpointed)
            runtime.publish_training_started(started)
        return JSONResponse(training.train_body(owner, found, started.number, False))

    return router
