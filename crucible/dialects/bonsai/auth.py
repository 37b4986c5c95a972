"""Who is asking (spec §2): an access key as the raw header, `Basic base64(user:key)` or `Bearer key`.

A key in the query string is not accepted. Failures: 401 `Unauthorized` for a missing or unknown key
(or a Basic username that does not own it); 403 when the key's owner is not `{user}` in the path.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from crucible.core.accounts import User, find_access_key, find_user_by_username, parse_basic_authorization
from crucible.dialects.bonsai.errors import BonsaiError

UNAUTHORIZED = "Unauthorized"


def key_owner(session: Session, authorization: str | None) -> User | None:
    """The active user whose access key the header carries, or None."""
    if not authorization or not authorization.strip():
        return None
    value = authorization.strip()
    login: str | None = None
    scheme, _, rest = value.partition(" ")
    if scheme.lower() == "basic":
        credentials = parse_basic_authorization(value)
        if credentials is None:
            return None
        login, key = credentials
    elif scheme.lower() == "bearer":
        key = rest.strip()
    else:
        key = value
    if not key or len(key) > 200:
        return None
    found = find_access_key(session, key)
    if found is None:
        return None
    user = session.get(User, found.user_id)
    if user is None or not user.is_active:
        return None
    if login is not None and login != user.username:
        return None
    return user


def authenticate(session: Session, authorization: str | None) -> User:
    user = key_owner(session, authorization)
    if user is None:
        raise BonsaiError(401, UNAUTHORIZED)
    return user


def authorize(session: Session, authorization: str | None, username: str) -> User:
    """The caller, who must be `username` (the `{user}` of the path)."""
    user = authenticate(session, authorization)
    if user.username != username:
        raise BonsaiError(403, f"Access key does not grant access to user '{username}'")
    return user


def path_user(session: Session, username: str) -> User | None:
    return find_user_by_username(session, username)
