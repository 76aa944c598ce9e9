"""Records for print-export tests: vendors, a co-branded postcard, accounts, jobs.

The postcard renders for real (WeasyPrint); creatives.printing caches identical renders, so
the many tests that use the same piece pay for its PDF once per run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Flask
from sqlalchemy.orm import Session

from campaign_manager.channels.accounts import build_adapter, create_account
from campaign_manager.channels.models import ChannelAccount
from campaign_manager.channels.print_export import (
    PrintExportAdapter,
    build_print_message,
    store_print_job,
)
from campaign_manager.channels.print_jobs import PrintJob
from campaign_manager.core.accounts import (
    Organization,
    OrganizationKind,
    Role,
    User,
    Vendor,
    create_user,
    create_vendor,
    find_vendor_by_name,
)
from campaign_manager.core.config import AssetSettings
from creatives.assets import upload_asset
from creatives.brand import BrandKitFields, PartnerFields, add_partner, save_brand_kit
from creatives.editing import save_variant
from creatives.models import Creative
from creatives.versions import create_creative
from tests.conftest import TEST_PASSWORD
from tests.creatives.conftest import image_bytes, print_content

VENDOR_ADDRESS = "Test Print Co\n1 Press Road\nYork, PA 17401"
PORTAL = "https://cm.example.org"
SCHOOLS = (
    # key, name, the school's postal address ("" = none on file)
    ("jefferson-tech", "Jefferson Tech", ""),
    ("lincoln-high", "Lincoln High", "Lincoln High School\n500 Elm Street\nLancaster, PA 17602"),
    ("roosevelt-high", "Roosevelt High", "Roosevelt High\n12 Oak Avenue\nReading, PA 19601"),
)
# The order the PDF has its pages in: partners sorted by name.
ALL_KEYS = [key for key, _, _ in SCHOOLS]


@dataclass
class PrintSamples:
    vendor: Vendor
    other_vendor: Vendor
    other_vendor_user: User
    piece: Creative
    export_account: ChannelAccount
    notice_account: ChannelAccount

    @property
    def version_id(self) -> int:
        return self.piece.current_version.id


def make_print_piece(db: Session, *, name: str = "Print export postcard", **content) -> Creative:
    """A 4 x 6 postcard co-branded with three schools, two of them with postal addresses."""
    limits = AssetSettings()

    def asset(width: int, height: int, fmt: str, color: tuple[int, int, int]) -> int:
        data = image_bytes(width, height, fmt, color=color)
        return upload_asset(
            db, data, limits=limits, filename=f"p.{fmt.lower()}", alt_text="A picture"
        ).asset.id

    kit = save_brand_kit(
        db, BrandKitFields(name=f"{name} kit", logo_asset_id=asset(900, 300, "PNG", (240,) * 3))
    )
    crest = asset(600, 600, "PNG", (200, 30, 30))
    for key, school, address in SCHOOLS:
        organization = Organization(
            name=f"{school} ({name})", kind=OrganizationKind.SCHOOL, postal_address=address
        )
        db.add(organization)
        db.flush()
        add_partner(
            db,
            kit.id,
            PartnerFields(
                key=key,
                name=school,
                contact_name=f"Counsellor at {school}",
                logo_asset_id=crest,
                organization_id=organization.id,
            ),
        )
    piece = create_creative(db, name, "print", brand_kit_id=kit.id)
    hero = content.pop("hero_asset_id", None) or asset(1200, 1300, "JPEG", (30, 120, 60))
    save_variant(db, piece.id, "", print_content(hero_asset_id=hero, **content))
    db.commit()
    return piece


def make_print_samples(db: Session, *, vendor_name: str = "Test Print Co") -> PrintSamples:
    """Needs the `users` fixture's vendor ("Test Print Co") unless another name is given."""
    vendor = find_vendor_by_name(db, vendor_name) or create_vendor(
        db, vendor_name, "print@example.org"
    )
    vendor.postal_address = VENDOR_ADDRESS
    other = create_vendor(db, "Second Print Co", "orders@second-print.example.org", "2 Ink Way")
    other_user = create_user(db, "vendor-b@example.org", TEST_PASSWORD, Role.VENDOR, vendor=other)
    notices = create_account(
        db, adapter="sandbox_email", display_name="Notices", settings={}, credentials={}
    )
    export = create_account(
        db,
        adapter="print_export",
        display_name="Print portal",
        settings={
            "portal_base_url": PORTAL,
            "notify_account_id": str(notices.id),
            "notify_from_address": "print-desk@example.org",
        },
        credentials={},
    )
    piece = make_print_piece(db)
    db.commit()
    return PrintSamples(vendor, other, other_user, piece, export, notices)


def print_target(vendor_id: int, **changes: Any) -> dict[str, Any]:
    target: dict[str, Any] = {
        "vendor_id": vendor_id,
        "quantity": 250,
        "paper_stock": "14 pt coated cover",
        "due_date": "2031-03-14",
    }
    target.update(changes)
    return target


def make_print_job(
    db: Session, samples: PrintSamples, key: str, *, vendor: Vendor | None = None, **changes
) -> PrintJob:
    """A ready job made by the same services the adapter uses (no notice)."""
    vendor = vendor or samples.vendor
    message = build_print_message(db, samples.version_id, print_target(vendor.id, **changes))
    job = store_print_job(db, message, idempotency_key=key)
    db.commit()
    return job


def print_adapter(app: Flask, account_id: int) -> PrintExportAdapter:
    """The adapter as a worker builds it: from the account, on the app's database."""
    with app.extensions["database"].transaction() as session:
        account = session.get(ChannelAccount, account_id)
        return build_adapter(account, instance_path=app.extensions["settings"].instance_dir)
