"""Morpheo's tables: the orchestrator's five collections and the storage's metadata.

Every orchestrator row has an integer `seq` primary key: the original listed documents in insertion
order, and `seq` is that order. The documents' own `uuid` is a unique string (any text up to 128
characters, not necessarily an RFC 4122 UUID). Times are integer Unix seconds, as on the wire.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Boolean, Float, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from crucible.core.db import Base, JSONType

UUID_LENGTH = 128


class MorpheoProblem(Base):
    __tablename__ = "morpheo_problems"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    uuid: Mapped[str] = mapped_column(String(UUID_LENGTH), unique=True)
    workflow: Mapped[str] = mapped_column(String(UUID_LENGTH))
    test_dataset: Mapped[list[str]] = mapped_column(JSONType)
    size_train_dataset: Mapped[int] = mapped_column(Integer)
    lower_is_better: Mapped[bool] = mapped_column(Boolean, default=False)
    timestamp_upload: Mapped[int] = mapped_column(BigInteger)


class MorpheoAlgo(Base):
    """Also the per-algo lock of §4.2/§4.3: generation and propagation lock this row first."""

    __tablename__ = "morpheo_algos"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    uuid: Mapped[str] = mapped_column(String(UUID_LENGTH), unique=True)
    problem: Mapped[str] = mapped_column(String(UUID_LENGTH), index=True)
    name: Mapped[str] = mapped_column(Text)
    timestamp_upload: Mapped[int] = mapped_column(BigInteger)


class MorpheoData(Base):
    __tablename__ = "morpheo_data"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    uuid: Mapped[str] = mapped_column(String(UUID_LENGTH), unique=True)
    problems: Mapped[list[str]] = mapped_column(JSONType)
    timestamp_upload: Mapped[int] = mapped_column(BigInteger)


class MorpheoDataProblem(Base):
    """One row per (problem, data): finds a problem's data without scanning JSON lists."""

    __tablename__ = "morpheo_data_problems"

    problem: Mapped[str] = mapped_column(String(UUID_LENGTH), primary_key=True)
    data_seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    data_uuid: Mapped[str] = mapped_column(String(UUID_LENGTH))


class MorpheoLearnuplet(Base):
    __tablename__ = "morpheo_learnuplets"
    __table_args__ = (
        UniqueConstraint("algo", "rank"),
        Index("ix_morpheo_learnuplets_status_seq", "status", "seq"),
        Index("ix_morpheo_learnuplets_problem_status", "problem", "status"),
    )

    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    uuid: Mapped[str] = mapped_column(String(UUID_LENGTH), unique=True)
    problem: Mapped[str] = mapped_column(String(UUID_LENGTH))
    workflow: Mapped[str] = mapped_column(String(UUID_LENGTH))
    algo: Mapped[str] = mapped_column(String(UUID_LENGTH))
    model_start: Mapped[str | None] = mapped_column(String(UUID_LENGTH))
    model_end: Mapped[str] = mapped_column(String(UUID_LENGTH), index=True)
    train_data: Mapped[list[str]] = mapped_column(JSONType)
    test_data: Mapped[list[str]] = mapped_column(JSONType)
    worker: Mapped[str | None] = mapped_column(String(128))
    perf: Mapped[float | None] = mapped_column(Float)
    train_perf: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    test_perf: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    status: Mapped[str] = mapped_column(String(16))
    rank: Mapped[int] = mapped_column(Integer)
    timestamp_creation: Mapped[int] = mapped_column(BigInteger)
    timestamp_done: Mapped[int | None] = mapped_column(BigInteger)
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Not on the wire: who holds the claim, and since when (lease expiry, 403 to others).
    claimant_id: Mapped[int | None] = mapped_column(Integer)
    claimed_at: Mapped[float | None] = mapped_column(Float)


class MorpheoPreduplet(Base):
    __tablename__ = "morpheo_preduplets"
    __table_args__ = (Index("ix_morpheo_preduplets_status_seq", "status", "seq"),)

    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    uuid: Mapped[str] = mapped_column(String(UUID_LENGTH), unique=True)
    problem: Mapped[str] = mapped_column(String(UUID_LENGTH), index=True)
    workflow: Mapped[str] = mapped_column(String(UUID_LENGTH))
    data: Mapped[list[str]] = mapped_column(JSONType)
    model: Mapped[str] = mapped_column(String(UUID_LENGTH))
    worker: Mapped[str | None] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16))
    timestamp_request: Mapped[int] = mapped_column(BigInteger)
    timestamp_done: Mapped[int | None] = mapped_column(BigInteger)
    prediction_storage_uuid: Mapped[str | None] = mapped_column(String(UUID_LENGTH))
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimant_id: Mapped[int | None] = mapped_column(Integer)
    claimed_at: Mapped[float | None] = mapped_column(Float)


class MorpheoStoredObject(Base):
    """Metadata of one storage blob (problem workflow, algo, data, model or prediction); the bytes
    live in the blob store under `morpheo/<kind>/<uuid>`."""

    __tablename__ = "morpheo_storage_objects"
    __table_args__ = (Index("ix_morpheo_storage_objects_kind_listing", "kind", "timestamp_upload", "uuid"),)

    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    algo: Mapped[str | None] = mapped_column(String(36))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    timestamp_upload: Mapped[int] = mapped_column(BigInteger)
    owner_id: Mapped[int | None] = mapped_column(Integer)
    # False while the bytes are being copied into the blob store: the row reserves the uuid, and
    # nobody sees the object until it is complete.
    stored: Mapped[bool] = mapped_column(Boolean, default=False)
