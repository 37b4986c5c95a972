"""StreamingBandit's tables: experiments (soft-deleted), theta hashes, advices and log rows (spec §4.10).

Theta hashes and log rows are kept as JSON *text*: theta values are strings anyway, and log rows may hold
NaN, which JSON columns on PostgreSQL refuse.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from crucible.core.db import Base, JSONType, UTCDateTime, utcnow

THETA_KEY_TYPE = Text().with_variant(Text(collation="C"), "postgresql")
"""Theta keys compare byte by byte on every backend (SQLite's default), so the range `[P:, P;)` of
`theta_text.child_range` holds exactly the hashes below P."""

LOG_ID_TYPE = BigInteger().with_variant(Integer(), "sqlite")
"""SQLite only auto-increments an INTEGER primary key."""


class SbExperiment(Base):
    """One experiment; `properties` is the string map the wire shows (code, flags, key, ...)."""

    __tablename__ = "sb_experiments"

    id: Mapped[str] = mapped_column(String(10), primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(String(16), unique=True)
    properties: Mapped[dict[str, Any]] = mapped_column(JSONType)
    advice_on: Mapped[bool] = mapped_column(Boolean, default=False)
    hourly_theta_on: Mapped[bool] = mapped_column(Boolean, default=False)
    theta_version: Mapped[int] = mapped_column(Integer, default=0)
    """+1 on every theta commit (SQL theta store), so readers can tell a cached theta is still current."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SbTheta(Base):
    """One theta hash: `key` is the original's key text (`exp:<id>:<name>[:k[:v]]`), `fields` JSON text."""

    __tablename__ = "sb_theta"

    exp_id: Mapped[str] = mapped_column(ForeignKey("sb_experiments.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(THETA_KEY_TYPE, primary_key=True)
    fields: Mapped[str] = mapped_column(Text)


class SbAdvice(Base):
    """A pending advice: what getaction answered, waiting for its reward (or for expiry)."""

    __tablename__ = "sb_advices"

    advice_id: Mapped[str] = mapped_column(String(24), primary_key=True)
    exp_id: Mapped[str] = mapped_column(ForeignKey("sb_experiments.id", ondelete="CASCADE"), index=True)
    context: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    """Failed expiry runs; the advice is dropped after three."""


class SbLog(Base):
    """A row of one of the logs (`kind`: log, action, reward, simulation, hourly), as served (JSON text)."""

    __tablename__ = "sb_logs"
    __table_args__ = (Index("ix_sb_logs_exp_id_kind_id", "exp_id", "kind", "id"),)

    id: Mapped[int] = mapped_column(LOG_ID_TYPE, primary_key=True, autoincrement=True)
    exp_id: Mapped[str] = mapped_column(String(10))
    kind: Mapped[str] = mapped_column(String(16))
    data: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
