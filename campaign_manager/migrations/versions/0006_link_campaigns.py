"""Join the areas' migrations and link steps and deliveries to what they name.

Steps and deliveries were written before channel accounts, creatives and contacts had
tables; now they reference them. Erasing a contact keeps its deliveries and events with
the contact left empty.

Revision ID: 0006_link_campaigns
Revises: 0002_audiences, 0003_creatives, 0004_channels, 0005_campaigns
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006_link_campaigns"
down_revision: str | Sequence[str] | None = (
    "0002_audiences",
    "0003_creatives",
    "0004_channels",
    "0005_campaigns",
)
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LINKS = {
    "steps": [
        ("channel_account_id", "channel_accounts", "RESTRICT"),
        ("creative_id", "creatives", "RESTRICT"),
        ("creative_version_id", "creative_versions", "RESTRICT"),
        ("segment_id", "segments", "RESTRICT"),
    ],
    "deliveries": [
        ("contact_id", "contacts", "SET NULL"),
        ("channel_account_id", "channel_accounts", "RESTRICT"),
        ("creative_version_id", "creative_versions", "RESTRICT"),
    ],
    "events": [("contact_id", "contacts", "SET NULL")],
}


def upgrade() -> None:
    for table, links in LINKS.items():
        with op.batch_alter_table(table) as batch:
            for column, target, ondelete in links:
                batch.create_foreign_key(
                    f"fk_{table}_{column}_{target}", target, [column], ["id"], ondelete=ondelete
                )


def downgrade() -> None:
    for table, links in LINKS.items():
        with op.batch_alter_table(table) as batch:
            for column, target, _ondelete in links:
                batch.drop_constraint(f"fk_{table}_{column}_{target}", type_="foreignkey")
