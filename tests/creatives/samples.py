"""A small set of creatives records for tests outside this folder (the route matrix)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from campaign_manager.core.config import AssetSettings
from creatives.assets import upload_asset
from creatives.brand import BrandKitFields, PartnerFields, add_partner, save_brand_kit
from creatives.content import PrintContent, WebContent
from creatives.editing import save_variant
from creatives.landing import publish_landing_page
from creatives.models import Asset, BrandKit, Creative
from creatives.versions import create_creative
from tests.creatives.conftest import image_bytes


@dataclass
class CreativeSamples:
    asset: Asset
    brand_kit: BrandKit
    print_creative: Creative
    landing_page: Creative


def make_creative_samples(db: Session) -> CreativeSamples:
    asset = upload_asset(
        db,
        image_bytes(600, 400, "JPEG"),
        limits=AssetSettings(),
        filename="sample.jpg",
        alt_text="A sample picture",
    ).asset
    kit = save_brand_kit(db, BrandKitFields(name="Sample kit", logo_asset_id=asset.id))
    add_partner(
        db, kit.id, PartnerFields(key="sample-high", name="Sample High", logo_asset_id=asset.id)
    )
    piece = create_creative(db, "Sample postcard", "print", brand_kit_id=kit.id)
    save_variant(
        db,
        piece.id,
        "",
        PrintContent(
            profile="postcard-4x6",
            headline="Sample",
            hero_asset_id=asset.id,
            qr_url="https://example.org/p/sample",
        ),
    )
    page = create_creative(db, "Sample page", "web", slug="sample-page", brand_kit_id=kit.id)
    save_variant(db, page.id, "", WebContent(title="Sample", headline="Sample page"))
    publish_landing_page(db, page.id)
    db.commit()
    return CreativeSamples(asset, kit, piece, page)
