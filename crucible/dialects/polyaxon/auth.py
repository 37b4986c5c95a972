"""Who is asking (spec §2 "Auth", §3.1): `Authorization: Token <key>` with shared-core API tokens,
the login that hands them out, and the ephemeral tokens a managed run exchanges for its own key.

A run's key is a core API token whose scope names one project (and experiment): it may read and write
that project only, and call `GET /users` (spec §4.6, decision D2).
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crucible.core.accounts import (
    ApiToken,
    User,
    authenticate_password,
    find_api_token,
    issue_api_token,
    sha256_hex,
)
from crucible.core.db import utcnow
from crucible.dialects.polyaxon.errors import PolyaxonProblem, field_error, unauthorized
from crucible.dialects.polyaxon.models import PlxEphemeralToken, PlxExperiment

LOGIN_TOKEN_LIFETIME = timedelta(days=365)
EPHEMERAL_LIFETIME = timedelta(hours=1)
SCOPE_DIALECT = "polyaxon"


@dataclass(frozen=True)
class Principal:
    """An authenticated caller; `project_id` is set for run-scoped keys, which see one project only."""

    user: User
    project_id: int | None = None
    experiment_id: int | None = None

    @property
    def is_run(self) -> bool:
        return self.project_id is not None


@dataclass(frozen=True)
class KeyHolder:
    """What a valid key says about its caller, without loading the account (the ingestion fast path)."""

    user_id: int
    is_superuser: bool
    project_id: int | None


class KeyCache:
    """Recently validated keys, for `ttl_seconds`: metric ingestion authenticates thousands of requests
    a second with the same key. A revoked or expired key, or a deactivated account, is refused at the
    latest `ttl_seconds` later (run keys are revoked 60 s after their run anyway)."""

    def __init__(self, ttl_seconds: float = 5.0, size: int = 10_000) -> None:
        self._ttl = ttl_seconds
        self._size = size
        self._entries: dict[str, tuple[float, KeyHolder]] = {}
        self._lock = threading.Lock()

    def holder(self, session: Session, authorization: str | None) -> KeyHolder:
        key = _credentials(authorization, "token")
        if key is None:
            raise unauthorized()
        digest = sha256_hex(key)
        now = time.monotonic()
        with self._lock:
            cached = self._entries.get(digest)
        if cached is not None and cached[0] > now:
            return cached[1]
        principal = authenticate(session, authorization)
        holder = KeyHolder(
            principal.user.id, principal.user.is_superuser and not principal.is_run, principal.project_id
        )
        with self._lock:
            if len(self._entries) >= self._size:
                self._entries.clear()
            self._entries[digest] = (now + self._ttl, holder)
        return holder


def _credentials(authorization: str | None, keyword: str) -> str | None:
    if not authorization:
        return None
    scheme, _, key = authorization.strip().partition(" ")
    if scheme.lower() != keyword or not key.strip() or " " in key.strip():
        return None
    return key.strip()


def authenticate(session: Session, authorization: str | None) -> Principal:
    """The caller behind `Token <key>`; 401 for anything else."""
    key = _credentials(authorization, "token")
    token = find_api_token(session, key) if key else None
    if token is None:
        raise unauthorized()
    user = session.get(User, token.user_id)
    if user is None or not user.is_active:
        raise unauthorized("User inactive or deleted.")
    scope = token.scope or {}
    if scope:
        if scope.get("dialect") != SCOPE_DIALECT or not isinstance(scope.get("project_id"), int):
            raise unauthorized()  # a key scoped for another dialect is no Polyaxon key
        return Principal(user, scope["project_id"], scope.get("experiment_id"))
    return Principal(user)


def login(session: Session, data: dict[str, Any]) -> dict[str, str]:
    """POST /users/token: an unexpired unscoped key for the account (a new one each time is simplest and
    never hands out a stale key)."""
    username, password = data.get("username"), data.get("password")
    for field, value in (("username", username), ("password", password)):
        if not isinstance(value, str) or value == "":
            raise field_error(field, "This field is required.")
    user = authenticate_password(session, username, password)  # type: ignore[arg-type]
    if user is None or not user.is_active:
        raise PolyaxonProblem(401, {"detail": "Invalid credentials."}, {"WWW-Authenticate": "Token"})
    user.last_login_at = utcnow()
    return {"token": issue_api_token(session, user, lifetime=LOGIN_TOKEN_LIFETIME)}


def run_scope(experiment: PlxExperiment) -> dict[str, Any]:
    return {"dialect": SCOPE_DIALECT, "project_id": experiment.project_id, "experiment_id": experiment.id}


def issue_run_token(session: Session, experiment: PlxExperiment) -> tuple[str, ApiToken]:
    """The key a run uses (POLYAXON_SECRET_USER_TOKEN); revoked a grace period after the run is done."""
    user = session.get(User, experiment.user_id)
    assert user is not None
    plain = issue_api_token(session, user, scope=run_scope(experiment))
    token = find_api_token(session, plain)
    assert token is not None
    return plain, token


def issue_ephemeral_token(session: Session, experiment: PlxExperiment) -> str:
    """A single-use secret valid for an hour (POLYAXON_SECRET_EPHEMERAL_TOKEN)."""
    plain = secrets.token_hex(20)
    session.add(
        PlxEphemeralToken(
            token_hash=sha256_hex(plain),
            experiment_id=experiment.id,
            expires_at=utcnow() + EPHEMERAL_LIFETIME,
        )
    )
    session.flush()
    return plain


def exchange_ephemeral_token(session: Session, authorization: str | None, experiment_id: int) -> str:
    """`EphemeralToken <t>` at E/ephemeraltoken → a run-scoped key, once; 401 otherwise."""
    plain = _credentials(authorization, "ephemeraltoken")
    if plain is None:
        raise unauthorized()
    row = session.scalar(
        select(PlxEphemeralToken).where(PlxEphemeralToken.token_hash == sha256_hex(plain)).with_for_update()
    )
    if (
        row is None
        or row.used_at is not None
        or row.expires_at <= utcnow()
        or row.experiment_id != experiment_id
    ):
        raise unauthorized()
    experiment = session.get(PlxExperiment, experiment_id)
    if experiment is None:
        raise unauthorized()
    key, token = issue_run_token(session, experiment)
    row.used_at = utcnow()
    row.exchanged_token_id = token.id
    return key


def schedule_run_token_revocation(session: Session, experiment: PlxExperiment, grace_seconds: float) -> None:
    """Make every key handed to this run expire `grace_seconds` from now (in-flight writes still land)."""
    ids = [experiment.run_token_id] if experiment.run_token_id else []
    ids += [
        token_id
        for token_id in session.scalars(
            select(PlxEphemeralToken.exchanged_token_id).where(
                PlxEphemeralToken.experiment_id == experiment.id
            )
        )
        if token_id is not None
    ]
    if not ids:
        return
    deadline = utcnow() + timedelta(seconds=grace_seconds)
    for token in session.scalars(select(ApiToken).where(ApiToken.id.in_(ids))):
        if token.expires_at is None or token.expires_at > deadline:
            token.expires_at = deadline
