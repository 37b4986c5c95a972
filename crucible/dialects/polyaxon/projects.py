"""Projects: creation, access rules, listing, PATCH and deletion (spec §2 "Access", §3.2)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crucible.core.accounts import User, find_user_by_username
from crucible.core.db import utcnow
from crucible.dialects.polyaxon.auth import Principal
from crucible.dialects.polyaxon.errors import field_error, forbidden, not_found
from crucible.dialects.polyaxon.models import PlxProject
from crucible.dialects.polyaxon.wire import PageRequest, check_name

MAX_TEXT = 100_000


def can_read(principal: Principal, project: PlxProject) -> bool:
    if principal.is_run:
        return principal.project_id == project.id
    return project.is_public or can_write(principal, project)


def can_write(principal: Principal, project: PlxProject) -> bool:
    if principal.is_run:
        return principal.project_id == project.id
    return principal.user.is_superuser or project.owner_id == principal.user.id


def find_project(
    session: Session, principal: Principal, username: str, name: str, *, write: bool = False
) -> PlxProject:
    """The project `username/name` as this caller may see it: 404 when it is missing or private to
    someone else, 403 for a write to someone else's public project."""
    project = session.scalar(
        select(PlxProject)
        .join(User, User.id == PlxProject.owner_id)
        .where(User.username == username, PlxProject.name == name)
    )
    if project is None or not can_read(principal, project):
        raise not_found()
    if write and not can_write(principal, project):
        raise forbidden()
    return project


def text_field(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise field_error(key, "Not a valid string.")
    if len(value) > MAX_TEXT:
        raise field_error(key, f"Ensure this field has no more than {MAX_TEXT} characters.")
    return value


def tags_field(data: dict[str, Any], key: str = "tags") -> list[str] | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, str):  # the CLI may send a comma-separated string
        value = [item.strip() for item in value.split(",") if item.strip()]
    if not isinstance(value, list) or not all(isinstance(item, str) and len(item) <= 256 for item in value):
        raise field_error(key, "Expected a list of strings.")
    return list(dict.fromkeys(value))


def bool_field(data: dict[str, Any], key: str, default: bool | None) -> bool | None:
    value = data.get(key)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise field_error(key, "Must be a valid boolean.")
    return value


def merge_tags(old: list[str] | None, new: list[str] | None) -> list[str] | None:
    """The ordered union, old first (spec §4.2)."""
    if new is None:
        return old
    return list(dict.fromkeys([*(old or []), *new]))


def _name_taken(session: Session, owner_id: int, name: str, exclude_id: int | None = None) -> bool:
    query = select(PlxProject.id).where(PlxProject.owner_id == owner_id, PlxProject.name == name)
    if exclude_id is not None:
        query = query.where(PlxProject.id != exclude_id)
    return session.scalar(query) is not None


def create_project(session: Session, principal: Principal, data: dict[str, Any]) -> PlxProject:
    if principal.is_run:
        raise forbidden()
    name = check_name(data.get("name"))
    if _name_taken(session, principal.user.id, name):
        raise field_error("name", f"A project with name `{name}` already exists.")
    now = utcnow()
    project = PlxProject(
        owner_id=principal.user.id,
        name=name,
        description=text_field(data, "description"),
        tags=tags_field(data),
        is_public=bool_field(data, "is_public", True),
        created_at=now,
        updated_at=now,
    )
    session.add(project)
    session.flush()
    return project


def update_project(session: Session, project: PlxProject, data: dict[str, Any]) -> PlxProject:
    session.refresh(project, with_for_update=True)
    merge = bool_field(data, "merge", False)
    if "name" in data and data["name"] is not None:
        name = check_name(data["name"])
        if _name_taken(session, project.owner_id, name, exclude_id=project.id):
            raise field_error("name", f"A project with name `{name}` already exists.")
        project.name = name
    if "description" in data:
        project.description = text_field(data, "description")
    if "readme" in data:
        project.readme = text_field(data, "readme")
    if "tags" in data:
        tags = tags_field(data)
        project.tags = merge_tags(project.tags, tags) if merge else tags
    if "is_public" in data and data["is_public"] is not None:
        project.is_public = bool(bool_field(data, "is_public", project.is_public))
    project.updated_at = utcnow()
    return project


def list_projects(
    session: Session, principal: Principal, username: str, page: PageRequest
) -> tuple[list[PlxProject], int]:
    owner = find_user_by_username(session, username)
    if owner is None:
        raise not_found()
    query = select(PlxProject).where(PlxProject.owner_id == owner.id)
    if principal.is_run:
        query = query.where(PlxProject.id == principal.project_id)
    elif not (principal.user.is_superuser or principal.user.id == owner.id):
        query = query.where(PlxProject.is_public.is_(True))
    count = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(PlxProject.updated_at.desc(), PlxProject.id.desc())
        .offset(page.offset)
        .limit(page.limit)
    ).all()
    return list(rows), count
