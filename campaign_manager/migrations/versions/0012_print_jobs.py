"""print jobs: the files a vendor gets, their status and append-only history

Also merges the heads 0003_creatives, 0004_channels and 0005_campaigns.

Revision ID: 0012_print_jobs
Revises: 0003_creatives, 0004_channels, 0005_campaigns
Create Date: 2026-11-26 20:27:19.574373
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_print_jobs"
down_revision: str | Sequence[str] | None = ("0003_creatives", "0004_channels", "0005_campaigns")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "print_jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("step_id", sa.Integer(), nullable=True),
        sa.Column("channel_account_id", sa.Integer(), nullable=True),
        sa.Column("vendor_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("creative_version_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("profile", sa.String(length=64), nullable=False),
        sa.Column("paper_stock", sa.String(length=200), nullable=False),
        sa.Column("finishing", sa.String(length=300), nullable=False),
        sa.Column("ship_to", sa.JSON(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("manifest", sa.JSON(), nullable=False),
        sa.Column("tracking_number", sa.String(length=200), nullable=False),
        sa.Column("rejection_reason", sa.Text(), nullable=False),
        sa.Column("notified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["vendor_id"], ["vendors.id"], name=op.f("fk_print_jobs_vendor_id_vendors")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_print_jobs")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_print_jobs_idempotency_key")),
    )
    with op.batch_alter_table("print_jobs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_print_jobs_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_print_jobs_step_id"), ["step_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_print_jobs_vendor_id"), ["vendor_id"], unique=False)

    op.create_table(
        "print_job_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(length=320), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=True),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["print_jobs.id"],
            name=op.f("fk_print_job_events_job_id_print_jobs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_print_job_events_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_print_job_events")),
    )
    with op.batch_alter_table("print_job_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_print_job_events_job_id"), ["job_id"], unique=False)

    op.create_table(
        "print_job_files",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("pages", sa.Integer(), nullable=True),
        sa.Column("variant_keys", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["print_jobs.id"],
            name=op.f("fk_print_job_files_job_id_print_jobs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_print_job_files")),
        sa.UniqueConstraint("job_id", "position", name=op.f("uq_print_job_files_job_id_position")),
    )


def downgrade() -> None:
    op.drop_table("print_job_files")
    with op.batch_alter_table("print_job_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_print_job_events_job_id"))

    op.drop_table("print_job_events")
    with op.batch_alter_table("print_jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_print_jobs_vendor_id"))
        batch_op.drop_index(batch_op.f("ix_print_jobs_step_id"))
        batch_op.drop_index(batch_op.f("ix_print_jobs_status"))

    op.drop_table("print_jobs")
