"""Brains and their files: create, list, push, read, delete; finding versions (spec §3.1, §3.2, §4.9).

Functions take an open session and raise BonsaiError with the wire's status and message. They never
run on the event loop (routes call them from worker threads).
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from importlib import resources
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crucible.core.accounts import User
from crucible.core.blobs import BlobNotFound, BlobStore
from crucible.core.db import utcnow
from crucible.dialects.bonsai.errors import BonsaiError, bad_request, conflict, not_found
from crucible.dialects.bonsai.inkling import CompileResult, compile_project
from crucible.dialects.bonsai.models import Brain, ProjectFile, Version
from crucible.dialects.bonsai.projects import MAX_PROJECT_BYTES, blob_key, check_sizes, sha1_hex

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
RESERVED_NAMES = {"brains", "validate", "ws"}
TRAINING_STATES = ("Starting", "In Progress")

TEMPLATES: dict[str, tuple[str, tuple[str, ...]]] = {
    "demos/find-the-center": (
        "find_the_center",
        ("bonsai_brain.bproj", "find_the_center.ink", "find_the_center_sim.py", "requirements.txt"),
    ),
    "demos/cartpole": (
        "cartpole",
        ("bonsai_brain.bproj", "cartpole.ink", "cartpole_sim.py", "requirements.txt"),
    ),
}


def check_name(name: object, what: str = "brain") -> str:
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise bad_request(f"Invalid {what} name '{str(name)[:100]}'")
    if what == "brain" and name in RESERVED_NAMES:
        raise bad_request(f"The brain name '{name}' is reserved")
    return name


def brain_url(user: str, brain: str) -> str:
    return f"/v1/{user}/{brain}"


def find_brain(session: Session, owner: User, name: str) -> Brain | None:
    return session.scalar(select(Brain).where(Brain.owner_id == owner.id, Brain.name == name))


def get_brain(session: Session, owner: User, name: str, *, for_update: bool = False) -> Brain:
    query = select(Brain).where(Brain.owner_id == owner.id, Brain.name == name)
    if for_update:
        query = query.with_for_update()
    brain = session.scalar(query)
    if brain is None:
        raise not_found(f"Brain '{name}' not found")
    return brain


def list_brains(session: Session, owner: User) -> list[Brain]:
    return list(session.scalars(select(Brain).where(Brain.owner_id == owner.id).order_by(Brain.name)))


# --- files ---------------------------------------------------------------------------------------------


def file_rows(session: Session, brain: Brain) -> list[ProjectFile]:
    return list(
        session.scalars(
            select(ProjectFile).where(ProjectFile.brain_id == brain.id).order_by(ProjectFile.path)
        )
    )


def read_file_rows(blobs: BlobStore, rows: list[ProjectFile] | list[dict[str, Any]]) -> dict[str, bytes]:
    files = {}
    for row in rows:
        path, key = (row["path"], row["blob_key"]) if isinstance(row, dict) else (row.path, row.blob_key)
        try:
            with blobs.open(key) as handle:
                files[path] = handle.read()
        except BlobNotFound:
            files[path] = b""
    return files


def current_files(session: Session, blobs: BlobStore, brain: Brain) -> dict[str, bytes]:
    return read_file_rows(blobs, file_rows(session, brain))


def store_files(
    session: Session, blobs: BlobStore, brain: Brain, files: dict[str, bytes], *, replace: bool
) -> list[str]:
    """Store `files` (replacing the whole set when `replace`); returns the paths whose bytes changed."""
    check_sizes(files)
    existing = {row.path: row for row in file_rows(session, brain)}
    if not replace:
        kept = sum(row.size for path, row in existing.items() if path not in files)
        if kept + sum(len(data) for data in files.values()) > MAX_PROJECT_BYTES:
            raise BonsaiError(413, "Project files total more than 16 MiB")
    changed = []
    for path, data in files.items():
        digest = sha1_hex(data)
        key = blob_key(brain.id, data)
        if not blobs.exists(key):
            blobs.put_bytes(key, data)
        row = existing.pop(path, None)
        if row is None:
            session.add(ProjectFile(brain_id=brain.id, path=path, sha1=digest, size=len(data), blob_key=key))
            changed.append(path)
        elif row.sha1 != digest:
            row.sha1, row.size, row.blob_key = digest, len(data), key
            changed.append(path)
    if replace:
        for row in existing.values():
            session.delete(row)
            changed.append(row.path)
    brain.updated_at = brain.files_changed_at = utcnow()
    session.flush()
    return sorted(changed)


def template_files(project_type: str) -> dict[str, bytes]:
    if project_type not in TEMPLATES:
        raise bad_request(f"Unknown project_type '{project_type[:100]}'")
    folder, names = TEMPLATES[project_type]
    root = resources.files("crucible.dialects.bonsai.templates").joinpath(folder)
    return {name: root.joinpath(name).read_bytes() for name in names}


def refuse_while_training(session: Session, brain: Brain) -> None:
    latest = latest_version(session, brain)
    if latest is not None and latest.state in TRAINING_STATES:
        raise conflict("Can't push while training")


# --- compiling ------------------------------------------------------------------------------------------

_compiled: OrderedDict[tuple[tuple[str, str], ...], CompileResult] = OrderedDict()
_compiled_lock = threading.Lock()


def compile_files(files: dict[str, bytes]) -> CompileResult:
    """Compile a project's `.ink` (memoised by content: status and sims ask often)."""
    key = tuple(
        sorted((path, sha1_hex(data)) for path, data in files.items() if path.lower().endswith(".ink"))
    )
    with _compiled_lock:
        cached = _compiled.get(key)
        if cached is not None:
            _compiled.move_to_end(key)
            return cached
    result = compile_project({path: data for path, data in files.items() if path.lower().endswith(".ink")})
    with _compiled_lock:
        _compiled[key] = result
        while len(_compiled) > 256:
            _compiled.popitem(last=False)
    return result


