"""Storage metadata and blobs (spec §3.6, §4.10): what `MorpheoOrg/morpheo-storage` kept in Postgres
and on disk, here in the server database and the shared blob store under `morpheo/<kind>/<uuid>`.

Blobs are immutable: an upload reserves its uuid with a metadata row (a short transaction), copies
the spooled bytes into the blob store outside any transaction, then marks the row stored; only stored
objects are visible. A used uuid answers 409, except a model left behind by a task attempt that never
finished (§4.4), which the retrying worker may replace, and a reservation abandoned for an hour.
"""

from __future__ import annotations

import uuid as uuid_module
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crucible.core.blobs import CHUNK_SIZE, BlobStore
from crucible.core.db import Database
from crucible.dialects.morpheo.errors import StorageError
from crucible.dialects.morpheo.learnuplets import DONE
from crucible.dialects.morpheo.models import MorpheoLearnuplet, MorpheoStoredObject

KINDS = ("problem", "algo", "data", "model", "prediction")
PAGE_SIZE = 30
STALE_RESERVATION_SECONDS = 3600
# Multipart fields allowed per kind (models are uploaded as a raw body).
UPLOAD_FIELDS: dict[str, frozenset[str]] = {
    "problem": frozenset({"uuid", "name", "description", "size", "blob"}),
    "algo": frozenset({"uuid", "name", "size", "blob"}),
    "data": frozenset({"uuid", "size", "blob"}),
    "prediction": frozenset({"uuid", "size", "blob"}),
}


def blob_key(kind: str, uuid: str) -> str:
    return f"morpheo/{kind}/{uuid}"


def parse_uuid(text: str) -> str:
    """RFC 4122 text, returned lower-case and hyphenated."""
    try:
        return str(uuid_module.UUID(text))
    except (ValueError, TypeError) as error:
        raise StorageError(400, f"Impossible to parse UUID {text}") from error


def check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise StorageError(404, "Page does not exist")


def metadata(row: MorpheoStoredObject) -> dict[str, Any]:
    """The wire metadata: uuid and timestamp for every kind, plus its own fields."""
    body: dict[str, Any] = {"uuid": row.uuid, "timestamp_upload": row.timestamp_upload}
    if row.kind in ("problem", "algo"):
        body["name"] = row.name
    if row.kind == "problem":
        body["description"] = row.description or ""
    if row.kind == "model":
        body["algo"] = row.algo
    return body


def find(session: Session, kind: str, uuid: str) -> MorpheoStoredObject | None:
    """A complete (stored) object, or None."""
    row = session.get(MorpheoStoredObject, (kind, uuid))
    return row if row is not None and row.stored else None


def require(session: Session, kind: str, uuid: str) -> MorpheoStoredObject:
    row = find(session, kind, uuid)
    if row is None:
        raise StorageError(404, f"{kind} {uuid} not found")
    return row


def list_page(session: Session, kind: str, page: int) -> dict[str, Any]:
    rows = session.scalars(
        select(MorpheoStoredObject)
        .where(MorpheoStoredObject.kind == kind, MorpheoStoredObject.stored.is_(True))
        .order_by(MorpheoStoredObject.timestamp_upload, MorpheoStoredObject.uuid)
        .offset(page * PAGE_SIZE)
        .limit(PAGE_SIZE)
    ).all()
    return {"page": page, "length": len(rows), "items": [metadata(row) for row in rows]}


def parse_page(text: str | None) -> int:
    if text is None:
        return 0
    if not text.isdigit() or len(text) > 9:
        raise StorageError(400, f"invalid page {text}")
    return int(text)


def is_orphan_model(session: Session, uuid: str) -> bool:
    """A stored model that no done learnuplet produced: left by an attempt that died after uploading."""
    statuses = session.scalars(
        select(MorpheoLearnuplet.status).where(MorpheoLearnuplet.model_end == uuid)
    ).all()
    return bool(statuses) and DONE not in statuses


def file_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK_SIZE):
            yield chunk


def reserve(session: Session, row: MorpheoStoredObject, *, replace_orphan: bool, now: int) -> None:
    """Take the uuid for an upload about to be copied in; 409 if it is used. A concurrent upload of
    the same uuid fails on the primary key (the caller answers 409 too)."""
    existing = session.get(MorpheoStoredObject, (row.kind, row.uuid))
    if existing is not None:
        abandoned = not existing.stored and existing.timestamp_upload < now - STALE_RESERVATION_SECONDS
        orphan = (
            replace_orphan and row.kind == "model" and existing.stored and is_orphan_model(session, row.uuid)
        )
        if not (abandoned or orphan):
            raise StorageError(409, f"{row.kind} {row.uuid} already exists")
        session.delete(existing)
        session.flush()
    row.stored = False
    session.add(row)
    session.flush()


def mark_stored(session: Session, kind: str, uuid: str) -> None:
    session.execute(
        update(MorpheoStoredObject)
        .where(MorpheoStoredObject.kind == kind, MorpheoStoredObject.uuid == uuid)
        .values(stored=True)
    )


def release(session: Session, kind: str, uuid: str) -> None:
    """Give up a reservation whose bytes could not be stored."""
    session.execute(
        delete(MorpheoStoredObject).where(
            MorpheoStoredObject.kind == kind,
            MorpheoStoredObject.uuid == uuid,
            MorpheoStoredObject.stored.is_(False),
        )
    )


def store(
    db: Database, blobs: BlobStore, row: MorpheoStoredObject, spool_path: Path, *, replace_orphan: bool
) -> None:
    """Reserve, copy the bytes (no transaction open meanwhile: a large copy blocks nobody), publish."""
    try:
        with db.write() as session:
            reserve(session, row, replace_orphan=replace_orphan, now=row.timestamp_upload)
    except IntegrityError as error:
        raise StorageError(409, f"{row.kind} {row.uuid} already exists") from error
    try:
        blobs.put_stream(blob_key(row.kind, row.uuid), file_chunks(spool_path))
    except BaseException:
        with db.write() as session:
            release(session, row.kind, row.uuid)
        raise
    with db.write() as session:
        mark_stored(session, row.kind, row.uuid)
    row.stored = True
