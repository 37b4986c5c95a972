"""The orchestrator's wire format (spec §3.2–§3.5): paths, status codes and `{"Error": ...}` bodies.

Handlers are thin: authenticate (Basic, 401 otherwise), parse the JSON object, call the service
module in one transaction, shape the response. They are plain functions, so FastAPI runs them in its
thread pool and database work never blocks the event loop.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from crucible.core.accounts import User
from crucible.core.http import BodyError, ErrorFormats, parse_json_bytes
from crucible.core.services import Services
from crucible.dialects.morpheo import fields, registration, storage_routes, tasks
from crucible.dialects.morpheo.auth import authenticate
from crucible.dialects.morpheo.errors import (
    PAGE_DOES_NOT_EXIST,
    MorpheoError,
    bad_request,
    orchestrator_response,
    orchestrator_routing_error,
    storage_routing_error,
    unauthorized,
)
from crucible.dialects.morpheo.filters import COLLECTIONS, get_document, list_documents
from crucible.dialects.morpheo.leaderboard import leaderboard

ORCHESTRATOR_SEGMENTS = frozenset(
    {*COLLECTIONS, "prediction", "worker", "learndone", "preddone", "leaderboard"}
)
# First path segments that other parts of the server own (shared/DESIGN.md): their errors are theirs.
OTHER_OWNERS = frozenset(
    {
        "",
        "login",
        "logout",
        "user",
        "registration",
        "password",
        "api",
        "getaction",
        "setreward",
        "stats",
        "eval",
        "exp",
        "v1",
        "sims",
        "ui",
        "accounts",
        "static",
        "assets",
        "favicon.ico",
        "healthz",
        "openapi.json",
        "docs",
        "storage",
    }
)
BODY_NOT_AN_OBJECT = "body must be a JSON object"

Work = Callable[[Session, User, dict[str, Any]], Response]


def is_orchestrator_path(path: str) -> bool:
    """Morpheo's own paths, plus the original's catch-all `/<c>` and `/<c>/<uuid>` shapes for first
    segments nobody else owns (so `/foo` answers `{"Error": "Page does not exist"}`)."""
    segments = path.strip("/").split("/")
    if segments[0] in ORCHESTRATOR_SEGMENTS:
        return True
    # StreamingBandit matches its segments case-insensitively (`/GETACTION/1` is its path).
    return segments[0].lower() not in OTHER_OWNERS and len(segments) <= 2


def is_storage_path(path: str) -> bool:
    return path == "/storage" or path.startswith("/storage/")


async def raw_body(request: Request) -> bytes:
    return await request.body()


RawBody = Annotated[bytes, Depends(raw_body)]


def parse_object(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object; NaN/Infinity tokens parse here and are refused where a number is
    expected, with that field's message."""
    try:
        data = parse_json_bytes(raw, allow_nan=True)
    except (BodyError, RecursionError) as error:
        raise bad_request(BODY_NOT_AN_OBJECT) from error
    if not isinstance(data, dict):
        raise bad_request(BODY_NOT_AN_OBJECT)
    return data


def ok(body: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status)


def now() -> int:
    return int(time.time())


def install(app: FastAPI, services: Services, error_formats: ErrorFormats) -> None:
    error_formats.register(is_storage_path, storage_routing_error)
    error_formats.register(is_orchestrator_path, orchestrator_routing_error)
    app.include_router(build_router(services))
    app.include_router(storage_routes.build_router(services))
    settings = services.settings

    def sweep() -> None:
        tasks.expire_leases(
            services.db, settings.morpheo_task_lease_seconds, settings.morpheo_task_max_attempts
        )

    services.scheduler.add("morpheo-lease-expiry", min(60.0, settings.morpheo_task_lease_seconds / 2), sweep)
    services.on_startup(sweep)


