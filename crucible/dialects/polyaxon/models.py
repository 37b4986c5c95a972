"""Polyaxon's tables: projects and their code versions, experiment groups, experiments, statuses, jobs,
logs, code references, bookmarks and the single-use tokens handed to runs.

Metrics are not here: they are records in the one core metrics store (stream per experiment).
Ids are global integer primary keys, as the wire format shows them; `uuid` is 32 hex characters.
"""

from __future__ import annotations

import uuid as uuid_module
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from crucible.core.db import Base, JSONType, UTCDateTime, utcnow


def hex_uuid() -> str:
    return uuid_module.uuid4().hex


class PlxProject(Base):
    __tablename__ = "polyaxon_projects"
    __table_args__ = (UniqueConstraint("owner_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uuid: Mapped[str] = mapped_column(String(32), unique=True, default=hex_uuid)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(150))
    description: Mapped[str | None] = mapped_column(Text)
    readme: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[list[str] | None] = mapped_column(JSONType)
    is_public: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class PlxCodeVersion(Base):
    """One uploaded tree of a project's code; `commit` is a content hash of the tree (40 hex)."""

    __tablename__ = "polyaxon_code_versions"
    __table_args__ = (UniqueConstraint("project_id", "commit"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("polyaxon_projects.id", ondelete="CASCADE"))
    commit: Mapped[str] = mapped_column(String(40))
    blob_key: Mapped[str] = mapped_column(String(300))
    size: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PlxGroup(Base):
    __tablename__ = "polyaxon_groups"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uuid: Mapped[str] = mapped_column(String(32), unique=True, default=hex_uuid)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("polyaxon_projects.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str | None] = mapped_column(String(150))
    description: Mapped[str | None] = mapped_column(Text)
    readme: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[list[str] | None] = mapped_column(JSONType)
    content: Mapped[str | None] = mapped_column(Text)
    # The decoded, validated polyaxonfile (None for selection groups).
    config: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    is_managed: Mapped[bool] = mapped_column(Boolean, default=False)
    group_type: Mapped[str] = mapped_column(String(20), default="selection")
    search_algorithm: Mapped[str | None] = mapped_column(String(20))
    concurrency: Mapped[int] = mapped_column(Integer, default=1)
    backend: Mapped[str | None] = mapped_column(String(50))
    # What the search algorithm has done so far (suggestions made, hyperband rung, ...).
    search_state: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    stop_pending: Mapped[bool] = mapped_column(Boolean, default=False)
    code_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("polyaxon_code_versions.id", ondelete="SET NULL")
    )
    last_status: Mapped[str] = mapped_column(String(20), default="created")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class PlxExperiment(Base):
    __tablename__ = "polyaxon_experiments"
    __table_args__ = (Index("ix_polyaxon_experiments_project_updated", "project_id", "updated_at", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uuid: Mapped[str] = mapped_column(String(32), unique=True, default=hex_uuid)
    project_id: Mapped[int] = mapped_column(ForeignKey("polyaxon_projects.id", ondelete="CASCADE"))
    group_id: Mapped[int | None] = mapped_column(
        ForeignKey("polyaxon_groups.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str | None] = mapped_column(String(150))
    description: Mapped[str | None] = mapped_column(Text)
    readme: Mapped[str | None] = mapped_column(Text)
    content: Mapped[str | None] = mapped_column(Text)
    config: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    params: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    tags: Mapped[list[str] | None] = mapped_column(JSONType)
    framework: Mapped[str | None] = mapped_column(String(50))
    backend: Mapped[str | None] = mapped_column(String(50))
    is_managed: Mapped[bool] = mapped_column(Boolean, default=True)
    run_env: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    data_refs: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    resources: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    last_status: Mapped[str] = mapped_column(String(20), default="created")
    last_metric: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    # For each key of last_metric, the (created_at ISO text, record id) it came from: a later write
    # with an older created_at must not roll the value back.
    last_metric_sources: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    original_id: Mapped[int | None] = mapped_column(
        ForeignKey("polyaxon_experiments.id", ondelete="SET NULL"), index=True
    )
    cloning_strategy: Mapped[str | None] = mapped_column(String(10))
    code_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("polyaxon_code_versions.id", ondelete="SET NULL")
    )
    # Outputs directory relative to the outputs root; a resume chain shares its root's.
    outputs_path: Mapped[str] = mapped_column(String(500), default="")
    log_bytes: Mapped[int] = mapped_column(Integer, default=0)
    log_truncated_lines: Mapped[int] = mapped_column(Integer, default=0)
    run_token_id: Mapped[int | None] = mapped_column(ForeignKey("api_tokens.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class PlxExperimentStatus(Base):
    __tablename__ = "polyaxon_experiment_statuses"
    __table_args__ = (
        Index("ix_polyaxon_experiment_statuses_experiment", "experiment_id", "created_at", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uuid: Mapped[str] = mapped_column(String(32), unique=True, default=hex_uuid)
    experiment_id: Mapped[int] = mapped_column(ForeignKey("polyaxon_experiments.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(20))
    message: Mapped[str | None] = mapped_column(Text)
    traceback: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PlxGroupStatus(Base):
    __tablename__ = "polyaxon_group_statuses"
    __table_args__ = (Index("ix_polyaxon_group_statuses_group", "group_id", "created_at", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uuid: Mapped[str] = mapped_column(String(32), unique=True, default=hex_uuid)
    group_id: Mapped[int] = mapped_column(ForeignKey("polyaxon_groups.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(20))
    message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PlxJob(Base):
    """The `master` job of a managed experiment: the process (or Ray job) that ran its command."""

    __tablename__ = "polyaxon_jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uuid: Mapped[str] = mapped_column(String(32), unique=True, default=hex_uuid)
    experiment_id: Mapped[int] = mapped_column(
        ForeignKey("polyaxon_experiments.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(String(20), default="master")
    pod_id: Mapped[str | None] = mapped_column(String(100))
    node_scheduled: Mapped[str | None] = mapped_column(String(200))
    # What the executor needs to take the run over after a server restart (Running.handle).
    run_handle: Mapped[str | None] = mapped_column(String(300))
    resources: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    last_status: Mapped[str] = mapped_column(String(20), default="created")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class PlxJobStatus(Base):
    __tablename__ = "polyaxon_job_statuses"
    __table_args__ = (Index("ix_polyaxon_job_statuses_job", "job_id", "created_at", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uuid: Mapped[str] = mapped_column(String(32), unique=True, default=hex_uuid)
    job_id: Mapped[int] = mapped_column(ForeignKey("polyaxon_jobs.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(20))
    message: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PlxLogChunk(Base):
    """Lines appended to an experiment's log in one call, kept in arrival order."""

    __tablename__ = "polyaxon_log_chunks"
    __table_args__ = (Index("ix_polyaxon_log_chunks_experiment", "experiment_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    experiment_id: Mapped[int] = mapped_column(ForeignKey("polyaxon_experiments.id", ondelete="CASCADE"))
    text: Mapped[str] = mapped_column(Text)
    lines: Mapped[int] = mapped_column(Integer)
    size: Mapped[int] = mapped_column(Integer)


class PlxCodeReference(Base):
    __tablename__ = "polyaxon_code_references"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    experiment_id: Mapped[int] = mapped_column(
        ForeignKey("polyaxon_experiments.id", ondelete="CASCADE"), unique=True
    )
    commit: Mapped[str | None] = mapped_column(String(100))
    head: Mapped[str | None] = mapped_column(String(100))
    branch: Mapped[str | None] = mapped_column(String(200))
    git_url: Mapped[str | None] = mapped_column(String(500))
    is_dirty: Mapped[bool] = mapped_column(Boolean, default=False)


class PlxBookmark(Base):
    __tablename__ = "polyaxon_bookmarks"
    __table_args__ = (UniqueConstraint("user_id", "kind", "ref_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))  # project | group | experiment
    ref_id: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PlxEphemeralToken(Base):
    """A single-use secret a run exchanges for its run-scoped API token (stored as SHA-256)."""

    __tablename__ = "polyaxon_ephemeral_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    experiment_id: Mapped[int] = mapped_column(
        ForeignKey("polyaxon_experiments.id", ondelete="CASCADE"), index=True
    )
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The run-scoped API token issued in exchange (revoked with the run's own).
    exchanged_token_id: Mapped[int | None] = mapped_column(ForeignKey("api_tokens.id", ondelete="SET NULL"))
