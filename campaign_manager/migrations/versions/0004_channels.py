"""channels: channel accounts (encrypted credentials) and provider events (bounces, complaints)

Revision ID: 0004_channels
Revises: 0001_accounts
Create Date: 2026-11-26 19:56:54.123722
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_channels"
down_revision: str | Sequence[str] | None = "0001_accounts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "channel_accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("adapter", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        # Fernet ciphertext of a JSON object (core.crypto.EncryptedJSON): never plaintext.
        sa.Column("credentials", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("last_error_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rate_per_second", sa.Double(), nullable=True),
        sa.Column("rate_per_hour", sa.Integer(), nullable=True),
        sa.Column("rate_per_day", sa.Integer(), nullable=True),
        sa.Column("webhook_token", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_channel_accounts")),
        sa.UniqueConstraint("display_name", name=op.f("uq_channel_accounts_display_name")),
    )
    op.create_table(
        "channel_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("provider_event_id", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("permanent", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["channel_accounts.id"],
            name=op.f("fk_channel_events_account_id_channel_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_channel_events")),
        sa.UniqueConstraint(
            "account_id",
            "provider_event_id",
            name=op.f("uq_channel_events_account_id_provider_event_id"),
        ),
    )
    with op.batch_alter_table("channel_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_channel_events_account_id"), ["account_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_channel_events_email"), ["email"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("channel_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_channel_events_email"))
        batch_op.drop_index(batch_op.f("ix_channel_events_account_id"))

    op.drop_table("channel_events")
    op.drop_table("channel_accounts")
