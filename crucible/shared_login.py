"""The login and logout routes Bender and StreamingBandit share (one account, one login).

`POST /login/` answers in Bender's wire format, `POST /login` (no slash) in StreamingBandit's; both
return Bender's `{"token", "user"}` and set StreamingBandit's signed `user` cookie. This module is
application glue, so it may know both formats; the dialects themselves never import each other.
"""

from __future__ import annotations

from datetime import timedelta
from email.utils import format_datetime
from typing import Any

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from crucible.core.accounts import (
    User,
    find_user_by_email,
    find_user_by_login,
    issue_jwt,
    sign_cookie_value,
    user_summary,
    verify_password,
)
from crucible.core.db import utcnow
from crucible.core.http import BodyError, contains_nul, read_body_data
from crucible.core.services import Services

SESSION_COOKIE = "user"
SESSION_MAX_AGE = 30 * 86400


def session_cookie_header(services: Services, request: Request, user: User) -> str:
    """The exact Set-Cookie layout StreamingBandit's UI and scripts saw (value always quoted)."""
    value = sign_cookie_value(services.cookie_secret, SESSION_COOKIE, str(user.id))
    expires = format_datetime(utcnow() + timedelta(seconds=SESSION_MAX_AGE), usegmt=True)
    header = f'{SESSION_COOKIE}="{value}"; Expires={expires}; Max-Age={SESSION_MAX_AGE}; Path=/; HttpOnly; SameSite=Lax'
    if request.url.scheme == "https":
        header += "; Secure"
    return header


def clear_cookie_header() -> str:
    return f'{SESSION_COOKIE}=""; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/'


def _bender_error(body: dict[str, Any]) -> JSONResponse:
    return JSONResponse(body, status_code=400)


def _sb_error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": status, "message": message}}, status_code=status)


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def install(app: FastAPI, services: Services) -> None:
    settings = services.settings

    def find_user(data: dict[str, Any]) -> User | None:
        email, username = _text(data.get("email")), _text(data.get("username"))
        with services.db.read() as session:
            if email:
                return find_user_by_email(session, email)
            return find_user_by_login(session, username)

    def check_credentials(data: dict[str, Any], streamingbandit: bool) -> User | Response:
        """The authenticated user, or the error response in the asking dialect's format.

        Runs in a worker thread: it reads the database and verifies an argon2 hash."""
        password = data.get("password")
        if not isinstance(password, str) or password == "":
            if streamingbandit:
                return _sb_error(400, "Missing field 'password'.")
            return _bender_error({"password": ["This field is required."]})
        if not (_text(data.get("email")) or _text(data.get("username"))):
            if streamingbandit:
                return _sb_error(400, "Missing field 'username'.")
            return _bender_error(
                {"non_field_errors": ['Must include either "username" or "email" and "password".']}
            )
        user = None if contains_nul(data) else find_user(data)
        problem = None
        if user is None or not verify_password(user, password):
            problem = "Unable to log in with provided credentials."
        elif not user.is_active:
            problem = "User account is disabled."
        elif settings.bender_email_verification and not user.email_verified:
            problem = "E-mail is not verified."
        if problem is not None or user is None:
            if streamingbandit:
                return _sb_error(401, "Wrong username or password!")
            return _bender_error({"non_field_errors": [problem]})
        with services.db.write() as session:
            stored = session.get(User, user.id)
            if stored is not None:
                stored.last_login_at = utcnow()
        return user

    async def login(request: Request) -> Response:
        streamingbandit = not request.url.path.endswith("/")
        try:
            data = await read_body_data(request)
        except BodyError as error:
            if streamingbandit:
                return _sb_error(400, f"Invalid JSON body: {error}")
            return _bender_error({"detail": f"JSON parse error - {error}"})
        if not isinstance(data, dict):
            data = {}
        outcome = await run_in_threadpool(check_credentials, data, streamingbandit)
        if isinstance(outcome, Response):
            return outcome
        token = issue_jwt(services.jwt_secret, outcome, settings.jwt_lifetime_days)
        response = JSONResponse({"token": token, "user": user_summary(outcome)})
        response.headers.append("set-cookie", session_cookie_header(services, request, outcome))
        return response

    async def logout_streamingbandit(request: Request) -> Response:
        response = Response(status_code=200, media_type="application/json")
        response.headers.append("set-cookie", clear_cookie_header())
        return response

    async def logout_bender(request: Request) -> Response:
        response = JSONResponse({"detail": "Successfully logged out."})
        response.headers.append("set-cookie", clear_cookie_header())
        return response

    app.add_api_route(
        "/login", login, methods=["POST"], tags=["accounts"], summary="Log in (StreamingBandit)"
    )
    app.add_api_route("/login/", login, methods=["POST"], tags=["accounts"], summary="Log in (Bender)")
    app.add_api_route("/logout", logout_streamingbandit, methods=["GET"], tags=["accounts"])
    app.add_api_route("/logout", logout_bender, methods=["POST"], tags=["accounts"])
    app.add_api_route("/logout/", logout_bender, methods=["POST"], tags=["accounts"])
