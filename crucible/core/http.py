"""HTTP helpers every dialect uses: body parsing, absolute URLs, and per-path error formats.

Each original service had its own error body shape; a dialect registers a formatter for its paths so
that even routing errors (unknown path, wrong method) answer in that dialect's format.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

ErrorFormatter = Callable[[Request, int, str], Response]
PathMatcher = Callable[[str], bool]

STANDARD_MESSAGES = {404: "Not found.", 405: "Method not allowed."}


@dataclass
class ErrorFormats:
    """Which formatter answers routing errors on which paths; first match wins."""

    entries: list[tuple[PathMatcher, ErrorFormatter]]

    def register(self, matcher: PathMatcher, formatter: ErrorFormatter) -> None:
        self.entries.append((matcher, formatter))

    def respond(self, request: Request, status: int, message: str) -> Response:
        path = request.url.path.removeprefix(request.scope.get("root_path", ""))
        for matcher, formatter in self.entries:
            if matcher(path):
                return formatter(request, status, message)
        return JSONResponse({"detail": message}, status_code=status)


class BodyError(ValueError):
    """The request body could not be parsed; the message says why."""


def _reject_constant(token: str) -> Any:
    raise BodyError(f"Invalid value {token}: NaN and Infinity are not valid JSON.")


def parse_json_bytes(raw: bytes, *, allow_nan: bool = False) -> Any:
    """Parse a JSON document; NaN/Infinity (also as overflowing literals like 1e999) are refused
    unless allowed. Every way a body can fail to parse is a BodyError, never a crash."""
    try:
        text = raw.decode("utf-8")
        if allow_nan:
            return json.loads(text)
        data = json.loads(text, parse_constant=_reject_constant)
    except UnicodeDecodeError as error:
        raise BodyError(f"Body is not UTF-8: {error}") from error
    except json.JSONDecodeError as error:
        raise BodyError(
            f"{error.msg}: line {error.lineno} column {error.colno} (char {error.pos})"
        ) from error
    except RecursionError as error:
        raise BodyError("Body is nested too deeply.") from error
    except ValueError as error:  # e.g. an integer literal longer than Python's digit limit
        raise BodyError(str(error)) from error
    if contains_non_finite(data):
        raise BodyError("Numbers must be finite: NaN and Infinity are not valid JSON.")
    return data


async def read_body_data(request: Request, *, allow_forms: bool = True, allow_nan: bool = False) -> Any:
    """JSON body, or a form body flattened to a dict when allowed. An empty body is an empty dict."""
    raw = await request.body()
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if allow_forms and content_type == "application/x-www-form-urlencoded":
        try:
            return dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
        except UnicodeDecodeError as error:
            raise BodyError(f"Body is not UTF-8: {error}") from error
    if allow_forms and content_type == "multipart/form-data":
        form = await request.form()
        return {key: value for key, value in form.items() if isinstance(value, str)}
    if not raw.strip():
        return {}
    return parse_json_bytes(raw, allow_nan=allow_nan)


def contains_non_finite(value: Any) -> bool:
    """True when a parsed JSON value holds NaN or an infinity anywhere (iteratively: no recursion limit)."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, float) and not math.isfinite(item):
            return True
        if isinstance(item, dict):
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


def contains_nul(value: Any) -> bool:
    """True when any string (key or value) of a parsed JSON value holds a NUL, which PostgreSQL refuses."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str) and "\x00" in item:
            return True
        if isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


def request_origin(request: Request, trust_forwarded: bool) -> str:
    """scheme://host as the client sees it (forwarded headers when trusted)."""
    scheme = request.url.scheme
    host = request.headers.get("host", request.url.netloc)
    if trust_forwarded:
        forwarded_proto = request.headers.get("x-forwarded-proto")
        forwarded_host = request.headers.get("x-forwarded-host")
        if forwarded_proto:
            scheme = forwarded_proto.split(",")[0].strip()
        if forwarded_host:
            host = forwarded_host.split(",")[0].strip()
    return f"{scheme}://{host}"


def absolute_url(
    request: Request,
    path: str | None = None,
    query: list[tuple[str, str]] | None = None,
    *,
    trust_forwarded: bool,
) -> str:
    if path is None:  # the scope path already includes any ASGI root path
        path = request.scope.get("crucible.original_path", request.url.path)
    url = request_origin(request, trust_forwarded) + path
    if query:
        url += "?" + urlencode(query)
    return url


def origin_of(url: str) -> str | None:
    """`scheme://host[:port]` of a URL, lower-cased; None when it has none (e.g. a relative URL)."""
    parts = urlsplit(url.strip())
    if not parts.scheme or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}".lower()


def cross_site_request(request: Request, allowed_origins: Sequence[str], trust_forwarded: bool) -> bool:
    """CSRF check for cookie-authenticated, state-changing requests: True when the browser says the
    request comes from another site that is not allow-listed.

    The request's `Origin` (else its `Referer`'s origin), when present, must be the server's own origin
    or listed; `Sec-Fetch-Site: cross-site` needs a listed Origin. Requests without these headers
    (scripts, command-line clients) pass.
    """
    own = request_origin(request, trust_forwarded).lower()
    allowed = {origin.lower().rstrip("/") for origin in allowed_origins}
    header = request.headers.get("origin")
    if header is not None:
        origin: str | None = header.strip().lower().rstrip("/")
    else:
        referer = request.headers.get("referer")
        origin = origin_of(referer) if referer else None
    if origin is not None and origin != own and origin not in allowed:
        return True
    fetch_site = request.headers.get("sec-fetch-site", "").strip().lower()
    return fetch_site == "cross-site" and (origin is None or origin not in allowed)


def json_body_openapi(schema: dict[str, Any]) -> dict[str, Any]:
    """`openapi_extra` for a route that reads its JSON body by hand: documents it in /openapi.json
    (and lets schema-driven fuzzers generate bodies)."""
    return {"requestBody": {"required": False, "content": {"application/json": {"schema": schema}}}}
