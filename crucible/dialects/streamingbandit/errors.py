"""StreamingBandit's wire errors: `{"error": {"code": <status>, "message": "<text>"}}` on every route
(spec §2), plus `"traceback"` (experiment-code frames only) in debug mode."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

NOT_VALIDATED_USER = "Could not validate user."
NOT_VALIDATED_EXPERIMENT = "Experiment could not be validated."
CROSS_ORIGIN = "Cross-origin request rejected."
BAD_KEY = "Key or exp_id is invalid."
NO_KEY = "Key not supplied."
ADVICE_GONE = "Advice ID does not exist!"
CONFLICT = "Concurrent theta update conflict, retry."


class SbJSONResponse(JSONResponse):
    """JSON rendered like Python's `json` (NaN/Infinity tokens allowed, as the original served)."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, allow_nan=True, separators=(", ", ": ")).encode("utf-8")


class SbError(Exception):
    """A request StreamingBandit refuses; rendered by `error_response`."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        traceback: list[str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message
        self.traceback = traceback
        self.headers = headers or {}


def error_body(status: int, message: str, traceback: list[str] | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": status, "message": message}
    if traceback is not None:
        error["traceback"] = traceback
    return {"error": error}


def error_response(error: SbError) -> Response:
    return SbJSONResponse(
        error_body(error.status, error.message, error.traceback),
        status_code=error.status,
        headers=error.headers,
    )


def routing_error_response(request: Request, status: int, message: str) -> Response:
    """Unknown paths and wrong methods on this dialect's paths (and unexpected server errors)."""
    if status >= 500:
        message = "Internal server error."
    return SbJSONResponse(error_body(status, message), status_code=status)
