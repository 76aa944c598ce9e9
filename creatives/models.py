"""Tables of the creatives package: assets, brand kits, creatives and their versions.

A creative (one email, social post, landing page or print piece) has numbered versions.
A version is a draft until it is frozen (when a campaign using it is approved, or a landing
page is published); a frozen version never changes again, so deliveries can record which
one they used. Each version holds one or more variants keyed by a segment slug
("students", "parents", ...; "" is the default) whose `content` is the kind's dataclass
(see content.py) stored as JSON.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from campaign_manager.core.db import Base, StrEnumType, utcnow


class AssetKind(enum.StrEnum):
    IMAGE = "image"
    PDF = "pdf"


class CreativeKind(enum.StrEnum):
    EMAIL = "email"
    SOCIAL = "social"
    WEB = "web"
    PRINT = "print"


class Asset(Base):
    """An uploaded image or PDF; the bytes live in the blob storage under `sha256`."""

    __tablename__ = "assets"

    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[AssetKind] = mapped_column(StrEnumType(AssetKind, 16))
    mime: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int]
    # Pixels for images; points (1/72 in) of the first page for PDFs.
    width: Mapped[int]
    height: Mapped[int]
    page_count: Mapped[int] = mapped_column(default=1)
    # The name it was uploaded with, for people; never used to decide anything.
    filename: Mapped[str] = mapped_column(String(255), default="")
    title: Mapped[str] = mapped_column(String(200), default="")
    alt_text: Mapped[str] = mapped_column(Text, default="")
    licence: Mapped[str] = mapped_column(String(200), default="")
    credit: Mapped[str] = mapped_column(String(300), default="")
    thumbnail_sha256: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    tag_rows: Mapped[list[AssetTag]] = relationship(
        back_populates="asset", cascade="all, delete-orphan", order_by="AssetTag.tag"
    )

    @property
    def tags(self) -> list[str]:
        return [row.tag for row in self.tag_rows]

    @property
    def extension(self) -> str:
        return MIME_EXTENSIONS.get(self.mime, "bin")

    @property
    def label(self) -> str:
        return self.title or self.filename or f"Asset {self.id}"


MIME_EXTENSIONS = {
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/webp": "webp",
    "image/gif": "gif",
    "application/pdf": "pdf",
}


class AssetTag(Base):
    __tablename__ = "asset_tags"

    asset_id: Mapped[int] = mapped_column(
        ForeignKey("assets.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)

    asset: Mapped[Asset] = relationship(back_populates="tag_rows")


class BrandKit(Base):
    """Logo, colours and fonts; co-brand partners print their own variant of a piece."""

    __tablename__ = "brand_kits"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    logo_asset_id: Mapped[int | None] = mapped_column(ForeignKey("assets.id"))
    # Colours as #rrggbb; print in CMYK converts them (see brand.py).
    primary_color: Mapped[str] = mapped_column(String(7), default="#0b3d91")
    secondary_color: Mapped[str] = mapped_column(String(7), default="#f5a623")
    text_color: Mapped[str] = mapped_column(String(7), default="#1a1a1a")
    background_color: Mapped[str] = mapped_column(String(7), default="#ffffff")
    heading_font: Mapped[str] = mapped_column(String(100), default="Open Sans")
    body_font: Mapped[str] = mapped_column(String(100), default="Open Sans")
    website: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    logo: Mapped[Asset | None] = relationship()
    partners: Mapped[list[CobrandPartner]] = relationship(
        back_populates="brand_kit", cascade="all, delete-orphan", order_by="CobrandPartner.name"
    )


class CobrandPartner(Base):
    """A school or partner whose name, logo and counsellor appear on its print variant."""

    __tablename__ = "cobrand_partners"
    __table_args__ = (UniqueConstraint("brand_kit_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_kit_id: Mapped[int] = mapped_column(ForeignKey("brand_kits.id", ondelete="CASCADE"))
    # Short slug naming the variant: file names, --variant, utm_content.
    key: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"))
    logo_asset_id: Mapped[int | None] = mapped_column(ForeignKey("assets.id"))
    contact_name: Mapped[str] = mapped_column(String(200), default="")
    contact_title: Mapped[str] = mapped_column(String(200), default="")
    contact_email: Mapped[str] = mapped_column(String(320), default="")
    contact_phone: Mapped[str] = mapped_column(String(50), default="")
    website: Mapped[str] = mapped_column(String(500), default="")

    brand_kit: Mapped[BrandKit] = relationship(back_populates="partners")
    logo: Mapped[Asset | None] = relationship()


class Creative(Base):
    __tablename__ = "creatives"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[CreativeKind] = mapped_column(StrEnumType(CreativeKind, 16))
    brand_kit_id: Mapped[int | None] = mapped_column(ForeignKey("brand_kits.id"))
    # Landing pages only: served at /p/<slug>.
    slug: Mapped[str | None] = mapped_column(String(100), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    brand_kit: Mapped[BrandKit | None] = relationship()
    versions: Mapped[list[CreativeVersion]] = relationship(
        back_populates="creative",
        cascade="all, delete-orphan",
        order_by="CreativeVersion.number",
    )

    @property
    def current_version(self) -> CreativeVersion:
        """The newest version: the draft being edited, or the last frozen one."""
        return self.versions[-1]


class CreativeVersion(Base):
    __tablename__ = "creative_versions"
    __table_args__ = (UniqueConstraint("creative_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    creative_id: Mapped[int] = mapped_column(ForeignKey("creatives.id", ondelete="CASCADE"))
    number: Mapped[int]
    # Set once, when a campaign using it is approved or the page is published; never cleared.
    frozen_at: Mapped[datetime | None]
    # Landing pages: this version is the live page from this moment (the newest such wins).
    published_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    creative: Mapped[Creative] = relationship(back_populates="versions")
    variants: Mapped[list[CreativeVariant]] = relationship(
        back_populates="version", cascade="all, delete-orphan", order_by="CreativeVariant.key"
    )

    @property
    def is_frozen(self) -> bool:
        return self.frozen_at is not None

    def variant(self, key: str = "") -> CreativeVariant:
        """The variant for a segment slug, falling back to the default ("") variant."""
        by_key = {variant.key: variant for variant in self.variants}
        return by_key.get(key) or by_key[""]


class CreativeVariant(Base):
    __tablename__ = "creative_variants"
    __table_args__ = (UniqueConstraint("version_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("creative_versions.id", ondelete="CASCADE"))
    # A segment slug ("students", "parents", "educators", ...); "" is the default variant.
    key: Mapped[str] = mapped_column(String(64), default="")
    content: Mapped[dict[str, Any]] = mapped_column(JSON)
    # Email: the MJML compiled to HTML once (Jinja placeholders still in it), and the
    # plain-text template made from it; rendered per recipient (email.py).
    compiled_html: Mapped[str | None] = mapped_column(Text)
    compiled_text: Mapped[str | None] = mapped_column(Text)

    version: Mapped[CreativeVersion] = relationship(back_populates="variants")
