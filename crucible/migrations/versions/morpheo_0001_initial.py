"""Morpheo: orchestrator collections (problem, algo, data, learnuplet, preduplet) and storage metadata.

Revision ID: morpheo_0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "morpheo_0001"
down_revision = None
branch_labels = ("morpheo",)
depends_on = "core_0003"


def upgrade() -> None:
    op.create_table(
        "morpheo_algos",
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=128), nullable=False),
        sa.Column("problem", sa.String(length=128), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("timestamp_upload", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_morpheo_algos")),
        sa.UniqueConstraint("uuid", name=op.f("uq_morpheo_algos_uuid")),
    )
    op.create_index(op.f("ix_morpheo_algos_problem"), "morpheo_algos", ["problem"], unique=False)

    op.create_table(
        "morpheo_data",
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=128), nullable=False),
        sa.Column("problems", sa.JSON(none_as_null=True), nullable=False),
        sa.Column("timestamp_upload", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_morpheo_data")),
        sa.UniqueConstraint("uuid", name=op.f("uq_morpheo_data_uuid")),
    )
    op.create_table(
        "morpheo_data_problems",
        sa.Column("problem", sa.String(length=128), nullable=False),
        sa.Column("data_seq", sa.Integer(), nullable=False),
        sa.Column("data_uuid", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("problem", "data_seq", name=op.f("pk_morpheo_data_problems")),
    )
    op.create_table(
        "morpheo_learnuplets",
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=128), nullable=False),
        sa.Column("problem", sa.String(length=128), nullable=False),
        sa.Column("workflow", sa.String(length=128), nullable=False),
        sa.Column("algo", sa.String(length=128), nullable=False),
        sa.Column("model_start", sa.String(length=128), nullable=True),
        sa.Column("model_end", sa.String(length=128), nullable=False),
        sa.Column("train_data", sa.JSON(none_as_null=True), nullable=False),
        sa.Column("test_data", sa.JSON(none_as_null=True), nullable=False),
        sa.Column("worker", sa.String(length=128), nullable=True),
        sa.Column("perf", sa.Float(), nullable=True),
        sa.Column("train_perf", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("test_perf", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("timestamp_creation", sa.BigInteger(), nullable=False),
        sa.Column("timestamp_done", sa.BigInteger(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimant_id", sa.Integer(), nullable=True),
        sa.Column("claimed_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_morpheo_learnuplets")),
        sa.UniqueConstraint("algo", "rank", name=op.f("uq_morpheo_learnuplets_algo_rank")),
        sa.UniqueConstraint("uuid", name=op.f("uq_morpheo_learnuplets_uuid")),
    )
    op.create_index(
        op.f("ix_morpheo_learnuplets_model_end"), "morpheo_learnuplets", ["model_end"], unique=False
    )
    op.create_index(
        "ix_morpheo_learnuplets_problem_status", "morpheo_learnuplets", ["problem", "status"], unique=False
    )
    op.create_index(
        "ix_morpheo_learnuplets_status_seq", "morpheo_learnuplets", ["status", "seq"], unique=False
    )

    op.create_table(
        "morpheo_preduplets",
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=128), nullable=False),
        sa.Column("problem", sa.String(length=128), nullable=False),
        sa.Column("workflow", sa.String(length=128), nullable=False),
        sa.Column("data", sa.JSON(none_as_null=True), nullable=False),
        sa.Column("model", sa.String(length=128), nullable=False),
        sa.Column("worker", sa.String(length=128), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("timestamp_request", sa.BigInteger(), nullable=False),
        sa.Column("timestamp_done", sa.BigInteger(), nullable=True),
        sa.Column("prediction_storage_uuid", sa.String(length=128), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimant_id", sa.Integer(), nullable=True),
        sa.Column("claimed_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_morpheo_preduplets")),
        sa.UniqueConstraint("uuid", name=op.f("uq_morpheo_preduplets_uuid")),
    )
    op.create_index(op.f("ix_morpheo_preduplets_problem"), "morpheo_preduplets", ["problem"], unique=False)
    op.create_index("ix_morpheo_preduplets_status_seq", "morpheo_preduplets", ["status", "seq"], unique=False)

    op.create_table(
        "morpheo_problems",
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=128), nullable=False),
        sa.Column("workflow", sa.String(length=128), nullable=False),
        sa.Column("test_dataset", sa.JSON(none_as_null=True), nullable=False),
        sa.Column("size_train_dataset", sa.Integer(), nullable=False),
        sa.Column("lower_is_better", sa.Boolean(), nullable=False),
        sa.Column("timestamp_upload", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_morpheo_problems")),
        sa.UniqueConstraint("uuid", name=op.f("uq_morpheo_problems_uuid")),
    )
    op.create_table(
        "morpheo_storage_objects",
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("algo", sa.String(length=36), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("timestamp_upload", sa.BigInteger(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("stored", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "uuid", name=op.f("pk_morpheo_storage_objects")),
    )
    op.create_index(
        "ix_morpheo_storage_objects_kind_listing",
        "morpheo_storage_objects",
        ["kind", "timestamp_upload", "uuid"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_table("morpheo_storage_objects")
    op.drop_table("morpheo_problems")
    op.drop_table("morpheo_preduplets")
    op.drop_table("morpheo_learnuplets")
    op.drop_table("morpheo_data_problems")
    op.drop_table("morpheo_data")
    op.drop_table("morpheo_algos")
