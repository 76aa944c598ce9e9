"""Creatives: assets and tags, brand kits and co-brand partners, creatives, versions, variants.

Revision ID: 0003_creatives
Revises: 0001_accounts
Create Date: 2026-11-26 19:57:39.532728
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_creatives"
down_revision: str | Sequence[str] | None = "0001_accounts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "assets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("mime", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("page_count", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("alt_text", sa.Text(), nullable=False),
        sa.Column("licence", sa.String(length=200), nullable=False),
        sa.Column("credit", sa.String(length=300), nullable=False),
        sa.Column("thumbnail_sha256", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assets")),
        sa.UniqueConstraint("sha256", name=op.f("uq_assets_sha256")),
    )
    op.create_table(
        "asset_tags",
        sa.Column("asset_id", sa.Integer(), nullable=False),
        sa.Column("tag", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["asset_id"],
            ["assets.id"],
            name=op.f("fk_asset_tags_asset_id_assets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("asset_id", "tag", name=op.f("pk_asset_tags")),
    )
    with op.batch_alter_table("asset_tags", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_asset_tags_tag"), ["tag"], unique=False)

    op.create_table(
        "brand_kits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("logo_asset_id", sa.Integer(), nullable=True),
        sa.Column("primary_color", sa.String(length=7), nullable=False),
        sa.Column("secondary_color", sa.String(length=7), nullable=False),
        sa.Column("text_color", sa.String(length=7), nullable=False),
        sa.Column("background_color", sa.String(length=7), nullable=False),
        sa.Column("heading_font", sa.String(length=100), nullable=False),
        sa.Column("body_font", sa.String(length=100), nullable=False),
        sa.Column("website", sa.String(length=500), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["logo_asset_id"], ["assets.id"], name=op.f("fk_brand_kits_logo_asset_id_assets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_brand_kits")),
        sa.UniqueConstraint("name", name=op.f("uq_brand_kits_name")),
    )
    op.create_table(
        "cobrand_partners",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("brand_kit_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=True),
        sa.Column("logo_asset_id", sa.Integer(), nullable=True),
        sa.Column("contact_name", sa.String(length=200), nullable=False),
        sa.Column("contact_title", sa.String(length=200), nullable=False),
        sa.Column("contact_email", sa.String(length=320), nullable=False),
        sa.Column("contact_phone", sa.String(length=50), nullable=False),
        sa.Column("website", sa.String(length=500), nullable=False),
        sa.ForeignKeyConstraint(
            ["brand_kit_id"],
            ["brand_kits.id"],
            name=op.f("fk_cobrand_partners_brand_kit_id_brand_kits"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["logo_asset_id"], ["assets.id"], name=op.f("fk_cobrand_partners_logo_asset_id_assets")
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_cobrand_partners_organization_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cobrand_partners")),
        sa.UniqueConstraint(
            "brand_kit_id", "key", name=op.f("uq_cobrand_partners_brand_kit_id_key")
        ),
    )
    op.create_table(
        "creatives",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("brand_kit_id", sa.Integer(), nullable=True),
        sa.Column("slug", sa.String(length=100), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["brand_kit_id"], ["brand_kits.id"], name=op.f("fk_creatives_brand_kit_id_brand_kits")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_creatives")),
        sa.UniqueConstraint("slug", name=op.f("uq_creatives_slug")),
    )
    op.create_table(
        "creative_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("creative_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("frozen_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["creative_id"],
            ["creatives.id"],
            name=op.f("fk_creative_versions_creative_id_creatives"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_creative_versions")),
        sa.UniqueConstraint(
            "creative_id", "number", name=op.f("uq_creative_versions_creative_id_number")
        ),
    )
    op.create_table(
        "creative_variants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("content", sa.JSON(), nullable=False),
        sa.Column("compiled_html", sa.Text(), nullable=True),
        sa.Column("compiled_text", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["creative_versions.id"],
            name=op.f("fk_creative_variants_version_id_creative_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_creative_variants")),
        sa.UniqueConstraint("version_id", "key", name=op.f("uq_creative_variants_version_id_key")),
    )


def downgrade() -> None:

    op.drop_table("creative_variants")
    op.drop_table("creative_versions")
    op.drop_table("creatives")
    op.drop_table("cobrand_partners")
    op.drop_table("brand_kits")
    with op.batch_alter_table("asset_tags", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_asset_tags_tag"))

    op.drop_table("asset_tags")
    op.drop_table("assets")
