"""Bender's account routes (/user/, /registration/, /password/...) and /api/users/ (spec §3.1, §3.5).

Accounts are the shared core's: a user registered here logs in to every dialect.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from crucible.core import accounts
from crucible.core.accounts import User
from crucible.dialects.bender.errors import field_error, forbidden, non_field_error, not_found
from crucible.dialects.bender.fields import MISSING, FieldErrors, canonical_uuid, parse_integer
from crucible.dialects.bender.models import BenderContactMessage, BenderExperiment, BenderShare
from crucible.dialects.bender.pagination import PageRequest
from crucible.settings import Settings

log = logging.getLogger(__name__)

VERIFY_EMAIL = "verify-email"
RESET_PASSWORD = "reset-password"
ONE_OFF_MAX_AGE = 3 * 86400
MAX_USER_ID = 2**31 - 1  # larger ids cannot exist; looking them up would overflow the database driver
INVALID_USERNAME = (
    "Enter a valid username. This value may contain only letters, numbers, and @/./+/-/_ characters."
)


def user_by_id(session: Session, value: Any) -> User | None:
    """The user whose id is `value` (an int or its decimal text), None for anything else."""
    user_id = parse_integer(value) if not isinstance(value, float) else None
    if user_id is None or not 0 < user_id <= MAX_USER_ID:
        return None
    return session.get(User, user_id)


def update_profile(session: Session, user: User, data: dict[str, Any], *, partial: bool) -> dict[str, Any]:
    fields = FieldErrors(data)
    username = fields.string("username", max_length=150, partial=partial)
    first_name = fields.string("first_name", required=False, max_length=150, allow_blank=True)
    last_name = fields.string("last_name", required=False, max_length=150, allow_blank=True)
    fields.raise_if_any()
    if username is not MISSING and username != user.username:
        _check_new_username(session, username)
        user.username = username
    if first_name is not MISSING:
        user.first_name = first_name
    if last_name is not MISSING:
        user.last_name = last_name
    session.flush()
    return accounts.user_summary(user)


def _check_new_username(session: Session, username: str) -> None:
    if not accounts.USERNAME_PATTERN.match(username):
        raise field_error("username", INVALID_USERNAME)
    if accounts.find_user_by_username(session, username) is not None:
        raise field_error("username", "A user with that username already exists.")


def _password_pair(fields: FieldErrors, first: str, second: str) -> str:
    one = fields.string(first)
    two = fields.string(second)
    fields.raise_if_any()
    if one != two:
        raise non_field_error("The two password fields didn't match.")
    problem = accounts.check_password_policy(one)
    if problem:
        raise field_error(first, problem)
    return one


def register(
    session: Session, data: dict[str, Any], settings: Settings, jwt_secret: str
) -> tuple[dict[str, Any], User]:
    if not settings.registration_open:
        raise forbidden("Registration is disabled.")
    if "password" in data and "password1" not in data:
        data = {**data, "password1": data["password"], "password2": data.get("password2", data["password"])}
    fields = FieldErrors(data)
    username = fields.string("username", max_length=150)
    email = fields.string("email", max_length=254)
    if (
        "tos_accepted" in data
        and data["tos_accepted"] is not True
        and data["tos_accepted"] not in ("true", "True")
    ):
        fields.add("tos_accepted", "You must accept the terms of service.")
    fields.raise_if_any()
    password = _password_pair(fields, "password1", "password2")
    try:
        user = accounts.create_user(
            session, username, password, email, email_verified=not settings.bender_email_verification
        )
    except accounts.AccountError as error:
        raise field_error(error.field, error.message) from error
    if settings.bender_email_verification:
        key = f"{user.id}:{accounts.make_one_off_token(jwt_secret, VERIFY_EMAIL, user)}"
        log.info("e-mail verification key issued", extra={"username": user.username, "key": key})
        return {"detail": "Verification e-mail sent."}, user
    token = accounts.issue_jwt(jwt_secret, user, settings.jwt_lifetime_days)
    return {"token": token, "user": accounts.user_summary(user)}, user


def _user_from_key(session: Session, key: Any) -> tuple[User, str] | None:
    if not isinstance(key, str) or ":" not in key:
        return None
    user_id, _, token = key.partition(":")
    user = user_by_id(session, user_id) if user_id.isdigit() else None
    return (user, token) if user else None


def verify_email(session: Session, data: dict[str, Any], jwt_secret: str) -> dict[str, Any]:
    found = _user_from_key(session, data.get("key"))
    if found is None or not accounts.check_one_off_token(jwt_secret, VERIFY_EMAIL, *found, ONE_OFF_MAX_AGE):
        raise not_found()
    found[0].email_verified = True
    return {"detail": "ok"}


def change_password(session: Session, user: User, data: dict[str, Any]) -> dict[str, Any]:
    password = _password_pair(FieldErrors(data), "new_password1", "new_password2")
    accounts.set_password(user, password)
    return {"detail": "New password has been saved."}


def request_password_reset(session: Session, data: dict[str, Any], jwt_secret: str) -> dict[str, Any]:
    fields = FieldErrors(data)
    email = fields.string("email", max_length=254)
    fields.raise_if_any()
    if not accounts.EMAIL_PATTERN.match(email):
        raise field_error("email", "Enter a valid email address.")
    user = accounts.find_user_by_email(session, email)
    if user is not None and user.is_active:
        token = accounts.make_one_off_token(jwt_secret, RESET_PASSWORD, user)
        # No mail transport is configured on a self-hosted install: the administrator relays it.
        log.info(
            "password reset requested", extra={"username": user.username, "uid": user.id, "token": token}
        )
    return {"detail": "Password reset e-mail has been sent."}


def confirm_password_reset(session: Session, data: dict[str, Any], jwt_secret: str) -> dict[str, Any]:
    fields = FieldErrors(data)
    uid = fields.string("uid")
    token = fields.string("token")
    fields.raise_if_any()
    user = user_by_id(session, uid) if uid.isdigit() else None
    if user is None:
        raise field_error("uid", "Invalid value")
    if not accounts.check_one_off_token(jwt_secret, RESET_PASSWORD, user, token, ONE_OFF_MAX_AGE):
        raise field_error("token", "Invalid value")
    password = _password_pair(fields, "new_password1", "new_password2")
    accounts.set_password(user, password)
    return {"detail": "Password has been reset with the new password."}


# --- /api/users/ -------------------------------------------------------------------------------------


def _full_user(session: Session, user: User) -> dict[str, Any]:
    shared = session.execute(
        select(BenderExperiment.id, BenderExperiment.name, User.username)
        .join(BenderShare, BenderShare.experiment_id == BenderExperiment.id)
        .join(User, User.id == BenderExperiment.owner_id)
        .where(BenderShare.user_id == user.id)
        .order_by(BenderExperiment.name)
    )
    return {
        "id": user.id,
        "username": user.username,
        "email": user.email or "",
        "shared_experiments": [{"id": e_id, "name": name, "owner": owner} for e_id, name, owner in shared],
    }


def list_users(
    session: Session, caller: User, query: dict[str, str], page: PageRequest
) -> tuple[list[Any], int]:
    statement = select(User).where(User.is_active.is_(True))
    search = query.get("search")
    if search:
        statement = statement.where(func.lower(User.username).contains(search.lower(), autoescape=True))
    statement = statement.order_by(User.username)
    count = session.scalar(select(func.count()).select_from(statement.order_by(None).subquery())) or 0
    rows = session.scalars(statement.limit(page.limit).offset(page.offset)).all()
    if caller.is_superuser:
        return [_full_user(session, row) for row in rows], count
    return [{"username": row.username} for row in rows], count


def _user_for(session: Session, caller: User, pk: str) -> User:
    user = user_by_id(session, pk)
    if user is None:
        raise not_found()
    if user.id != caller.id and not caller.is_superuser:
        raise forbidden()
    return user


def retrieve_user(session: Session, caller: User, pk: str) -> dict[str, Any]:
    return _full_user(session, _user_for(session, caller, pk))


def update_user(session: Session, caller: User, pk: str, data: dict[str, Any]) -> dict[str, Any]:
    user = _user_for(session, caller, pk)
    fields = FieldErrors(data)
    username = fields.string("username", required=False, max_length=150)
    email = fields.string("email", required=False, max_length=254)
    fields.raise_if_any()
    if username is not MISSING and username != user.username:
        _check_new_username(session, username)
        user.username = username
    if email is not MISSING and accounts.normalize_email(email) != user.email:
        if not accounts.EMAIL_PATTERN.match(email):
            raise field_error("email", "Enter a valid email address.")
        other = accounts.find_user_by_email(session, email)
        if other is not None and other.id != user.id:
            raise field_error("email", "Email already used.")
        user.email = accounts.normalize_email(email)
    if "shared_experiments" in data:
        _leave_experiments(session, user, data["shared_experiments"])
    session.flush()
    return _full_user(session, user)


def _leave_experiments(session: Session, user: User, value: Any) -> None:
    """`shared_experiments` may only shrink: leaving revokes access and keeps the user's data."""
    if not isinstance(value, list):
        raise field_error("shared_experiments", "Expected a list of items.")
    wanted: set[str] = set()
    for item in value:
        experiment_id = canonical_uuid(item.get("id") if isinstance(item, dict) else item)
        if experiment_id is None:
            raise field_error("shared_experiments", f"Invalid experiment id {json.dumps(item)}.")
        wanted.add(experiment_id)
    current = set(session.scalars(select(BenderShare.experiment_id).where(BenderShare.user_id == user.id)))
    if not wanted <= current:
        raise field_error("shared_experiments", "Experiments can only be removed from this list.")
    leaving = current - wanted
    if leaving:
        session.execute(
            delete(BenderShare).where(BenderShare.user_id == user.id, BenderShare.experiment_id.in_(leaving))
        )


def deactivate_user(session: Session, caller: User, pk: str) -> None:
    user = _user_for(session, caller, pk)
    user.is_active = False


def record_contact(session: Session, caller: User, data: dict[str, Any]) -> dict[str, Any]:
    fields = FieldErrors(data)
    title = fields.string("title", max_length=200)
    content = fields.string("content")
    email = fields.string("email", max_length=254)
    fields.raise_if_any()
    session.add(BenderContactMessage(user_id=caller.id, title=title, content=content, email=email))
    return {}
