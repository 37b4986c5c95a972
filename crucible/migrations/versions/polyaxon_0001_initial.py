"""Polyaxon: projects, code versions, groups, experiments, statuses, jobs, logs, code references,
bookmarks and ephemeral tokens (metrics live in the core metrics store).

Revision ID: polyaxon_0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import crucible.core.db

revision = "polyaxon_0001"
down_revision = None
branch_labels = ("polyaxon",)
depends_on = "core_0003"


def upgrade() -> None:
    op.create_table(
        "polyaxon_bookmarks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("ref_id", sa.Integer(), nullable=False),
        sa.Column("created_at", crucible.core.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_polyaxon_bookmarks_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_polyaxon_bookmarks")),
        sa.UniqueConstraint(
            "user_id", "kind", "ref_id", name=op.f("uq_polyaxon_bookmarks_user_id_kind_ref_id")
        ),
    )
    op.create_table(
        "polyaxon_projects",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=32), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=150), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("readme", sa.Text(), nullable=True),
        sa.Column("tags", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("is_public", sa.Boolean(), nullable=False),
        sa.Column("created_at", crucible.core.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", crucible.core.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_polyaxon_projects_owner_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_polyaxon_projects")),
        sa.UniqueConstraint("owner_id", "name", name=op.f("uq_polyaxon_projects_owner_id_name")),
        sa.UniqueConstraint("uuid", name=op.f("uq_polyaxon_projects_uuid")),
    )
    with op.batch_alter_table("polyaxon_projects", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_polyaxon_projects_owner_id"), ["owner_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_polyaxon_projects_updated_at"), ["updated_at"], unique=False)

    op.create_table(
        "polyaxon_code_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("commit", sa.String(length=40), nullable=False),
        sa.Column("blob_key", sa.String(length=300), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("created_at", crucible.core.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["polyaxon_projects.id"],
            name=op.f("fk_polyaxon_code_versions_project_id_polyaxon_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_polyaxon_code_versions")),
        sa.UniqueConstraint("project_id", "commit", name=op.f("uq_polyaxon_code_versions_project_id_commit")),
    )
    op.create_table(
        "polyaxon_groups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=32), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=150), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("readme", sa.Text(), nullable=True),
        sa.Column("tags", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("content", sa.Text(), nullable=True),
        sa.Column("config", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("is_managed", sa.Boolean(), nullable=False),
        sa.Column("group_type", sa.String(length=20), nullable=False),
        sa.Column("search_algorithm", sa.String(length=20), nullable=True),
        sa.Column("concurrency", sa.Integer(), nullable=False),
        sa.Column("backend", sa.String(length=50), nullable=True),
        sa.Column("search_state", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("stop_pending", sa.Boolean(), nullable=False),
        sa.Column("code_version_id", sa.Integer(), nullable=True),
        sa.Column("last_status", sa.String(length=20), nullable=False),
        sa.Column("created_at", crucible.core.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", crucible.core.db.UTCDateTime(), nullable=False),
        sa.Column("started_at", crucible.core.db.UTCDateTime(), nullable=True),
        sa.Column("finished_at", crucible.core.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["code_version_id"],
            ["polyaxon_code_versions.id"],
            name=op.f("fk_polyaxon_groups_code_version_id_polyaxon_code_versions"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["polyaxon_projects.id"],
            name=op.f("fk_polyaxon_groups_project_id_polyaxon_projects"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_polyaxon_groups_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_polyaxon_groups")),
        sa.UniqueConstraint("project_id", "name", name=op.f("uq_polyaxon_groups_project_id_name")),
        sa.UniqueConstraint("uuid", name=op.f("uq_polyaxon_groups_uuid")),
    )
    with op.batch_alter_table("polyaxon_groups", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_polyaxon_groups_project_id"), ["project_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_polyaxon_groups_updated_at"), ["updated_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_polyaxon_groups_user_id"), ["user_id"], unique=False)

    op.create_table(
        "polyaxon_experiments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=32), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=150), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("readme", sa.Text(), nullable=True),
        sa.Column("content", sa.Text(), nullable=True),
        sa.Column("config", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("params", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("tags", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("framework", sa.String(length=50), nullable=True),
        sa.Column("backend", sa.String(length=50), nullable=True),
        sa.Column("is_managed", sa.Boolean(), nullable=False),
        sa.Column("run_env", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("data_refs", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("resources", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("last_status", sa.String(length=20), nullable=False),
        sa.Column("last_metric", sa.JSON(none_as_null=True), nullable=False),
        sa.Column("last_metric_sources", sa.JSON(none_as_null=True), nullable=False),
        sa.Column("original_id", sa.Integer(), nullable=True),
        sa.Column("cloning_strategy", sa.String(length=10), nullable=True),
        sa.Column("code_version_id", sa.Integer(), nullable=True),
        sa.Column("outputs_path", sa.String(length=500), nullable=False),
        sa.Column("log_bytes", sa.Integer(), nullable=False),
        sa.Column("log_truncated_lines", sa.Integer(), nullable=False),
        sa.Column("run_token_id", sa.Integer(), nullable=True),
        sa.Column("created_at", crucible.core.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", crucible.core.db.UTCDateTime(), nullable=False),
        sa.Column("started_at", crucible.core.db.UTCDateTime(), nullable=True),
        sa.Column("finished_at", crucible.core.db.UTCDateTime(), nullable=True),
        sa.Column("last_heartbeat_at", crucible.core.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["code_version_id"],
            ["polyaxon_code_versions.id"],
            name=op.f("fk_polyaxon_experiments_code_version_id_polyaxon_code_versions"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["polyaxon_groups.id"],
            name=op.f("fk_polyaxon_experiments_group_id_polyaxon_groups"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["original_id"],
            ["polyaxon_experiments.id"],
            name=op.f("fk_polyaxon_experiments_original_id_polyaxon_experiments"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["polyaxon_projects.id"],
            name=op.f("fk_polyaxon_experiments_project_id_polyaxon_projects"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_token_id"],
            ["api_tokens.id"],
            name=op.f("fk_polyaxon_experiments_run_token_id_api_tokens"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_polyaxon_experiments_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_polyaxon_experiments")),
        sa.UniqueConstraint("uuid", name=op.f("uq_polyaxon_experiments_uuid")),
    )
    with op.batch_alter_table("polyaxon_experiments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_polyaxon_experiments_group_id"), ["group_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_polyaxon_experiments_original_id"), ["original_id"], unique=False
        )
        batch_op.create_index(
            "ix_polyaxon_experiments_project_updated", ["project_id", "updated_at", "id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_polyaxon_experiments_user_id"), ["user_id"], unique=False)

    op.create_table(
        "polyaxon_group_statuses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=32), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("created_at", crucible.core.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["polyaxon_groups.id"],
            name=op.f("fk_polyaxon_group_statuses_group_id_polyaxon_groups"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_polyaxon_group_statuses")),
        sa.UniqueConstraint("uuid", name=op.f("uq_polyaxon_group_statuses_uuid")),
    )
    with op.batch_alter_table("polyaxon_group_statuses", schema=None) as batch_op:
        batch_op.create_index(
            "ix_polyaxon_group_statuses_group", ["group_id", "created_at", "id"], unique=False
        )

    op.create_table(
        "polyaxon_code_references",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("experiment_id", sa.Integer(), nullable=False),
        sa.Column("commit", sa.String(length=100), nullable=True),
        sa.Column("head", sa.String(length=100), nullable=True),
        sa.Column("branch", sa.String(length=200), nullable=True),
        sa.Column("git_url", sa.String(length=500), nullable=True),
        sa.Column("is_dirty", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["polyaxon_experiments.id"],
            name=op.f("fk_polyaxon_code_references_experiment_id_polyaxon_experiments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_polyaxon_code_references")),
        sa.UniqueConstraint("experiment_id", name=op.f("uq_polyaxon_code_references_experiment_id")),
    )
    op.create_table(
        "polyaxon_ephemeral_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("experiment_id", sa.Integer(), nullable=False),
        sa.Column("expires_at", crucible.core.db.UTCDateTime(), nullable=False),
        sa.Column("used_at", crucible.core.db.UTCDateTime(), nullable=True),
        sa.Column("exchanged_token_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["exchanged_token_id"],
            ["api_tokens.id"],
            name=op.f("fk_polyaxon_ephemeral_tokens_exchanged_token_id_api_tokens"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["polyaxon_experiments.id"],
            name=op.f("fk_polyaxon_ephemeral_tokens_experiment_id_polyaxon_experiments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_polyaxon_ephemeral_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_polyaxon_ephemeral_tokens_token_hash")),
    )
    with op.batch_alter_table("polyaxon_ephemeral_tokens", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_polyaxon_ephemeral_tokens_experiment_id"), ["experiment_id"], unique=False
        )

    op.create_table(
        "polyaxon_experiment_statuses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=32), nullable=False),
        sa.Column("experiment_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("traceback", sa.Text(), nullable=True),
        sa.Column("created_at", crucible.core.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["polyaxon_experiments.id"],
            name=op.f("fk_polyaxon_experiment_statuses_experiment_id_polyaxon_experiments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_polyaxon_experiment_statuses")),
        sa.UniqueConstraint("uuid", name=op.f("uq_polyaxon_experiment_statuses_uuid")),
    )
    with op.batch_alter_table("polyaxon_experiment_statuses", schema=None) as batch_op:
        batch_op.create_index(
            "ix_polyaxon_experiment_statuses_experiment", ["experiment_id", "created_at", "id"], unique=False
        )

    op.create_table(
        "polyaxon_jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=32), nullable=False),
        sa.Column("experiment_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("pod_id", sa.String(length=100), nullable=True),
        sa.Column("node_scheduled", sa.String(length=200), nullable=True),
        sa.Column("run_handle", sa.String(length=300), nullable=True),
        sa.Column("resources", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("last_status", sa.String(length=20), nullable=False),
        sa.Column("created_at", crucible.core.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", crucible.core.db.UTCDateTime(), nullable=False),
        sa.Column("started_at", crucible.core.db.UTCDateTime(), nullable=True),
        sa.Column("finished_at", crucible.core.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["polyaxon_experiments.id"],
            name=op.f("fk_polyaxon_jobs_experiment_id_polyaxon_experiments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_polyaxon_jobs")),
        sa.UniqueConstraint("uuid", name=op.f("uq_polyaxon_jobs_uuid")),
    )
    with op.batch_alter_table("polyaxon_jobs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_polyaxon_jobs_experiment_id"), ["experiment_id"], unique=False)

    op.create_table(
        "polyaxon_log_chunks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("experiment_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("lines", sa.Integer(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["polyaxon_experiments.id"],
            name=op.f("fk_polyaxon_log_chunks_experiment_id_polyaxon_experiments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_polyaxon_log_chunks")),
    )
    with op.batch_alter_table("polyaxon_log_chunks", schema=None) as batch_op:
        batch_op.create_index("ix_polyaxon_log_chunks_experiment", ["experiment_id", "id"], unique=False)

    op.create_table(
        "polyaxon_job_statuses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=32), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("details", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("created_at", crucible.core.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["polyaxon_jobs.id"],
            name=op.f("fk_polyaxon_job_statuses_job_id_polyaxon_jobs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_polyaxon_job_statuses")),
        sa.UniqueConstraint("uuid", name=op.f("uq_polyaxon_job_statuses_uuid")),
    )
    with op.batch_alter_table("polyaxon_job_statuses", schema=None) as batch_op:
        batch_op.create_index("ix_polyaxon_job_statuses_job", ["job_id", "created_at", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("polyaxon_job_statuses", schema=None) as batch_op:
        batch_op.drop_index("ix_polyaxon_job_statuses_job")

    op.drop_table("polyaxon_job_statuses")
    with op.batch_alter_table("polyaxon_log_chunks", schema=None) as batch_op:
        batch_op.drop_index("ix_polyaxon_log_chunks_experiment")

    op.drop_table("polyaxon_log_chunks")
    with op.batch_alter_table("polyaxon_jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_polyaxon_jobs_experiment_id"))

    op.drop_table("polyaxon_jobs")
    with op.batch_alter_table("polyaxon_experiment_statuses", schema=None) as batch_op:
        batch_op.drop_index("ix_polyaxon_experiment_statuses_experiment")

    op.drop_table("polyaxon_experiment_statuses")
    with op.batch_alter_table("polyaxon_ephemeral_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_polyaxon_ephemeral_tokens_experiment_id"))

    op.drop_table("polyaxon_ephemeral_tokens")
    op.drop_table("polyaxon_code_references")
    with op.batch_alter_table("polyaxon_group_statuses", schema=None) as batch_op:
        batch_op.drop_index("ix_polyaxon_group_statuses_group")

    op.drop_table("polyaxon_group_statuses")
    with op.batch_alter_table("polyaxon_experiments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_polyaxon_experiments_user_id"))
        batch_op.drop_index("ix_polyaxon_experiments_project_updated")
        batch_op.drop_index(batch_op.f("ix_polyaxon_experiments_original_id"))
        batch_op.drop_index(batch_op.f("ix_polyaxon_experiments_group_id"))

    op.drop_table("polyaxon_experiments")
    with op.batch_alter_table("polyaxon_groups", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_polyaxon_groups_user_id"))
        batch_op.drop_index(batch_op.f("ix_polyaxon_groups_updated_at"))
        batch_op.drop_index(batch_op.f("ix_polyaxon_groups_project_id"))

    op.drop_table("polyaxon_groups")
    op.drop_table("polyaxon_code_versions")
    with op.batch_alter_table("polyaxon_projects", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_polyaxon_projects_updated_at"))
        batch_op.drop_index(batch_op.f("ix_polyaxon_projects_owner_id"))

    op.drop_table("polyaxon_projects")
    op.drop_table("polyaxon_bookmarks")
