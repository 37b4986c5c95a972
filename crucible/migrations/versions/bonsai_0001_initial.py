"""Bonsai: brains, project files, versions, checkpoints, simulator log lines.

Revision ID: bonsai_0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import crucible.core.db

revision = "bonsai_0001"
down_revision = None
branch_labels = ("bonsai",)
depends_on = "core_0003"


def upgrade() -> None:
    op.create_table(
        "bonsai_brains",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at", crucible.core.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", crucible.core.db.UTCDateTime(), nullable=False),
        sa.Column("files_changed_at", crucible.core.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_bonsai_brains_owner_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bonsai_brains")),
        sa.UniqueConstraint("owner_id", "name", name=op.f("uq_bonsai_brains_owner_id_name")),
    )
    with op.batch_alter_table("bonsai_brains", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_bonsai_brains_owner_id"), ["owner_id"], unique=False)

    op.create_table(
        "bonsai_files",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("brain_id", sa.Integer(), nullable=False),
        sa.Column("path", sa.String(length=1024), nullable=False),
        sa.Column("sha1", sa.String(length=40), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("blob_key", sa.String(length=300), nullable=False),
        sa.ForeignKeyConstraint(
            ["brain_id"],
            ["bonsai_brains.id"],
            name=op.f("fk_bonsai_files_brain_id_bonsai_brains"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bonsai_files")),
        sa.UniqueConstraint("brain_id", "path", name=op.f("uq_bonsai_files_brain_id_path")),
    )
    with op.batch_alter_table("bonsai_files", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_bonsai_files_brain_id"), ["brain_id"], unique=False)

    op.create_table(
        "bonsai_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("brain_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("files", sa.JSON(none_as_null=True), nullable=False),
        sa.Column("created_at", crucible.core.db.UTCDateTime(), nullable=False),
        sa.Column("training_start", crucible.core.db.UTCDateTime(), nullable=True),
        sa.Column("training_end", crucible.core.db.UTCDateTime(), nullable=True),
        sa.Column("episode", sa.Integer(), nullable=False),
        sa.Column("iteration", sa.Integer(), nullable=False),
        sa.Column("objective_score", sa.Float(), nullable=False),
        sa.Column("test_pass_value", sa.Float(), nullable=True),
        sa.Column("best_test_pass_value", sa.Float(), nullable=True),
        sa.Column("episode_length", sa.Integer(), nullable=False),
        sa.Column("lesson", sa.String(length=200), nullable=False),
        sa.Column("checkpoint_iteration", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("trainer_address", sa.String(length=100), nullable=True),
        sa.Column("crash_times", sa.JSON(none_as_null=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["brain_id"],
            ["bonsai_brains.id"],
            name=op.f("fk_bonsai_versions_brain_id_bonsai_brains"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bonsai_versions")),
        sa.UniqueConstraint("brain_id", "number", name=op.f("uq_bonsai_versions_brain_id_number")),
    )
    with op.batch_alter_table("bonsai_versions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_bonsai_versions_brain_id"), ["brain_id"], unique=False)

    op.create_table(
        "bonsai_checkpoints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("iteration", sa.Integer(), nullable=False),
        sa.Column("episode", sa.Integer(), nullable=False),
        sa.Column("path", sa.String(length=500), nullable=False),
        sa.Column("created_at", crucible.core.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["bonsai_versions.id"],
            name=op.f("fk_bonsai_checkpoints_version_id_bonsai_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bonsai_checkpoints")),
    )
    with op.batch_alter_table("bonsai_checkpoints", schema=None) as batch_op:
        batch_op.create_index(
            "ix_bonsai_checkpoints_version_kind", ["version_id", "kind", "id"], unique=False
        )

    op.create_table(
        "bonsai_sim_logs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("sim_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", crucible.core.db.UTCDateTime(), nullable=False),
        sa.Column("line", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["bonsai_versions.id"],
            name=op.f("fk_bonsai_sim_logs_version_id_bonsai_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bonsai_sim_logs")),
    )
    with op.batch_alter_table("bonsai_sim_logs", schema=None) as batch_op:
        batch_op.create_index("ix_bonsai_sim_logs_version_id", ["version_id", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("bonsai_sim_logs", schema=None) as batch_op:
        batch_op.drop_index("ix_bonsai_sim_logs_version_id")

    op.drop_table("bonsai_sim_logs")
    with op.batch_alter_table("bonsai_checkpoints", schema=None) as batch_op:
        batch_op.drop_index("ix_bonsai_checkpoints_version_kind")

    op.drop_table("bonsai_checkpoints")
    with op.batch_alter_table("bonsai_versions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bonsai_versions_brain_id"))

    op.drop_table("bonsai_versions")
    with op.batch_alter_table("bonsai_files", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bonsai_files_brain_id"))

    op.drop_table("bonsai_files")
    with op.batch_alter_table("bonsai_brains", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bonsai_brains_owner_id"))

    op.drop_table("bonsai_brains")
