"""Session generation: signing out ends every copy of a user's session cookie

Revision ID: 0017_session_generation
Revises: 0016_claim_order_indexes
Create Date: 2026-11-27 03:00:00

Flask's session cookie is signed, not stored on the server, so a copy taken before
sign-out kept working after it. Each cookie now names the user's session generation,
which signing out and changing the password raise. Sessions issued before this
migration name none and end at once: everyone signs in again, once.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017_session_generation"
down_revision: str | Sequence[str] | None = "0016_claim_order_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(
            sa.Column("session_generation", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("session_generation")
