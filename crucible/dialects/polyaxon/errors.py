"""Polyaxon's error bodies, in Django REST framework's shapes (spec §2 "Errors")."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

INVALID_TOKEN = "Invalid token."
NO_PERMISSION = "You do not have permission to perform this action."


class PolyaxonProblem(Exception):
    """A request this dialect refuses; `body` is sent as JSON with `status`."""

    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status}: {body}")
        self.status = status
        self.body = body
        self.headers = headers


def field_error(field: str, message: str) -> PolyaxonProblem:
    return PolyaxonProblem(400, {field: [message]})


def bad_request(detail: str) -> PolyaxonProblem:
    return PolyaxonProblem(400, {"detail": detail})


def unauthorized(detail: str = INVALID_TOKEN) -> PolyaxonProblem:
    return PolyaxonProblem(401, {"detail": detail}, {"WWW-Authenticate": "Token"})


def forbidden(detail: str = NO_PERMISSION) -> PolyaxonProblem:
    return PolyaxonProblem(403, {"detail": detail})


def not_found(detail: str = "Not found.") -> PolyaxonProblem:
    return PolyaxonProblem(404, {"detail": detail})


def conflict(detail: str) -> PolyaxonProblem:
    return PolyaxonProblem(409, {"detail": detail})


def too_large(detail: str) -> PolyaxonProblem:
    return PolyaxonProblem(413, {"detail": detail})


def not_implemented(detail: str) -> PolyaxonProblem:
    return PolyaxonProblem(501, {"detail": detail})


def problem_response(problem: PolyaxonProblem) -> Response:
    return JSONResponse(problem.body, status_code=problem.status, headers=problem.headers)


def is_polyaxon_path(path: str) -> bool:
    return path == "/api/v1" or path.startswith("/api/v1/")


def routing_error_response(request: Request, status: int, message: str) -> Response:
    if status == 405:
        message = f'Method "{request.method}" not allowed.'
    elif status >= 500:
        message = "A server error occurred."
    return JSONResponse({"detail": message}, status_code=status)
