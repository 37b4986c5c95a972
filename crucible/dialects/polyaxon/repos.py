"""Project code: uploads of gzip tarballs recorded as code versions, downloads, and working copies for
runs (spec §3.2, §4.8).

An upload is checked member by member before anything is kept: absolute paths, `..`, links leaving the
tree and device or FIFO members are refused (decision D9). The accepted tree is repacked into a
normalised archive whose content hash (40 hex) is the version id, so identical uploads share an id.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from crucible.core.blobs import BlobStore
from crucible.core.db import utcnow
from crucible.dialects.polyaxon.errors import bad_request, not_found
from crucible.dialects.polyaxon.models import PlxCodeVersion, PlxProject

MAX_MEMBERS = 100_000


class UnsafeArchive(ValueError):
    pass


@dataclass(frozen=True)
class Member:
    path: str
    kind: str  # "file" | "dir" | "symlink"
    mode: int
    data: bytes = b""
    target: str = ""


def _normalise(name: str) -> str:
    path = PurePosixPath(name)
    if name.startswith("/") or path.is_absolute() or ".." in path.parts or "\\" in name or "\0" in name:
        raise UnsafeArchive(name)
    parts = [part for part in path.parts if part not in ("", ".")]
    return "/".join(parts)


def read_members(fileobj: BinaryIO) -> list[Member]:
    """Every member of a gzip tar, checked; raises UnsafeArchive or ValueError (not a gzip tar)."""
    try:
        archive = tarfile.open(fileobj=fileobj, mode="r:gz")  # noqa: SIM115 -- closed below
    except (tarfile.TarError, OSError, EOFError) as error:
        raise ValueError(f"The upload is not a gzip tar archive: {error}") from None
    members: list[Member] = []
    with archive:
        try:
            for info in archive:
                if len(members) >= MAX_MEMBERS:
                    raise ValueError("The archive has too many members.")
                path = _normalise(info.name)
                if info.isdir():
                    if path:
                        members.append(Member(path, "dir", 0o755))
                elif info.isfile():
                    if not path:
                        raise UnsafeArchive(info.name)
                    extracted = archive.extractfile(info)
                    data = extracted.read() if extracted is not None else b""
                    members.append(Member(path, "file", 0o755 if info.mode & 0o111 else 0o644, data))
                elif info.issym() or info.islnk():
                    target = info.linkname
                    anchor = PurePosixPath(path).parent if info.issym() else PurePosixPath()
                    resolved = _resolve_inside(anchor, target)
                    if resolved is None or not path:
                        raise UnsafeArchive(info.name)
                    if info.islnk():
                        linked = next((m for m in members if m.path == resolved and m.kind == "file"), None)
                        if linked is None:
                            raise UnsafeArchive(info.name)
                        members.append(Member(path, "file", linked.mode, linked.data))
                    else:
                        members.append(Member(path, "symlink", 0o777, target=target))
                else:
                    raise UnsafeArchive(info.name)  # devices, FIFOs, anything else
        except (tarfile.TarError, OSError, EOFError, ValueError) as error:
            if isinstance(error, UnsafeArchive):
                raise
            raise ValueError(f"The upload is not a valid gzip tar archive: {error}") from None
    return members


def _resolve_inside(anchor: PurePosixPath, target: str) -> str | None:
    """Where a link points, relative to the tree root, or None when it leaves the tree."""
    if target.startswith("/"):
        return None
    parts: list[str] = list(anchor.parts)
    for part in PurePosixPath(target).parts:
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                return None
            parts.pop()
        else:
            parts.append(part)
    return "/".join(parts)


def tree_hash(members: list[Member]) -> str:
    digest = hashlib.sha1()
    for member in sorted(members, key=lambda m: m.path):
        payload = hashlib.sha1(member.data).hexdigest() if member.kind == "file" else member.target
        digest.update(f"{member.kind}\0{member.path}\0{member.mode:o}\0{payload}\n".encode())
    return digest.hexdigest()


def pack(members: list[Member]) -> bytes:
    """A normalised gzip tar (sorted, fixed times and owners) of the tree."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.PAX_FORMAT) as archive:
        for member in sorted(members, key=lambda m: m.path):
            info = tarfile.TarInfo(member.path)
            info.mtime = 0
            info.mode = member.mode
            if member.kind == "dir":
                info.type = tarfile.DIRTYPE
                archive.addfile(info)
            elif member.kind == "symlink":
                info.type = tarfile.SYMTYPE
                info.linkname = member.target
                archive.addfile(info)
            else:
                info.size = len(member.data)
                archive.addfile(info, io.BytesIO(member.data))
    return buffer.getvalue()


