"""Storage metadata and blobs (spec §3.6, §4.10): what `MorpheoOrg/morpheo-storage` kept in Postgres
and on disk, here in the server database and the shared blob store under `morpheo/<kind>/<uuid>`.

Blobs are immutable: an upload becomes visible only once its metadata row is committed, and a used
uuid answers 409 — except a model left behind by a task attempt that never finished (§4.4), which the
retrying worker may replace.
"""

from __future__ import annotations

import uuid as uuid_module
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crucible.core.blobs import CHUNK_SIZE, BlobStore
from crucible.dialects.morpheo.errors import StorageError
from crucible.dialects.morpheo.learnuplets import DONE
from crucible.dialects.morpheo.models import MorpheoLearnuplet, MorpheoStoredObject

KINDS = ("problem", "algo", "data", "model", "prediction")
PAGE_SIZE = 30
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
    return session.get(MorpheoStoredObject, (kind, uuid))


def require(session: Session, kind: str, uuid: str) -> MorpheoStoredObject:
    row = find(session, kind, uuid)
    if row is None:
        raise StorageError(404, f"{kind} {uuid} not found")
    return row


def list_page(session: Session, kind: str, page: int) -> dict[str, Any]:
    rows = session.scalars(
        select(MorpheoStoredObject)
        .where(MorpheoStoredObject.kind == kind)
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


def _file_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK_SIZE):
            yield chunk


def store(
    session: Session,
    blobs: BlobStore,
    row: MorpheoStoredObject,
    spool_path: Path,
    *,
    replace_orphan: bool = False,
) -> None:
    """Insert the metadata row and copy the spooled bytes to the blob store, in the caller's write
    transaction: a concurrent upload of the same uuid waits on the row, then gets 409."""
    existing = find(session, row.kind, row.uuid)
    if existing is not None:
        if not (replace_orphan and row.kind == "model" and is_orphan_model(session, row.uuid)):
            raise StorageError(409, f"{row.kind} {row.uuid} already exists")
        session.delete(existing)
        session.flush()
    session.add(row)
    session.flush()
    blobs.put_stream(blob_key(row.kind, row.uuid), _file_chunks(spool_path))
