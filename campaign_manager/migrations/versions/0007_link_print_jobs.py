"""Join the print jobs' migration with the rest, and link jobs to their step and account.

Revision ID: 0007_link_print_jobs
Revises: 0006_link_campaigns, 0012_print_jobs
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007_link_print_jobs"
down_revision: str | Sequence[str] | None = ("0006_link_campaigns", "0012_print_jobs")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LINKS = [
    ("step_id", "steps"),
    ("channel_account_id", "channel_accounts"),
]


def upgrade() -> None:
    with op.batch_alter_table("print_jobs") as batch:
        for column, target in LINKS:
            batch.create_foreign_key(
                f"fk_print_jobs_{column}_{target}", target, [column], ["id"], ondelete="SET NULL"
            )


def downgrade() -> None:
    with op.batch_alter_table("print_jobs") as batch:
        for column, target in LINKS:
            batch.drop_constraint(f"fk_print_jobs_{column}_{target}", type_="foreignkey")
