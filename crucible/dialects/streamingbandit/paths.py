"""Which paths are StreamingBandit's, and the ASGI middleware that serves them the original's way (spec §2):
literal segments match case-insensitively (`/GetAction/<id>`), OPTIONS answers 204, and CORS headers
are added only for configured origins (§4.9).
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from crucible.dialects.streamingbandit.auth import cors_headers
from crucible.settings import Settings

CORE_HEADS = ("getaction", "setreward")
ADMIN_HEADS = ("stats", "eval", "exp")
ACCOUNT_PATHS = ("/login", "/logout", "/user")
SECOND_LITERALS = {"exp": ("defaults",)}
THIRD_LITERALS = {
    "stats": ("currenttheta", "hourlytheta", "log", "actionlog", "rewardlog", "simulationlog", "summary"),
    "eval": ("simulate",),
    "exp": ("resetexperiment",),
}


def path_kind(path: str) -> str | None:
    """ "core" (key-authenticated), "admin" (cookie) or None when the path is not this dialect's."""
    if path in ACCOUNT_PATHS:
        return "admin"
    head = path.split("/", 2)[1].lower() if path.startswith("/") else ""
    if head in CORE_HEADS:
        return "core"
    if head in ADMIN_HEADS:
        return "admin"
    return None


def is_streamingbandit_path(path: str) -> bool:
    return path_kind(path) is not None


def canonical_path(path: str) -> str:
    """The path with its literal segments lower-cased; ids keep their case."""
    parts = path.split("/")
    if len(parts) < 2:
        return path
    head = parts[1] = parts[1].lower()
    if len(parts) > 2 and parts[2].lower() in SECOND_LITERALS.get(head, ()):
        parts[2] = parts[2].lower()
    if len(parts) > 3 and parts[3].lower() in THIRD_LITERALS.get(head, ()):
        parts[3] = parts[3].lower()
    return "/".join(parts)


class StreamingBanditPaths:
    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        kind = path_kind(path)
        if kind is None:
            await self.app(scope, receive, send)
            return
        if kind != "admin" or path not in ACCOUNT_PATHS:
            canonical = canonical_path(path)
            if canonical != path:
                scope = {**scope, "path": canonical, "raw_path": canonical.encode()}
        origin = Headers(scope=scope).get("origin")
        if kind == "core":
            cors = cors_headers(origin, self.settings.sb_core_cors_origins, credentials=False)
        else:
            cors = cors_headers(origin, self.settings.sb_cors_origins, credentials=True)
        if scope["method"] == "OPTIONS":
            await send({"type": "http.response.start", "status": 204, "headers": _raw(cors)})
            await send({"type": "http.response.body", "body": b""})
            return
        if not cors:
            await self.app(scope, receive, send)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *_raw(cors)]}
            await send(message)

        await self.app(scope, receive, send_with_cors)


def _raw(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(name.lower().encode(), value.encode()) for name, value in headers.items()]