def blob_key(project_id: int, commit: str) -> str:
    return f"polyaxon/repos/{project_id}/{commit}.tar.gz"


def latest_version(session: Session, project_id: int) -> PlxCodeVersion | None:
    return session.scalar(
        select(PlxCodeVersion)
        .where(PlxCodeVersion.project_id == project_id)
        .order_by(PlxCodeVersion.created_at.desc(), PlxCodeVersion.id.desc())
        .limit(1)
    )


def prepare_upload(fileobj: BinaryIO, blobs: BlobStore, project_id: int) -> tuple[str, int]:
    """Check and repack an upload, store the archive; returns (commit, size). Runs outside any transaction."""
    try:
        members = read_members(fileobj)
    except UnsafeArchive as error:
        raise bad_request(f"Unsafe path in archive: {error}") from None
    except ValueError as error:
        raise bad_request(str(error)) from None
    commit = tree_hash(members)
    data = pack(members)
    key = blob_key(project_id, commit)
    if not blobs.exists(key):
        blobs.put_bytes(key, data)
    return commit, len(data)


def record_version(session: Session, project: PlxProject, commit: str, size: int) -> PlxCodeVersion:
    """Make `commit` the project's current code; an upload identical to the latest creates no version."""
    latest = latest_version(session, project.id)
    if latest is not None and latest.commit == commit:
        return latest
    existing = session.scalar(
        select(PlxCodeVersion).where(PlxCodeVersion.project_id == project.id, PlxCodeVersion.commit == commit)
    )
    now = utcnow()
    if existing is not None:
        existing.created_at = now  # the older identical tree becomes current again
        return existing
    version = PlxCodeVersion(
        project_id=project.id, commit=commit, blob_key=blob_key(project.id, commit), size=size, created_at=now
    )
    session.add(version)
    project.updated_at = now
    session.flush()
    return version


def find_version(session: Session, project: PlxProject, commit: str | None) -> PlxCodeVersion:
    if commit:
        version = session.scalar(
            select(PlxCodeVersion).where(
                PlxCodeVersion.project_id == project.id, PlxCodeVersion.commit == commit
            )
        )
    else:
        version = latest_version(session, project.id)
    if version is None:
        raise not_found("Repo was not found")
    return version


def extract_to(blobs: BlobStore, key: str, target: Path) -> None:
    """Unpack a stored (already checked) archive into a working copy."""
    target.mkdir(parents=True, exist_ok=True)
    with blobs.open(key) as handle, tarfile.open(fileobj=handle, mode="r:gz") as archive:
        archive.extractall(target, filter="data")


def archive_directory(directory: Path) -> tuple[BinaryIO, int]:
    """A gzip tar of a directory's content (members relative to it) in a temporary file."""
    spool = tempfile.TemporaryFile()  # noqa: SIM115 -- the response closes it
    with tarfile.open(fileobj=spool, mode="w:gz") as archive:
        if directory.is_dir():
            for path in sorted(directory.rglob("*")):
                archive.add(path, arcname=str(path.relative_to(directory)), recursive=False)
    size = spool.tell()
    spool.seek(0)
    return spool, size


def iter_file(handle: BinaryIO, chunk_size: int = 1024 * 1024) -> Iterator[bytes]:
    with handle:
        while chunk := handle.read(chunk_size):
            yield chunk
