"""Bender's tables: experiments (with sharing), algos (parameters kept as an ordered JSON list), trials."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from crucible.core.db import Base, JSONType, UTCDateTime, new_uuid, utcnow


class BenderExperiment(Base):
    __tablename__ = "bender_experiments"
    __table_args__ = (UniqueConstraint("owner_id", "name"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[Any] = mapped_column(JSONType, nullable=True)
    metrics: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    dataset: Mapped[str | None] = mapped_column(String(100))
    dataset_parameters: Mapped[Any] = mapped_column(JSONType, nullable=True)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    modified: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class BenderShare(Base):
    """A user in an experiment's shared_with list."""

    __tablename__ = "bender_shares"

    experiment_id: Mapped[str] = mapped_column(
        ForeignKey("bender_experiments.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class BenderAlgo(Base):
    __tablename__ = "bender_algos"
    __table_args__ = (UniqueConstraint("experiment_id", "name"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    experiment_id: Mapped[str] = mapped_column(
        ForeignKey("bender_experiments.id", ondelete="CASCADE"), index=True
    )
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[Any] = mapped_column(JSONType, nullable=True)
    # [{"name", "category", "search_space"}, ...] in insertion order
    parameters: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    # +1 on every trial insert or delete, so suggest can tell exactly when its cached observations are stale
    trials_version: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    modified: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class BenderTrial(Base):
    __tablename__ = "bender_trials"
    __table_args__ = (
        Index("ix_bender_trials_algo_created", "algo_id", "created"),
        Index("ix_bender_trials_experiment_created", "experiment_id", "created"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    algo_id: Mapped[str] = mapped_column(ForeignKey("bender_algos.id", ondelete="CASCADE"))
    experiment_id: Mapped[str] = mapped_column(ForeignKey("bender_experiments.id", ondelete="CASCADE"))
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    parameters: Mapped[dict[str, Any]] = mapped_column(JSONType)
    results: Mapped[dict[str, Any]] = mapped_column(JSONType)
    comment: Mapped[Any] = mapped_column(JSONType, nullable=True)
    weight: Mapped[float] = mapped_column(Float, default=1.0)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    modified: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class BenderContactMessage(Base):
    """Messages sent to /api/users/contact/, kept for administrators instead of being mailed."""

    __tablename__ = "bender_contact_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    title: Mapped[str] = mapped_column(String(200))
    content: Mapped[str] = mapped_column(Text)
    email: Mapped[str] = mapped_column(String(254))
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
