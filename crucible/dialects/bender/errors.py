"""Bender's error bodies, in Django REST framework's shapes (spec §2.4)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

NO_CREDENTIALS = "Authentication credentials were not provided."
NO_PERMISSION = "You do not have permission to perform this action."


class BenderProblem(Exception):
    """A request Bender refuses; `body` is sent as JSON with `status`."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"{status}: {body}")
        self.status = status
        self.body = body


def field_error(field: str, message: str | list[Any] | dict[str, Any]) -> BenderProblem:
    value = message if isinstance(message, list | dict) else [message]
    return BenderProblem(400, {field: value})


def non_field_error(message: str) -> BenderProblem:
    return BenderProblem(400, {"non_field_errors": [message]})


def forbidden(detail: str = NO_PERMISSION) -> BenderProblem:
    return BenderProblem(403, {"detail": detail})


def not_found() -> BenderProblem:
    return BenderProblem(404, {"detail": "Not found."})


def too_many(detail: str) -> BenderProblem:
    return BenderProblem(429, {"detail": detail})


def problem_response(problem: BenderProblem) -> Response:
    return JSONResponse(problem.body, status_code=problem.status)


def routing_error_response(request: Request, status: int, message: str) -> Response:
    if status == 405:
        message = f'Method "{request.method}" not allowed.'
    elif status >= 500:
        message = "A server error occurred."
    return JSONResponse({"detail": message}, status_code=status)
