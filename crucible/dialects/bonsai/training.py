"""Version lifecycle checks and records for `train`, `resume`, `stop` and brain deletion (spec §3.3, §4.9).

`Starting → In Progress → Stopped | Completed | Error`; `resume` moves a stopped, completed or
failed version back to Starting. The database work is here; starting and stopping trainer processes
is the runtime's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crucible.core import metrics
from crucible.core.accounts import User
from crucible.core.blobs import BlobStore
from crucible.core.db import utcnow
from crucible.dialects.bonsai import brains
from crucible.dialects.bonsai.errors import bad_request, conflict
from crucible.dialects.bonsai.inkling import COMPILER_VERSION
from crucible.dialects.bonsai.models import Brain, Checkpoint, ProjectFile, Version
from crucible.dialects.bonsai.runtime import version_stream_ref
from crucible.settings import Settings


@dataclass
class Started:
    version_id: int
    number: int
    brain_id: int
    resumed: bool
    already_training: bool = False


def train_body(owner: User, brain: Brain, number: int, manage_simulator: bool) -> dict[str, Any]:
    base = brains.brain_url(owner.username, brain.name)
    return {
        "user": owner.username,
        "name": brain.name,
        "version": number,
        "simulator_connect_url": f"{base}/sims/ws",
        "simulator_predictions_url": f"{base}/{number}/predictions/ws",
        "manage_simulator": manage_simulator,
        "compiler_version": COMPILER_VERSION,
        "brain_url": f"{base}/{number}",
    }


def check_manage_simulator(data: Any, settings: Settings) -> bool:
    if not isinstance(data, dict):
        raise bad_request("Expected a JSON object")
    manage = data.get("manage_simulator", False)
    if manage not in (True, False, None):
        raise bad_request("manage_simulator must be a boolean")
    if manage:
        raise bad_request("Managed simulators are not enabled on this server")
    return False


def _check_capacity(session: Session, settings: Settings) -> None:
    if brains.count_training(session) >= settings.bonsai_max_training_brains:
        raise conflict("The server's limit of training brains is reached; try again later")


def create_version(session: Session, blobs: BlobStore, brain: Brain, settings: Settings) -> Started:
    """`train`: a new version from a snapshot of the current files, in state Starting."""
    latest = brains.latest_version(session, brain)
    if latest is not None and latest.state in brains.TRAINING_STATES:
        raise conflict(f"Brain '{brain.name}' is already training")
    rows = brains.file_rows(session, brain)
    ink = brains.read_file_rows(blobs, [row for row in rows if row.path.lower().endswith(".ink")])
    compiled = brains.compile_files(ink)
    if not compiled.success:
        raise bad_request(compiled.error_summary())
    _check_capacity(session, settings)
    now = utcnow()
    version = Version(
        brain_id=brain.id,
        number=(latest.number + 1) if latest else 1,
        state="Starting",
        files=[_snapshot(row) for row in rows],
        created_at=now,
        training_start=now,
    )
    session.add(version)
    session.flush()
    return Started(version.id, version.number, brain.id, resumed=False)


def _snapshot(row: ProjectFile) -> dict[str, Any]:
    return {"path": row.path, "sha1": row.sha1, "size": row.size, "blob_key": row.blob_key}


def prepare_resume(session: Session, brain: Brain, version: Version, settings: Settings) -> Started:
    """`resume`: the same version back to Starting (idempotent while it trains)."""
    if version.state in brains.TRAINING_STATES:
        return Started(version.id, version.number, brain.id, resumed=True, already_training=True)
    other = session.scalar(
        select(Version)
        .where(Version.brain_id == brain.id, Version.state.in_(brains.TRAINING_STATES))
        .limit(1)
    )
    if other is not None:
        raise conflict(f"Version {other.number} of brain '{brain.name}' is training")
    _check_capacity(session, settings)
    version.state = "Starting"
    version.error = None
    version.training_start = utcnow()
    version.training_end = None
    return Started(version.id, version.number, brain.id, resumed=True)


def version_to_stop(session: Session, brain: Brain) -> Version:
    latest = brains.latest_version(session, brain)
    if latest is None or latest.state not in brains.TRAINING_STATES:
        raise conflict(f"Brain '{brain.name}' is not training")
    return latest


def has_checkpoint(session: Session, version_id: int) -> bool:
    return (
        session.scalar(
            select(Checkpoint.id)
            .where(Checkpoint.version_id == version_id, Checkpoint.kind == "latest")
            .limit(1)
        )
        is not None
    )


def delete_brain(session: Session, brain: Brain) -> list[str]:
    """Delete the brain's rows and metric streams; returns the checkpoint paths to remove from disk."""
    version_ids = list(session.scalars(select(Version.id).where(Version.brain_id == brain.id)))
    paths = list(session.scalars(select(Checkpoint.path).where(Checkpoint.version_id.in_(version_ids))))
    for version_id in version_ids:
        metrics.delete_stream(session, dialect="bonsai", kind="version", ref=version_stream_ref(version_id))
    session.delete(brain)
    session.flush()
    return paths
