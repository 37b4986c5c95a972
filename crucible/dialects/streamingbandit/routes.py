"""StreamingBandit's wire format: paths, parameters, status codes and bodies exactly as
spec/streamingbandit.md says.

Handlers are thin: authenticate (experiment key or signed cookie), parse, call the executor or the
experiments module, shape the response. Plain `def` handlers run on FastAPI's thread pool, so database
work and sandbox calls never block the event loop; handlers that read a body hand the work to it too.
"""

from __future__ import annotations

import hmac
import json
import re
from typing import Any

from fastapi import APIRouter, FastAPI
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response

from crucible.core.accounts import AccountError, User, create_user, find_user_by_username
from crucible.core.http import ErrorFormats
from crucible.core.services import Services
from crucible.dialects.streamingbandit import experiments, stats
from crucible.dialects.streamingbandit.auth import check_origin, cookie_user
from crucible.dialects.streamingbandit.defaults import get_default, list_defaults
from crucible.dialects.streamingbandit.errors import (
    ADVICE_GONE,
    BAD_KEY,
    NO_KEY,
    SbError,
    SbJSONResponse,
    error_response,
    routing_error_response,
)
from crucible.dialects.streamingbandit.experiments import Experiment
from crucible.dialects.streamingbandit.paths import StreamingBanditPaths, is_streamingbandit_path
from crucible.dialects.streamingbandit.service import BanditService

EXP_ID = re.compile(r"^[A-Za-z0-9_]+$")
ADVICE_ID = re.compile(r"^[0-9a-f]{24}$")
MAX_BODY = 1 << 20
TRUE_WORDS = frozenset({"True", "true", "1", "yes", "y"})
STATS_NAMES = ("currenttheta", "summary", *stats.ROUTE_KINDS)


def ok(body: Any) -> Response:
    return SbJSONResponse(body)


def json_param(params: QueryParams, name: str) -> Any:
    """A JSON text in the query string (`context`, `action`, `reward`); absent means `{}`."""
    text = params.get(name)
    if text is None:
        return {}
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        raise SbError(400, f"Invalid JSON in parameter '{name}'.") from None


def int_param(
    params: QueryParams, name: str, default: int | None, low: int, high: int, message: str
) -> int | None:
    text = params.get(name)
    if text is None:
        return default
    text = text.strip()
    if not re.fullmatch(r"[+-]?[0-9]{1,20}", text):
        raise SbError(400, message)
    value = int(text)
    if not low <= value <= high:
        raise SbError(400, message)
    return value


def bool_param(params: QueryParams, name: str, default: bool) -> bool:
    text = params.get(name)
    return default if text is None else text in TRUE_WORDS


def checked_id(exp_id: str) -> str:
    if not EXP_ID.match(exp_id):
        raise SbError(404, "Not found.")
    return exp_id


