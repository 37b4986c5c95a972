"""Bender: experiments, shares, algos, trials, contact messages.

Revision ID: bender_0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import crucible.core.db

revision = "bender_0001"
down_revision = None
branch_labels = ("bender",)
depends_on = "core_0001"


def upgrade() -> None:
    op.create_table(
        "bender_contact_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("created", crucible.core.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_bender_contact_messages_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bender_contact_messages")),
    )
    op.create_table(
        "bender_experiments",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("metrics", sa.JSON(none_as_null=True), nullable=False),
        sa.Column("dataset", sa.String(length=100), nullable=True),
        sa.Column("dataset_parameters", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("created", crucible.core.db.UTCDateTime(), nullable=False),
        sa.Column("modified", crucible.core.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_bender_experiments_owner_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bender_experiments")),
        sa.UniqueConstraint("owner_id", "name", name=op.f("uq_bender_experiments_owner_id_name")),
    )
    op.create_index(op.f("ix_bender_experiments_modified"), "bender_experiments", ["modified"], unique=False)
    op.create_index(op.f("ix_bender_experiments_owner_id"), "bender_experiments", ["owner_id"], unique=False)
    op.create_table(
        "bender_algos",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("experiment_id", sa.String(length=36), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("parameters", sa.JSON(none_as_null=True), nullable=False),
        sa.Column("trials_version", sa.Integer(), nullable=False),
        sa.Column("created", crucible.core.db.UTCDateTime(), nullable=False),
        sa.Column("modified", crucible.core.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["bender_experiments.id"],
            name=op.f("fk_bender_algos_experiment_id_bender_experiments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_bender_algos_owner_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bender_algos")),
        sa.UniqueConstraint("experiment_id", "name", name=op.f("uq_bender_algos_experiment_id_name")),
    )
    op.create_index(op.f("ix_bender_algos_created"), "bender_algos", ["created"], unique=False)
    op.create_index(op.f("ix_bender_algos_experiment_id"), "bender_algos", ["experiment_id"], unique=False)
    op.create_index(op.f("ix_bender_algos_owner_id"), "bender_algos", ["owner_id"], unique=False)
    op.create_table(
        "bender_shares",
        sa.Column("experiment_id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["bender_experiments.id"],
            name=op.f("fk_bender_shares_experiment_id_bender_experiments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_bender_shares_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("experiment_id", "user_id", name=op.f("pk_bender_shares")),
    )
    op.create_index(op.f("ix_bender_shares_user_id"), "bender_shares", ["user_id"], unique=False)
    op.create_table(
        "bender_trials",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("algo_id", sa.String(length=36), nullable=False),
        sa.Column("experiment_id", sa.String(length=36), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("parameters", sa.JSON(none_as_null=True), nullable=False),
        sa.Column("results", sa.JSON(none_as_null=True), nullable=False),
        sa.Column("comment", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("weight", sa.Float(), nullable=False),
        sa.Column("created", crucible.core.db.UTCDateTime(), nullable=False),
        sa.Column("modified", crucible.core.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["algo_id"],
            ["bender_algos.id"],
            name=op.f("fk_bender_trials_algo_id_bender_algos"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["bender_experiments.id"],
            name=op.f("fk_bender_trials_experiment_id_bender_experiments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_bender_trials_owner_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bender_trials")),
    )
    op.create_index("ix_bender_trials_algo_created", "bender_trials", ["algo_id", "created"], unique=False)
    op.create_index(
        "ix_bender_trials_experiment_created", "bender_trials", ["experiment_id", "created"], unique=False
    )
    op.create_index(op.f("ix_bender_trials_owner_id"), "bender_trials", ["owner_id"], unique=False)


def downgrade() -> None:
    op.drop_table("bender_trials")
    op.drop_table("bender_shares")
    op.drop_table("bender_algos")
    op.drop_table("bender_experiments")
    op.drop_table("bender_contact_messages")
