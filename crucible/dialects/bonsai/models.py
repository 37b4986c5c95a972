"""Bonsai's tables: brains, their current project files, versions (one per `train`), checkpoints and
simulator log lines. Metric points (episode_value, test_pass_value, iterations) live in the shared
metrics store, one stream per version."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from crucible.core.db import Base, JSONType, UTCDateTime, utcnow


class Brain(Base):
    __tablename__ = "bonsai_brains"
    __table_args__ = (UniqueConstraint("owner_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    files_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ProjectFile(Base):
    """One current file of a brain; the bytes are a blob (`blob_key`)."""

    __tablename__ = "bonsai_files"
    __table_args__ = (UniqueConstraint("brain_id", "path"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    brain_id: Mapped[int] = mapped_column(ForeignKey("bonsai_brains.id", ondelete="CASCADE"), index=True)
    path: Mapped[str] = mapped_column(String(1024))
    sha1: Mapped[str] = mapped_column(String(40))
    size: Mapped[int] = mapped_column(Integer)
    blob_key: Mapped[str] = mapped_column(String(300))


class Version(Base):
    """A training run of a brain: a snapshot of its files, its counters and its trainer's address."""

    __tablename__ = "bonsai_versions"
    __table_args__ = (UniqueConstraint("brain_id", "number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    brain_id: Mapped[int] = mapped_column(ForeignKey("bonsai_brains.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(20), default="Starting")
    files: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    training_start: Mapped[datetime | None] = mapped_column(UTCDateTime)
    training_end: Mapped[datetime | None] = mapped_column(UTCDateTime)
    episode: Mapped[int] = mapped_column(Integer, default=0)
    iteration: Mapped[int] = mapped_column(Integer, default=0)
    objective_score: Mapped[float] = mapped_column(Float, default=0.0)
    test_pass_value: Mapped[float | None] = mapped_column(Float)
    best_test_pass_value: Mapped[float | None] = mapped_column(Float)
    episode_length: Mapped[int] = mapped_column(Integer, default=0)
    lesson: Mapped[str] = mapped_column(String(200), default="")
    checkpoint_iteration: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    trainer_address: Mapped[str | None] = mapped_column(String(100))
    crash_times: Mapped[list[float]] = mapped_column(JSONType, default=list)


class Checkpoint(Base):
    """A saved trainer state (`kind` "latest") or the best test snapshot (`kind` "best")."""

    __tablename__ = "bonsai_checkpoints"
    __table_args__ = (Index("ix_bonsai_checkpoints_version_kind", "version_id", "kind", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("bonsai_versions.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(10))
    iteration: Mapped[int] = mapped_column(Integer)
    episode: Mapped[int] = mapped_column(Integer)
    path: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SimLogLine(Base):
    """One server-written line about a simulator connection (`time sim_id message`)."""

    __tablename__ = "bonsai_sim_logs"
    __table_args__ = (Index("ix_bonsai_sim_logs_version_id", "version_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("bonsai_versions.id", ondelete="CASCADE"))
    sim_id: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    line: Mapped[str] = mapped_column(Text)
