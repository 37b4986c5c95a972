"""Bender's wire format: paths, status codes and bodies exactly as spec/bender.md says.

Handlers are thin: authenticate, parse, call the service module, shape the response. They are plain
functions, so FastAPI runs them in its thread pool and database work never blocks the event loop.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, FastAPI
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from crucible.core.accounts import User, user_summary
from crucible.core.http import BodyError, ErrorFormats, absolute_url, parse_json_bytes
from crucible.core.services import Services
from crucible.dialects.bender import algos, experiments, schemas, suggestions, trials, users
from crucible.dialects.bender.auth import authenticate, require_user
from crucible.dialects.bender.errors import (
    BenderProblem,
    field_error,
    problem_response,
    routing_error_response,
)
from crucible.dialects.bender.fields import NULL_CHARACTERS, has_unrepresentable_number, type_name
from crucible.dialects.bender.pagination import PageLinks, page_body, page_request
from crucible.dialects.bender.quotas import Quotas

API_COLLECTIONS = ("experiments", "algos", "trials", "trails", "users", "optimizers")
ACCOUNT_PATHS = (
    "/user",
    "/registration",
    "/registration/verify-email",
    "/password/change",
    "/password/reset",
    "/password/reset/confirm",
)


def canonical_path(path: str, method: str) -> str | None:
    """Bender's canonical form of a path (trailing slash, no `.json`, `trails` → `trials`), or None
    when the path is not Bender's. Slashless paths answer like slashed ones, without a redirect."""
    if path in ("/api", "/api/"):
        return "/api/"
    if path.startswith("/api/"):
        trimmed = path.removesuffix(".json").rstrip("/")
        parts = trimmed.split("/")
        if len(parts) < 3 or parts[2] not in API_COLLECTIONS:
            return None
        if parts[2] == "trails":
            parts[2] = "trials"
        return "/".join(parts) + "/"
    trimmed = path.rstrip("/")
    if trimmed in ACCOUNT_PATHS:
        if trimmed == "/user" and path == "/user" and method == "POST":
            return None  # POST /user is StreamingBandit's user creation
        return trimmed + "/"
    return None


def is_bender_path(path: str) -> bool:
    if path.startswith("/api/v1/") or path == "/api/v1":
        return False
    return path.startswith("/api") or path.rstrip("/") in ACCOUNT_PATHS or path in ("/login/", "/logout/")


def split_root_path(scope: Scope) -> tuple[str, str]:
    """(root path, path below it). ASGI servers put the root path in front of `path`; a bare `path`
    below a root path is accepted too."""
    root = scope.get("root_path", "") or ""
    path: str = scope["path"]
    if root and (path == root or path.startswith(root + "/")):
        return root, path[len(root) :] or "/"
    return root, path


def requested_path(request: Request) -> str:
    """The path as the client sent it, root path included (for absolute links)."""
    original = request.scope.get("crucible.original_path")
    if original is not None:
        return str(original)
    root, path = split_root_path(request.scope)
    return root + path