async def json_body(request: Request) -> Any:
    """The JSON object of a POST/PUT (Content-Type not enforced, as the original); 1 MiB at most, and a
    larger body is refused without being read whole."""
    too_large = SbError(413, "Request body too large (1 MiB at most).")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise too_large
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise too_large
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        return {}
    try:
        return json.loads(raw, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as error:
        raise SbError(400, f"Invalid JSON body: {error}") from None


def _refuse_constant(token: str) -> Any:
    raise ValueError(f"{token} is not valid JSON")


def install(app: FastAPI, services: Services, error_formats: ErrorFormats) -> BanditService:
    settings = services.settings
    db = services.db
    service = BanditService(services)
    executor = service.executor
    router = APIRouter(tags=["streamingbandit"], default_response_class=SbJSONResponse)

    services.on_startup(service.start)
    services.on_shutdown(service.close)
    services.scheduler.add(
        "streamingbandit.advice_sweep", settings.sb_advice_sweep_seconds, service.sweep_advices
    )
    services.scheduler.add(
        "streamingbandit.hourly_theta", settings.sb_hourly_theta_seconds, service.snapshot_thetas
    )

    # --- who is asking ------------------------------------------------------------------------------------

    def keyed_experiment(exp_id: str, params: QueryParams) -> tuple[Experiment, str]:
        """Core auth: the experiment key in the query (no cookie)."""
        key = params.get("key")
        if not key:
            raise SbError(400, NO_KEY)
        experiment = executor.experiments.load(checked_id(exp_id))
        if experiment is None or not hmac.compare_digest(experiment.key.encode(), key.encode()):
            raise SbError(401, BAD_KEY)
        return experiment, key

    def admin(session: Session, request: Request, *, changes_state: bool = False) -> User:
        if changes_state:
            check_origin(request, settings.sb_cors_origins, settings.trust_forwarded_headers)
        return cookie_user(session, request, services.cookie_secret)

    def admin_user(request: Request, changes_state: bool = False) -> User:
        with db.read() as session:
            return admin(session, request, changes_state=changes_state)

    def owned(request: Request, exp_id: str, *, changes_state: bool = False) -> Experiment:
        with db.read() as session:
            user = admin(session, request, changes_state=changes_state)
            return experiments.load_owned(session, checked_id(exp_id), user.id)

    # --- core ---------------------------------------------------------------------------------------------

    @router.get("/getaction/{exp_id}", summary="Get an action for a context")
    def getaction(exp_id: str, request: Request) -> Response:
        params = request.query_params
        experiment, key = keyed_experiment(exp_id, params)
        context = json_param(params, "context")
        return ok(executor.get_action(experiment, key, context))

    @router.get("/setreward/{exp_id}", summary="Set the reward of an action")
    def setreward(exp_id: str, request: Request) -> Response:
        params = request.query_params
        experiment, key = keyed_experiment(exp_id, params)
        reward = json_param(params, "reward")
        advice_id = params.get("advice_id")
        if advice_id is not None:
            if not ADVICE_ID.match(advice_id):
                raise SbError(400, ADVICE_GONE)
            return ok(executor.set_reward(experiment, key, reward, advice_id=advice_id))
        context, action = json_param(params, "context"), json_param(params, "action")
        return ok(executor.set_reward(experiment, key, reward, context=context, action=action))

    # --- stats --------------------------------------------------------------------------------------------

    @router.get("/stats/{exp_id}/{name}", summary="Current theta, logs and summary of an experiment")
    def stats_route(exp_id: str, name: str, request: Request) -> Response:
        if name not in STATS_NAMES:
            raise SbError(404, "Not found.")
        experiment = owned(request, exp_id)
        if name == "currenttheta":
            return ok(executor.store.read_shaped(experiment.id))
        with db.read() as session:
            if name == "summary":
                return ok(stats.summary(session, experiment.id))
            limit = int_param(request.query_params, "limit", 0, 0, 2**62, "Invalid limit.")
            texts = stats.read_texts(session, experiment.id, stats.ROUTE_KINDS[name], limit or 0)
        return Response("[" + ", ".join(texts) + "]", media_type="application/json")

    # --- evaluation ---------------------------------------------------------------------------------------

    @router.get("/eval/{exp_id}/simulate", summary="Simulate N closed loops against the live theta")
    def simulate(exp_id: str, request: Request) -> Response:
        experiment = owned(request, exp_id, changes_state=True)
        params = request.query_params
        n = int_param(params, "N", 1000, 1, settings.sb_simulate_max_n, "Invalid parameter 'N'.")
        seed = int_param(params, "seed", None, 0, 2**32 - 1, "Invalid parameter 'seed'.")
        log_stats = bool_param(params, "log_stats", False)
        verbose = bool_param(params, "verbose", True)
        assert n is not None
        return ok(executor.simulate(experiment, n, seed, log_stats, verbose))

    # --- admin --------------------------------------------------------------------------------------------

    @router.get("/exp", summary="The caller's experiments")
    def list_experiments(request: Request) -> Response:
        with db.read() as session:
            user = admin(session, request)
            return ok(experiments.list_owned(session, user.id))

    @router.post("/exp", summary="Create an experiment")
    async def create_experiment(request: Request) -> Response:
        user = await run_in_threadpool(admin_user, request, True)
        data = await json_body(request)

        def work() -> Response:
            written = experiments.validated_properties(data, service.code_check(user.id))
            with db.write() as session:
                created = experiments.create(session, user.id, written)
            return ok(
                {"name": created.properties["name"], "id": created.id, "key": created.key, "error": False}
            )

        return await run_in_threadpool(work)

    @router.get("/exp/defaults", summary="The default experiments")
    def defaults(request: Request) -> Response:
        with db.read() as session:
            admin(session, request)
        return ok(list_defaults())

    @router.get("/exp/defaults/{index}", summary="The code of one default experiment")
    def default(index: str, request: Request) -> Response:
        with db.read() as session:
            admin(session, request)
        try:
            return ok(get_default(index))
        except KeyError:
            raise SbError(404, "Not found.") from None

    @router.get("/exp/{exp_id}", summary="An experiment's properties")
    def get_experiment(exp_id: str, request: Request) -> Response:
        return ok(owned(request, exp_id).properties)

    @router.put("/exp/{exp_id}", summary="Edit an experiment")
    async def edit_experiment(exp_id: str, request: Request) -> Response:
        experiment = await run_in_threadpool(owned, request, exp_id, changes_state=True)
        data = await json_body(request)

        def work() -> Response:
            written = experiments.validated_properties(data, service.code_check(experiment.owner_id))
            with db.write() as session:
                experiments.update(session, experiment.id, written)
            executor.experiments.forget(experiment.id)
            return ok({"id": experiment.id})

        return await run_in_threadpool(work)

    @router.delete("/exp/{exp_id}", summary="Delete an experiment (soft)")
    def delete_experiment(exp_id: str, request: Request) -> Response:
        experiment = owned(request, exp_id, changes_state=True)
        with db.write() as session:
            experiments.soft_delete(session, experiment.id)
        executor.experiments.forget(experiment.id)
        return ok(experiment.id)

    @router.get("/exp/{exp_id}/resetexperiment", summary="Delete (part of) an experiment's theta")
    def reset_experiment(exp_id: str, request: Request) -> Response:
        experiment = owned(request, exp_id, changes_state=True)
        params = request.query_params
        if not executor.reset(experiment, params.get("theta_key"), params.get("theta_value")):
            raise SbError(401, "Theta_key or theta_value could not be validated.")
        return ok({"status": "success"})

    # --- accounts -----------------------------------------------------------------------------------------

    @router.post("/user", summary="Create a user (admins only)")
    async def create_account(request: Request) -> Response:
        user = await run_in_threadpool(admin_user, request, True)
        if not user.is_superuser:
            raise SbError(401, "You are not an admin.")
        data = await json_body(request)
        if not isinstance(data, dict):
            raise SbError(400, "The request body must be a JSON object.")
        for field in ("username", "password"):
            if not isinstance(data.get(field), str) or not data[field]:
                raise SbError(400, f"Missing field '{field}'.")

        def work() -> Response:
            with db.write() as session:
                if find_user_by_username(session, data["username"]) is not None:
                    raise SbError(400, "User already exists.")
                try:
                    create_user(session, data["username"], data["password"])
                except AccountError as error:
                    message = "User already exists." if "already" in error.message else error.message
                    raise SbError(400, message) from None
            return ok({"status": "success"})

        return await run_in_threadpool(work)

    async def sb_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, SbError)
        return error_response(error)

    app.add_exception_handler(SbError, sb_error)
    app.add_middleware(StreamingBanditPaths, settings=settings)
    app.include_router(router)
    error_formats.register(is_streamingbandit_path, routing_error_response)
    app.state.streamingbandit = service
    return service
