"""Bonsai's error bodies: every 4xx/5xx is `{"error": "<one-line message>"}` (spec §2)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response


class BonsaiError(Exception):
    """A request that fails with `status` and the one-line `message` the CLI prints."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def error_response(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def is_bonsai_path(path: str) -> bool:
    return path == "/v1" or path.startswith("/v1/")


def routing_error_response(_request: Request, status: int, message: str) -> Response:
    return error_response(status, message.rstrip("."))


def not_found(message: str) -> BonsaiError:
    return BonsaiError(404, message)


def conflict(message: str) -> BonsaiError:
    return BonsaiError(409, message)


def bad_request(message: str) -> BonsaiError:
    return BonsaiError(400, message)
