"""Who is asking, as Bender's server decided it: JWT (or Bearer) tokens and HTTP Basic (spec §2.2).

Failures are 403 with DRF's messages, never 401: the original's first authentication class had no
WWW-Authenticate header, so DRF answered 403.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from crucible.core.accounts import (
    TokenExpired,
    TokenInvalid,
    User,
    authenticate_password,
    decode_jwt,
    parse_basic_authorization,
)
from crucible.dialects.bender.errors import NO_CREDENTIALS, forbidden


def authenticate(session: Session, authorization: str | None, jwt_secret: str) -> User | None:
    """The user behind the Authorization header, None for anonymous; raises 403 for bad credentials."""
    if not authorization:
        return None
    words = authorization.split()
    if not words:
        return None
    scheme = words[0].lower()
    if scheme in ("jwt", "bearer"):
        if len(words) == 1:
            raise forbidden("Invalid Authorization header. No credentials provided.")
        if len(words) > 2:
            raise forbidden("Invalid Authorization header. Credentials string should not contain spaces.")
        return _user_from_token(session, words[1], jwt_secret)
    if scheme == "basic":
        credentials = parse_basic_authorization(authorization)
        if credentials is None:
            raise forbidden("Invalid basic header. Credentials not correctly base64 encoded.")
        user = authenticate_password(session, *credentials)
        if user is None:
            raise forbidden("Invalid username/password.")
        if not user.is_active:
            raise forbidden("User inactive or deleted.")
        return user
    return None


def _user_from_token(session: Session, token: str, jwt_secret: str) -> User:
    try:
        claims = decode_jwt(jwt_secret, token)
    except TokenExpired as error:
        raise forbidden("Signature has expired.") from error
    except TokenInvalid as error:
        raise forbidden("Error decoding signature.") from error
    user_id = claims.get("user_id")
    user = session.get(User, user_id) if isinstance(user_id, int) and not isinstance(user_id, bool) else None
    if user is None:
        raise forbidden("Invalid signature.")
    if not user.is_active:
        raise forbidden("User account is disabled.")
    return user


def require_user(user: User | None) -> User:
    if user is None:
        raise forbidden(NO_CREDENTIALS)
    return user