def build_router(services: Services) -> APIRouter:
    router = APIRouter(tags=["morpheo"])
    db = services.db

    def run(request: Request, work: Work, *, raw: bytes | None = None, write: bool = False) -> Response:
        """Authenticate, parse, run `work` in one transaction (the credential check shares it: one
        database round trip less per request). A unique-key race is re-run once, so it answers
        like the sequential case (409)."""
        authorization = request.headers.get("authorization")
        try:
            body_error: MorpheoError | None = None
            body: dict[str, Any] = {}
            if raw is not None:
                try:
                    body = parse_object(raw)
                except MorpheoError as error:
                    body_error = error
            for attempt in (1, 2):
                try:
                    with db.write() if write else db.read() as session:
                        user = authenticate(session, authorization)
                        if user is None:
                            return unauthorized()
                        if body_error is not None:
                            raise body_error
                        return work(session, user, body)
                except IntegrityError:
                    if attempt == 2 or not write:
                        raise
            raise AssertionError("unreachable")
        except MorpheoError as error:
            return orchestrator_response(error)

    # --- reads --------------------------------------------------------------------------------

    def list_route(name: str) -> Callable[[Request], Response]:
        collection = COLLECTIONS[name]

        def list_collection(request: Request) -> Response:
            query = list(request.query_params.multi_items())
            return run(
                request,
                lambda session, _user, _body: ok(
                    {collection.envelope: list_documents(session, collection, query)}
                ),
            )

        return list_collection

    def get_route(name: str) -> Callable[[Request, str], Response]:
        collection = COLLECTIONS[name]

        def get_one(request: Request, uuid: str) -> Response:
            def work(session: Session, _user: User, _body: dict[str, Any]) -> Response:
                found = get_document(session, collection, uuid)
                if found is None:
                    raise MorpheoError(404, f"{name} {uuid} not found")
                return ok(found)

            return run(request, work)

        get_one.__name__ = f"get_{collection.name}"
        return get_one

    for name in COLLECTIONS:
        for path in (f"/{name}", f"/{name}/"):
            router.add_api_route(
                path,
                list_route(name),
                methods=["GET"],
                name=f"list_{name}{path[-1:]}",
                include_in_schema=path[-1] != "/",
            )
        for path in (f"/{name}/{{uuid}}", f"/{name}/{{uuid}}/"):
            router.add_api_route(
                path,
                get_route(name),
                methods=["GET"],
                name=f"get_{name}{path[-1:]}",
                include_in_schema=path[-1] != "/",
            )

    # --- registration ---------------------------------------------------------------------------

    def post_problem(request: Request, raw: RawBody) -> Response:
        return run(
            request,
            lambda session, _user, body: ok(
                {"new_problem": registration.register_problem(session, body, now())}, 201
            ),
            raw=raw,
            write=True,
        )

    def post_algo(request: Request, raw: RawBody) -> Response:
        def work(session: Session, _user: User, body: dict[str, Any]) -> Response:
            algo, created = registration.register_algo(session, body, now())
            return ok({"new_algo": algo, "new_learnuplets": created}, 201)

        return run(request, work, raw=raw, write=True)

    def post_data(request: Request, raw: RawBody) -> Response:
        def work(session: Session, _user: User, body: dict[str, Any]) -> Response:
            datas, created = registration.register_data(session, body, now())
            return ok({"new_datas": datas, "new_learnuplets": created}, 201)

        return run(request, work, raw=raw, write=True)

    def post_prediction(request: Request, raw: RawBody) -> Response:
        def work(session: Session, _user: User, body: dict[str, Any]) -> Response:
            preduplet = registration.request_prediction(session, body, now())
            return ok({"new_preduplets": 1, "preduplet": preduplet}, 201)

        return run(request, work, raw=raw, write=True)

    for path, handler in (
        ("/problem", post_problem),
        ("/algo", post_algo),
        ("/data", post_data),
        ("/prediction", post_prediction),
    ):
        router.add_api_route(path, handler, methods=["POST"])
        router.add_api_route(path + "/", handler, methods=["POST"], include_in_schema=False)

    # --- task lifecycle -------------------------------------------------------------------------

    def post_worker(request: Request, kind: str, uuid: str, raw: RawBody) -> Response:
        def work(session: Session, user: User, body: dict[str, Any]) -> Response:
            if kind not in (tasks.LEARNUPLET, tasks.PREDUPLET):
                raise MorpheoError(404, PAGE_DOES_NOT_EXIST)
            worker = fields.worker_value(body, required=True)
            assert worker is not None
            tasks.claim(session, kind, uuid, worker, user.id, time.time())
            return ok({f"{kind}_worker_set": uuid})

        return run(request, work, raw=raw, write=True)

    def post_learndone(request: Request, uuid: str, raw: RawBody) -> Response:
        recorded: list[tasks.ReportOutcome] = []

        def work(session: Session, user: User, body: dict[str, Any]) -> Response:
            recorded.append(tasks.report_learnuplet(session, uuid, body, user.id, now()))
            return ok({"updated_learnuplet": uuid})

        response = run(request, work, raw=raw, write=True)
        if response.status_code == 200 and recorded and recorded[-1].recorded is not None:
            stream_id, records = recorded[-1].recorded
            services.metrics_hub.publish(stream_id, records)
        return response

    def post_preddone(request: Request, uuid: str, raw: RawBody) -> Response:
        def work(session: Session, user: User, body: dict[str, Any]) -> Response:
            tasks.report_preduplet(session, uuid, body, user.id, now())
            return ok({"updated_preduplet": uuid})

        return run(request, work, raw=raw, write=True)

    for path, handler in (
        ("/worker/{kind}/{uuid}", post_worker),
        ("/learndone/{uuid}", post_learndone),
        ("/preddone/{uuid}", post_preddone),
    ):
        router.add_api_route(path, handler, methods=["POST"])
        router.add_api_route(path + "/", handler, methods=["POST"], include_in_schema=False)

    # --- leaderboard ------------------------------------------------------------------------------

    def get_leaderboard(request: Request) -> Response:
        def work(session: Session, _user: User, _body: dict[str, Any]) -> Response:
            problem = request.query_params.get("problem")
            if not problem:
                raise bad_request("missing problem parameter")
            return ok({"leaderboard": leaderboard(session, problem)})

        return run(request, work)

    router.add_api_route("/leaderboard", get_leaderboard, methods=["GET"])
    router.add_api_route("/leaderboard/", get_leaderboard, methods=["GET"], include_in_schema=False)
    return router
