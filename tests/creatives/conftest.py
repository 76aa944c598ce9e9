"""Builders for creatives tests: real image bytes made with Pillow, and small records."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from campaign_manager.core.config import AssetSettings
from creatives.assets import upload_asset
from creatives.brand import BrandKitFields, PartnerFields, add_partner, save_brand_kit
from creatives.content import EmailContent, PrintContent
from creatives.editing import save_variant
from creatives.versions import create_creative

LIMITS = AssetSettings()

GOOD_MJML = """<mjml>
  <mj-body>
    <mj-section>
      <mj-column>
        <mj-image src="https://example.org/hero.png" alt="A technician at work" />
        <mj-text>Hi {{ first_name }}, turn a passion for cars into a career at {{ school }}.
        </mj-text>
        <mj-button href="https://example.org/careers">See careers</mj-button>
        <mj-text font-size="11px">
          <a href="{{ unsubscribe_url }}">Unsubscribe</a> ·
          <a href="{{ preferences_url }}">Preferences</a><br>{{ postal_address }}
        </mj-text>
      </mj-column>
    </mj-section>
  </mj-body>
</mjml>"""


def image_bytes(width: int, height: int, fmt: str = "PNG", color=(20, 80, 160)) -> bytes:
    output = io.BytesIO()
    mode = "RGB" if fmt != "GIF" else "P"
    Image.new(mode, (width, height), color if mode == "RGB" else 3).save(output, fmt)
    return output.getvalue()


def email_content(**changes) -> EmailContent:
    values = {
        "subject": "Hi {{ first_name }}",
        "preheader": "Careers in collision repair",
        "mjml": GOOD_MJML,
    }
    values.update(changes)
    return EmailContent(**values)


@pytest.fixture
def make_asset(db):
    def make(width=800, height=600, fmt="PNG", alt_text="A blue picture", **kwargs):
        data = image_bytes(width, height, fmt, color=kwargs.pop("color", (20, 80, 160)))
        return upload_asset(
            db, data, limits=LIMITS, filename=f"picture.{fmt.lower()}", alt_text=alt_text, **kwargs
        ).asset

    return make


@pytest.fixture
def email_creative(db):
    creative = create_creative(db, "Students email", "email")
    save_variant(db, creative.id, "", email_content())
    db.commit()
    return creative


@pytest.fixture
def brand_kit(db, make_asset):
    logo = make_asset(900, 300, alt_text="Coalition logo", color=(240, 240, 240))
    kit = save_brand_kit(db, BrandKitFields(name="Coalition", logo_asset_id=logo.id))
    school_logo = make_asset(600, 600, alt_text="School crest", color=(200, 30, 30))
    for index, name in enumerate(["Lincoln High", "Roosevelt High", "Jefferson Tech"]):
        add_partner(
            db,
            kit.id,
            PartnerFields(
                key=name.lower().replace(" ", "-"),
                name=name,
                contact_name=f"Counsellor {index}",
                contact_title="School counsellor",
                contact_email=f"counsellor{index}@example.org",
                contact_phone=f"555-010{index}",
                logo_asset_id=school_logo.id,
            ),
        )
    db.commit()
    return kit


def print_content(**changes) -> PrintContent:
    values = {
        "profile": "postcard-4x6",
        "headline": "Turn a passion for cars into a career",
        "subheadline": "Collision repair needs you",
        "body": "Scholarships and paid training are waiting.",
        "call_to_action": "Scan for scholarships",
        "qr_url": "https://careers.example.org/p/careers",
        "footer_note": "Collision Careers Coalition",
    }
    values.update(changes)
    return PrintContent(**values)


@pytest.fixture
def print_creative(db, brand_kit, make_asset):
    # 6 x 4 in postcard: a 2.52 in wide hero needs 756 x ... px at 300 ppi; give it plenty.
    hero = make_asset(1200, 1300, fmt="JPEG", alt_text="Technician", color=(30, 120, 60))
    creative = create_creative(db, "Postcard", "print", brand_kit_id=brand_kit.id)
    save_variant(db, creative.id, "", print_content(hero_asset_id=hero.id))
    db.commit()
    return creative