class BenderPaths:
    """ASGI middleware rewriting Bender paths to their canonical form before routing."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            root, path = split_root_path(scope)
            canonical = canonical_path(path, scope["method"])
            if canonical is not None and canonical != path:
                scope = dict(scope)
                scope["crucible.original_path"] = root + path
                scope["path"] = root + canonical
                scope["raw_path"] = (root + canonical).encode()
        await self.app(scope, receive, send)


async def raw_body(request: Request) -> bytes:
    return await request.body()


RawBody = Annotated[bytes, Depends(raw_body)]
Work = Callable[[Session, Any, dict[str, Any]], Response]


def ok(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=headers)


def no_content() -> Response:
    return Response(status_code=204)


def done(_result: None) -> Response:
    """204 after an action that returns nothing (deletes)."""
    return no_content()


UNREPRESENTABLE = (
    "Numbers must be finite and within the range of a double: NaN, Infinity and larger are not valid."
)


def parse_body(raw: bytes, request: Request, *, forms: bool, allow_nan: bool = False) -> dict[str, Any]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if forms and content_type == "application/x-www-form-urlencoded":
        return dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
    if not raw.strip():
        return {}
    try:
        data = parse_json_bytes(raw, allow_nan=allow_nan)
    except BodyError as error:
        raise BenderProblem(400, {"detail": f"JSON parse error - {error}"}) from error
    # 1e999 reads as inf and 10**400 fits no float: refuse them like NaN (trials report them per field)
    if not allow_nan and has_unrepresentable_number(data):
        raise BenderProblem(400, {"detail": f"JSON parse error - {UNREPRESENTABLE}"})
    if not isinstance(data, dict):
        raise BenderProblem(
            400, {"non_field_errors": [f"Invalid data. Expected a dictionary, but got {type_name(data)}."]}
        )
    return data


def install(app: FastAPI, services: Services, error_formats: ErrorFormats) -> None:
    """Mount Bender's routes. Handlers find the services on `app.state.services`, so the routes are built
    once per process and shared by every app (FastAPI's route analysis is slow)."""
    app.state.services = services
    error_formats.register(is_bender_path, routing_error_response)
    app.add_middleware(BenderPaths)
    app.router.routes.extend(shared_router().routes)


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def quotas_of(request: Request) -> Quotas:
    return Quotas.from_settings(services_of(request).settings)


@cache
def shared_router() -> APIRouter:
    return build_router()


def build_router() -> APIRouter:
    router = APIRouter(tags=["bender"])

    def run(
        request: Request,
        work: Work,
        *,
        raw: bytes | None = None,
        write: bool = False,
        anonymous: bool = False,
        forms: bool = False,
        allow_nan: bool = False,
    ) -> Response:
        services = services_of(request)
        try:
            data = parse_body(raw, request, forms=forms, allow_nan=allow_nan) if raw is not None else {}
            authorization = request.headers.get("authorization")
            if not write:
                with services.db.read() as session:
                    user = authenticate(session, authorization, services.jwt_secret)
                    return work(session, user if anonymous else require_user(user), data)
            with services.db.read() as session:
                user = authenticate(session, authorization, services.jwt_secret)
            if not anonymous:
                require_user(user)
            with services.db.write() as session:
                current = session.get(User, user.id) if user is not None else None
                return work(session, current, data)
        except BenderProblem as problem:
            return problem_response(problem)

    def page(request: Request, lister: Callable[..., tuple[list[Any], int]]) -> Response:
        settings = services_of(request).settings
        query = dict(request.query_params)
        for key, value in query.items():
            if "\x00" in value:  # django-filter's form fields refuse NUL, and PostgreSQL cannot compare it
                return problem_response(field_error(key, NULL_CHARACTERS))
        page_req = page_request(query, settings.bender_max_page_limit)
        links = PageLinks(
            base_url=absolute_url(
                request, requested_path(request), trust_forwarded=settings.trust_forwarded_headers
            ),
            query=list(request.query_params.multi_items()),
        )

        def work(session: Session, user: User, _data: dict[str, Any]) -> Response:
            results, count = lister(session, user, query, page_req)
            return ok(page_body(results, count, page_req, links))

        return run(request, work)

    # --- account routes (login/logout live in crucible.shared_login) --------------------------------

    @router.get("/user/")
    def get_profile(request: Request) -> Response:
        return run(request, lambda session, user, _: ok(user_summary(user)))

    @router.put("/user/", openapi_extra=schemas.json_body(schemas.PROFILE))
    def put_profile(request: Request, raw: RawBody) -> Response:
        return run(
            request,
            lambda s, u, d: ok(users.update_profile(s, u, d, partial=False)),
            raw=raw,
            write=True,
            forms=True,
        )

    @router.patch("/user/", openapi_extra=schemas.json_body(schemas.PROFILE))
    def patch_profile(request: Request, raw: RawBody) -> Response:
        return run(
            request,
            lambda s, u, d: ok(users.update_profile(s, u, d, partial=True)),
            raw=raw,
            write=True,
            forms=True,
        )

    @router.post("/registration/", openapi_extra=schemas.json_body(schemas.REGISTRATION))
    def registration(request: Request, raw: RawBody) -> Response:
        def work(session: Session, _user: Any, data: dict[str, Any]) -> Response:
            services = services_of(request)
            body, _created = users.register(session, data, services.settings, services.jwt_secret)
            return ok(body, status=201)

        return run(request, work, raw=raw, write=True, anonymous=True, forms=True)

    @router.post("/registration/verify-email/", openapi_extra=schemas.json_body(schemas.KEY))
    def verify_email(request: Request, raw: RawBody) -> Response:
        return run(
            request,
            lambda s, _u, d: ok(users.verify_email(s, d, services_of(request).jwt_secret)),
            raw=raw,
            write=True,
            anonymous=True,
            forms=True,
        )

    @router.post("/password/change/", openapi_extra=schemas.json_body(schemas.PASSWORD_CHANGE))
    def password_change(request: Request, raw: RawBody) -> Response:
        return run(
            request, lambda s, u, d: ok(users.change_password(s, u, d)), raw=raw, write=True, forms=True
        )

    @router.post("/password/reset/", openapi_extra=schemas.json_body(schemas.PASSWORD_RESET))
    def password_reset(request: Request, raw: RawBody) -> Response:
        return run(
            request,
            lambda s, _u, d: ok(users.request_password_reset(s, d, services_of(request).jwt_secret)),
            raw=raw,
            anonymous=True,
            forms=True,
        )

    @router.post("/password/reset/confirm/", openapi_extra=schemas.json_body(schemas.PASSWORD_RESET_CONFIRM))
    def password_reset_confirm(request: Request, raw: RawBody) -> Response:
        return run(
            request,
            lambda s, _u, d: ok(users.confirm_password_reset(s, d, services_of(request).jwt_secret)),
            raw=raw,
            write=True,
            anonymous=True,
            forms=True,
        )

    # --- API root and users -----------------------------------------------------------------------

    @router.get("/api/")
    def api_root(request: Request) -> Response:
        def work(_session: Session, _user: User, _data: dict[str, Any]) -> Response:
            def url(name: str) -> str:
                root, _path = split_root_path(request.scope)
                return absolute_url(
                    request,
                    f"{root}/api/{name}/",
                    trust_forwarded=services_of(request).settings.trust_forwarded_headers,
                )

            return ok({name: url(name) for name in ("experiments", "algos", "trials", "users")})

        return run(request, work)

    @router.get("/api/optimizers/")
    def list_optimizers(request: Request) -> Response:
        body = {"optimizers": suggestions.optimizer_names(), "default": suggestions.DEFAULT_OPTIMIZER}
        return run(request, lambda _s, _u, _d: ok(body))

    @router.get("/api/users/")
    def list_users(request: Request) -> Response:
        return page(request, users.list_users)

    @router.post("/api/users/contact/", openapi_extra=schemas.json_body(schemas.CONTACT))
    def contact(request: Request, raw: RawBody) -> Response:
        return run(request, lambda s, u, d: ok(users.record_contact(s, u, d)), raw=raw, write=True)

    @router.get("/api/users/{pk}/")
    def get_user(request: Request, pk: str) -> Response:
        return run(request, lambda s, u, _d: ok(users.retrieve_user(s, u, pk)))

    @router.put("/api/users/{pk}/", openapi_extra=schemas.json_body(schemas.USER_UPDATE))
    @router.patch("/api/users/{pk}/", openapi_extra=schemas.json_body(schemas.USER_UPDATE))
    def update_user(request: Request, pk: str, raw: RawBody) -> Response:
        return run(request, lambda s, u, d: ok(users.update_user(s, u, pk, d)), raw=raw, write=True)

    @router.delete("/api/users/{pk}/")
    def delete_user(request: Request, pk: str) -> Response:
        return run(request, lambda s, u, _d: done(users.deactivate_user(s, u, pk)), write=True)

    # --- experiments --------------------------------------------------------------------------------

    @router.get("/api/experiments/")
    def list_experiments(request: Request) -> Response:
        return page(request, experiments.list_experiments)

    @router.post("/api/experiments/", openapi_extra=schemas.json_body(schemas.EXPERIMENT_CREATE))
    def create_experiment(request: Request, raw: RawBody) -> Response:
        return run(
            request,
            lambda s, u, d: ok(experiments.create_experiment(s, u, d, quotas_of(request)), 201),
            raw=raw,
            write=True,
        )

    @router.get("/api/experiments/{experiment_id}/")
    def get_experiment(request: Request, experiment_id: str) -> Response:
        return run(request, lambda s, u, _d: ok(experiments.retrieve_experiment(s, u, experiment_id)))

    @router.put(
        "/api/experiments/{experiment_id}/", openapi_extra=schemas.json_body(schemas.EXPERIMENT_UPDATE)
    )
    @router.patch(
        "/api/experiments/{experiment_id}/", openapi_extra=schemas.json_body(schemas.EXPERIMENT_UPDATE)
    )
    def update_experiment(request: Request, experiment_id: str, raw: RawBody) -> Response:
        return run(
            request,
            lambda s, u, d: ok(experiments.update_experiment(s, u, experiment_id, d, quotas_of(request))),
            raw=raw,
            write=True,
        )

    @router.delete("/api/experiments/{experiment_id}/")
    def delete_experiment(request: Request, experiment_id: str) -> Response:
        return run(
            request,
            lambda s, u, _d: done(experiments.delete_experiment(s, u, experiment_id)),
            write=True,
        )

    # --- algos ------------------------------------------------------------------------------------------

    @router.get("/api/algos/")
    def list_algos(request: Request) -> Response:
        return page(request, algos.list_algos)

    @router.post("/api/algos/", openapi_extra=schemas.json_body(schemas.ALGO_CREATE))
    def create_algo(request: Request, raw: RawBody) -> Response:
        return run(
            request,
            lambda s, u, d: ok(algos.create_algo(s, u, d, quotas_of(request)), 201),
            raw=raw,
            write=True,
        )

    @router.get("/api/algos/{algo_id}/")
    def get_algo(request: Request, algo_id: str) -> Response:
        return run(request, lambda s, u, _d: ok(algos.retrieve_algo(s, u, algo_id)))

    @router.put("/api/algos/{algo_id}/", openapi_extra=schemas.json_body(schemas.ALGO_UPDATE))
    def put_algo(request: Request, algo_id: str, raw: RawBody) -> Response:
        return run(
            request,
            lambda s, u, d: ok(algos.update_algo(s, u, algo_id, d, partial=False)),
            raw=raw,
            write=True,
        )

    @router.patch("/api/algos/{algo_id}/", openapi_extra=schemas.json_body(schemas.ALGO_UPDATE))
    def patch_algo(request: Request, algo_id: str, raw: RawBody) -> Response:
        return run(
            request,
            lambda s, u, d: ok(algos.update_algo(s, u, algo_id, d, partial=True)),
            raw=raw,
            write=True,
        )

    @router.delete("/api/algos/{algo_id}/")
    def delete_algo(request: Request, algo_id: str) -> Response:
        return run(request, lambda s, u, _d: done(algos.delete_algo(s, u, algo_id)), write=True)

    @router.post("/api/algos/{algo_id}/suggest/", openapi_extra=schemas.json_body(schemas.SUGGEST))
    def suggest(request: Request, algo_id: str, raw: RawBody) -> Response:
        def work(session: Session, user: User, data: dict[str, Any]) -> Response:
            outcome = suggestions.suggest(session, user, algo_id, data)
            if outcome is None:
                return no_content()
            return ok(outcome.values, headers={"X-Bender-Optimizer-Used": outcome.optimizer_used})

        return run(request, work, raw=raw)

    # --- trials -----------------------------------------------------------------------------------------

    @router.get("/api/trials/")
    def list_trials(request: Request) -> Response:
        return page(request, trials.list_trials)

    @router.post("/api/trials/", openapi_extra=schemas.json_body(schemas.TRIAL_CREATE))
    def create_trial(request: Request, raw: RawBody) -> Response:
        return run(
            request,
            lambda s, u, d: ok(trials.create_trial(s, u, d, quotas_of(request)), 201),
            raw=raw,
            write=True,
            allow_nan=True,
        )

    @router.get("/api/trials/{trial_id}/")
    def get_trial(request: Request, trial_id: str) -> Response:
        return run(request, lambda s, u, _d: ok(trials.retrieve_trial(s, u, trial_id)))

    @router.delete("/api/trials/{trial_id}/")
    def delete_trial(request: Request, trial_id: str) -> Response:
        return run(request, lambda s, u, _d: done(trials.delete_trial(s, u, trial_id)), write=True)

    return router
