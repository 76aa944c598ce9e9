"""campaign wizard plan: the wizard's choices kept on a draft campaign

Revision ID: 0011_campaigns_ui
Revises: 0007_link_print_jobs
Create Date: 2026-11-26 20:20:41.399613
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_campaigns_ui"
down_revision: str | Sequence[str] | None = "0007_link_print_jobs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Existing campaigns get an empty plan; the server default only fills those rows.
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("wizard", sa.JSON(), nullable=False, server_default=sa.text("'{}'"))
        )


def downgrade() -> None:
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_column("wizard")
