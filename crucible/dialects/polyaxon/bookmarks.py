"""Bookmarks of projects, groups and experiments, per user (spec §3.2, §3.4, §3.6)."""

from __future__ import annotations

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from crucible.core.db import utcnow
from crucible.dialects.polyaxon.models import PlxBookmark

KINDS = ("project", "group", "experiment")


def bookmark(session: Session, user_id: int, kind: str, ref_id: int) -> None:
    """Idempotent: bookmarking twice keeps one bookmark."""
    exists = session.scalar(
        select(PlxBookmark.id).where(
            PlxBookmark.user_id == user_id, PlxBookmark.kind == kind, PlxBookmark.ref_id == ref_id
        )
    )
    if exists is None:
        session.add(PlxBookmark(user_id=user_id, kind=kind, ref_id=ref_id, created_at=utcnow()))


def unbookmark(session: Session, user_id: int, kind: str, ref_id: int) -> None:
    session.execute(
        delete(PlxBookmark).where(
            PlxBookmark.user_id == user_id, PlxBookmark.kind == kind, PlxBookmark.ref_id == ref_id
        )
    )


def forget(session: Session, kind: str, ref_id: int) -> None:
    """Drop everyone's bookmarks of a deleted object."""
    session.execute(delete(PlxBookmark).where(PlxBookmark.kind == kind, PlxBookmark.ref_id == ref_id))


def bookmarked_ids(
    session: Session, user_id: int, kind: str, offset: int, limit: int
) -> tuple[list[int], int]:
    query = select(PlxBookmark.ref_id).where(PlxBookmark.user_id == user_id, PlxBookmark.kind == kind)
    count = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    ids = session.scalars(
        query.order_by(PlxBookmark.created_at.desc(), PlxBookmark.id.desc()).offset(offset).limit(limit)
    )
    return list(ids), count
