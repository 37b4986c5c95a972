"""Morpheo's error bodies: `{"Error": ...}` on orchestrator routes, `{"error": ...}` on storage routes,
and the original's 401 (a text body and a Basic challenge) everywhere."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

PAGE_DOES_NOT_EXIST = "Page does not exist"
METHOD_NOT_ALLOWED = "Method not allowed"
WRONG_KEY = "wrong key in posted data"
NO_RELATED_PROBLEM = "non-existing related problem"


class MorpheoError(Exception):
    """A request the orchestrator refuses; sent as `{"Error": message}` with `status`."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


class StorageError(Exception):
    """A request the storage refuses; sent as `{"error": message}` with `status`."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


def bad_request(message: str) -> MorpheoError:
    return MorpheoError(400, message)


def invalid_value(key: str) -> MorpheoError:
    return MorpheoError(400, f"invalid value for {key}")


def not_found(collection: str, uuid: str) -> MorpheoError:
    return MorpheoError(404, f"{collection} {uuid} not found")


def unauthorized() -> Response:
    return PlainTextResponse(
        "Unauthorized Access",
        status_code=401,
        headers={"WWW-Authenticate": 'Basic realm="Authentication Required"'},
    )


def orchestrator_response(error: MorpheoError) -> Response:
    return JSONResponse({"Error": error.message}, status_code=error.status)


def storage_response(error: StorageError) -> Response:
    return JSONResponse({"error": error.message}, status_code=error.status)


def _routing_message(status: int) -> str:
    if status == 404:
        return PAGE_DOES_NOT_EXIST
    if status == 405:
        return METHOD_NOT_ALLOWED
    return "Internal server error"


def orchestrator_routing_error(_request: Request, status: int, _message: str) -> Response:
    return JSONResponse({"Error": _routing_message(status)}, status_code=status)


def storage_routing_error(_request: Request, status: int, _message: str) -> Response:
    return JSONResponse({"error": _routing_message(status)}, status_code=status)