def ink_files(session: Session, blobs: BlobStore, brain: Brain) -> dict[str, bytes]:
    rows = [row for row in file_rows(session, brain) if row.path.lower().endswith(".ink")]
    return read_file_rows(blobs, rows)


# --- versions -------------------------------------------------------------------------------------------


def latest_version(session: Session, brain: Brain) -> Version | None:
    return session.scalar(
        select(Version).where(Version.brain_id == brain.id).order_by(Version.number.desc()).limit(1)
    )


def versions(session: Session, brain: Brain) -> list[Version]:
    return list(
        session.scalars(select(Version).where(Version.brain_id == brain.id).order_by(Version.number.desc()))
    )


def get_version(session: Session, brain: Brain, ref: str) -> Version:
    """`ref` is a positive integer or `latest`."""
    if ref == "latest":
        version = latest_version(session, brain)
        if version is None:
            raise not_found("Version latest not found")
        return version
    if not ref.isdigit() or len(ref) > 9 or int(ref) < 1:
        raise not_found(f"Version {ref[:20]} not found")
    version = session.scalar(select(Version).where(Version.brain_id == brain.id, Version.number == int(ref)))
    if version is None:
        raise not_found(f"Version {ref} not found")
    return version


def brain_state(brain: Brain, latest: Version | None) -> str:
    if latest is None:
        return "Not Started"
    if latest.state == "Error" and brain.files_changed_at and brain.files_changed_at > latest.created_at:
        return "Not Started"
    return latest.state


def count_training(session: Session) -> int:
    return (
        session.scalar(select(func.count()).select_from(Version).where(Version.state.in_(TRAINING_STATES)))
        or 0
    )


def project_body(
    brain: Brain, owner: User, files: list[str], compiled: CompileResult | None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": brain.name,
        "description": brain.description,
        "url": brain_url(owner.username, brain.name),
        "files": sorted(files),
    }
    if compiled is not None:
        body["ink_compile"] = compiled.to_json()
    return body
