"""StreamingBandit: experiments, theta hashes, advices, log rows.

Revision ID: streamingbandit_0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import crucible.core.db

revision = "streamingbandit_0001"
down_revision = None
branch_labels = ("streamingbandit",)
depends_on = "core_0003"


def upgrade() -> None:
    op.create_table(
        "sb_experiments",
        sa.Column("id", sa.String(length=10), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=16), nullable=False),
        sa.Column("properties", sa.JSON(none_as_null=True), nullable=False),
        sa.Column("advice_on", sa.Boolean(), nullable=False),
        sa.Column("hourly_theta_on", sa.Boolean(), nullable=False),
        sa.Column("theta_version", sa.Integer(), nullable=False),
        sa.Column("created_at", crucible.core.db.UTCDateTime(), nullable=False),
        sa.Column("deleted_at", crucible.core.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_sb_experiments_owner_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sb_experiments")),
        sa.UniqueConstraint("key", name=op.f("uq_sb_experiments_key")),
    )
    op.create_index(op.f("ix_sb_experiments_owner_id"), "sb_experiments", ["owner_id"], unique=False)
    op.create_table(
        "sb_theta",
        sa.Column("exp_id", sa.String(length=10), nullable=False),
        sa.Column("key", sa.Text().with_variant(sa.Text(collation="C"), "postgresql"), nullable=False),
        sa.Column("fields", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["exp_id"],
            ["sb_experiments.id"],
            name=op.f("fk_sb_theta_exp_id_sb_experiments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("exp_id", "key", name=op.f("pk_sb_theta")),
    )
    op.create_table(
        "sb_advices",
        sa.Column("advice_id", sa.String(length=24), nullable=False),
        sa.Column("exp_id", sa.String(length=10), nullable=False),
        sa.Column("context", sa.Text(), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("created_at", crucible.core.db.UTCDateTime(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["exp_id"],
            ["sb_experiments.id"],
            name=op.f("fk_sb_advices_exp_id_sb_experiments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("advice_id", name=op.f("pk_sb_advices")),
    )
    op.create_index(op.f("ix_sb_advices_created_at"), "sb_advices", ["created_at"], unique=False)
    op.create_index(op.f("ix_sb_advices_exp_id"), "sb_advices", ["exp_id"], unique=False)
    op.create_table(
        "sb_logs",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("exp_id", sa.String(length=10), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("created_at", crucible.core.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sb_logs")),
    )
    op.create_index("ix_sb_logs_exp_id_kind_id", "sb_logs", ["exp_id", "kind", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_sb_logs_exp_id_kind_id", table_name="sb_logs")
    op.drop_table("sb_logs")
    op.drop_index(op.f("ix_sb_advices_exp_id"), table_name="sb_advices")
    op.drop_index(op.f("ix_sb_advices_created_at"), table_name="sb_advices")
    op.drop_table("sb_advices")
    op.drop_table("sb_theta")
    op.drop_index(op.f("ix_sb_experiments_owner_id"), table_name="sb_experiments")
    op.drop_table("sb_experiments")
