"""Who is asking: the signed `user` cookie on admin routes, and the CSRF and CORS rules (spec §4.9).

The core routes (getaction, setreward) authenticate with the experiment key instead (see routes.py).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session
from starlette.requests import Request

from crucible.core.accounts import User, read_cookie_value
from crucible.core.http import cross_site_request
from crucible.dialects.streamingbandit.errors import CROSS_ORIGIN, NOT_VALIDATED_USER, SbError

COOKIE_NAME = "user"
CORS_METHODS = "GET, PUT, POST, DELETE, OPTIONS"
CORS_HEADERS = "origin, content-type, accept, authorization, x-total-count, content-range"


def cookie_user(session: Session, request: Request, cookie_secret: str) -> User:
    """The active account named by a valid `user` cookie, else 401 `Could not validate user.`"""
    signed = request.cookies.get(COOKIE_NAME)
    user_id = read_cookie_value(cookie_secret, COOKIE_NAME, signed) if signed else None
    if user_id is None or not user_id.isdigit():
        raise SbError(401, NOT_VALIDATED_USER)
    user = session.get(User, int(user_id))
    if user is None or not user.is_active:
        raise SbError(401, NOT_VALIDATED_USER)
    return user


def check_origin(request: Request, allowed_origins: Sequence[str], trust_forwarded: bool) -> None:
    """403 for a state-changing cookie request coming from another site (CSRF)."""
    if cross_site_request(request, allowed_origins, trust_forwarded):
        raise SbError(403, CROSS_ORIGIN)


def cors_headers(origin: str | None, allowed: Sequence[str], *, credentials: bool) -> dict[str, str]:
    """CORS response headers for `origin`; none unless it is configured (off by default).

    Admin routes echo a listed origin with credentials; core routes may list `*`, never with credentials.
    """
    if not origin or not allowed:
        return {}
    headers = {
        "Access-Control-Allow-Methods": CORS_METHODS,
        "Access-Control-Allow-Headers": CORS_HEADERS,
        "Vary": "Origin",
    }
    if origin in allowed:
        headers["Access-Control-Allow-Origin"] = origin
        if credentials:
            headers["Access-Control-Allow-Credentials"] = "true"
        return headers
    if not credentials and "*" in allowed:
        headers["Access-Control-Allow-Origin"] = "*"
        return headers
    return {}
