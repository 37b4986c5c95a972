"""HTTP Basic on every Morpheo route: the secret is the account's password or one of its access keys.

The original checked one user from its environment; here any active account of the server is
accepted, and all of them share one Morpheo namespace (spec §2).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from crucible.core.accounts import User, authenticate_secret, parse_basic_authorization


def authenticate(session: Session, authorization: str | None) -> User | None:
    """The active account behind a Basic header, None for anything else (the caller answers 401)."""
    if not authorization:
        return None
    credentials = parse_basic_authorization(authorization)
    if credentials is None:
        return None
    login, secret = credentials
    if not login or not secret:
        return None
    user = authenticate_secret(session, login, secret)
    if user is None or not user.is_active:
        return None
    return user
