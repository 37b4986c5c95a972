"""Core: the metrics store (streams and records).

Revision ID: core_0003
Revises: core_0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import crucible.core.db

revision = "core_0003"
down_revision = "core_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "metric_streams",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("dialect", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("ref", sa.String(length=64), nullable=False),
        sa.Column("label", sa.String(length=300), nullable=False),
        sa.Column("created_at", crucible.core.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_metric_streams_owner_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_metric_streams")),
        sa.UniqueConstraint("dialect", "kind", "ref", name=op.f("uq_metric_streams_dialect_kind_ref")),
    )
    op.create_index(op.f("ix_metric_streams_owner_id"), "metric_streams", ["owner_id"], unique=False)
    op.create_table(
        "metric_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=32), nullable=False),
        sa.Column("stream_id", sa.Integer(), nullable=False),
        sa.Column("created_at", crucible.core.db.UTCDateTime(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=True),
        sa.Column("values", sa.JSON(none_as_null=True), nullable=False),
        sa.Column("tags", sa.JSON(none_as_null=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["stream_id"],
            ["metric_streams.id"],
            name=op.f("fk_metric_records_stream_id_metric_streams"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_metric_records")),
        sa.UniqueConstraint("uuid", name=op.f("uq_metric_records_uuid")),
    )
    op.create_index(
        "ix_metric_records_stream_created", "metric_records", ["stream_id", "created_at", "id"], unique=False
    )


def downgrade() -> None:
    op.drop_table("metric_records")
    op.drop_table("metric_streams")
