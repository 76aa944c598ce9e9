"""Brand kits (logo, colours, fonts) and their co-brand partners, plus the bundled fonts.

Fonts: the package ships Open Sans (Apache-2.0, creatives/fonts/open-sans) so that print
PDFs always embed a known font. A brand kit may name another family; it is used when the
server has it (fontconfig), and preflight reports it as missing otherwise.
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from creatives.errors import CreativeError
from creatives.models import Asset, AssetKind, BrandKit, CobrandPartner

FONTS_DIR = Path(__file__).parent / "fonts"
_HEX_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
_KEY = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")


@dataclass(frozen=True)
class FontFace:
    family: str
    path: Path
    weight: int
    style: str  # "normal" | "italic"


BUNDLED_FONTS = (
    FontFace("Open Sans", FONTS_DIR / "open-sans" / "OpenSans-Regular.ttf", 400, "normal"),
    FontFace("Open Sans", FONTS_DIR / "open-sans" / "OpenSans-Italic.ttf", 400, "italic"),
    FontFace("Open Sans", FONTS_DIR / "open-sans" / "OpenSans-Bold.ttf", 700, "normal"),
    FontFace("Open Sans", FONTS_DIR / "open-sans" / "OpenSans-ExtraBold.ttf", 800, "normal"),
)
BUNDLED_FAMILIES = tuple(sorted({face.family for face in BUNDLED_FONTS}))
FALLBACK_FAMILY = "Open Sans"


def font_face_css() -> str:
    """@font-face rules for the bundled fonts, by file URL (WeasyPrint embeds them)."""
    return "\n".join(
        f"@font-face {{ font-family: '{face.family}'; src: url('{face.path.as_uri()}'); "
        f"font-weight: {face.weight}; font-style: {face.style}; }}"
        for face in BUNDLED_FONTS
    )


@functools.cache
def installed_font_families() -> frozenset[str]:
    """Families fontconfig knows on this server (what WeasyPrint can use besides ours)."""
    fc_list = shutil.which("fc-list")
    if not fc_list:
        return frozenset()
    result = subprocess.run(  # noqa: S603 - a fixed program and arguments
        [fc_list, ":", "family"], capture_output=True, text=True, timeout=20, check=False
    )
    families = set()
    for line in result.stdout.splitlines():
        families.update(name.strip().lower() for name in line.split(","))
    return frozenset(families)


def font_is_available(family: str) -> bool:
    name = family.strip().lower()
    return name in {f.lower() for f in BUNDLED_FAMILIES} or name in installed_font_families()


# --- colours --------------------------------------------------------------------------------


def check_color(value: str, label: str) -> str:
    value = value.strip()
    if not _HEX_COLOR.match(value):
        raise CreativeError(f"{label} must be a colour like #0b3d91 (got {value!r}).")
    return value.lower()


def hex_to_cmyk(value: str) -> tuple[float, float, float, float]:
    """The naive device conversion; good enough for brand colours a printer proofs anyway."""
    red, green, blue = (int(value[i : i + 2], 16) / 255 for i in (1, 3, 5))
    black = 1 - max(red, green, blue)
    if black >= 1:
        return (0.0, 0.0, 0.0, 1.0)
    return tuple(  # type: ignore[return-value]
        round(x, 4)
        for x in (
            (1 - red - black) / (1 - black),
            (1 - green - black) / (1 - black),
            (1 - blue - black) / (1 - black),
            black,
        )
    )


def css_color(value: str, *, cmyk: bool) -> str:
    """A brand colour for print CSS: `device-cmyk(...)` when the PDF must be CMYK."""
    if not cmyk:
        return value
    c, m, y, k = hex_to_cmyk(value)
    return f"device-cmyk({c:g} {m:g} {y:g} {k:g})"


# --- brand kits -----------------------------------------------------------------------------


@dataclass
class BrandKitFields:
    name: str
    primary_color: str = "#0b3d91"
    secondary_color: str = "#f5a623"
    text_color: str = "#1a1a1a"
    background_color: str = "#ffffff"
    heading_font: str = FALLBACK_FAMILY
    body_font: str = FALLBACK_FAMILY
    website: str = ""
    logo_asset_id: int | None = None


def _image_asset(session: Session, asset_id: int | None, label: str) -> int | None:
    if asset_id is None:
        return None
    asset = session.get(Asset, asset_id)
    if asset is None or asset.kind is not AssetKind.IMAGE:
        raise CreativeError(f"{label}: choose an image from the asset library.")
    return asset.id


def save_brand_kit(
    session: Session, fields: BrandKitFields, brand_kit_id: int | None = None
) -> BrandKit:
    name = " ".join(fields.name.split())
    if not name:
        raise CreativeError("A brand kit needs a name.")
    clash = session.scalar(
        select(BrandKit).where(
            func.lower(BrandKit.name) == name.lower(), BrandKit.id != (brand_kit_id or 0)
        )
    )
    if clash:
        raise CreativeError(f"A brand kit named {name} already exists.")
    kit = session.get(BrandKit, brand_kit_id) if brand_kit_id else BrandKit()
    if kit is None:
        raise CreativeError(f"There is no brand kit number {brand_kit_id}.")
    kit.name = name
    kit.primary_color = check_color(fields.primary_color, "Primary colour")
    kit.secondary_color = check_color(fields.secondary_color, "Secondary colour")
    kit.text_color = check_color(fields.text_color, "Text colour")
    kit.background_color = check_color(fields.background_color, "Background colour")
    kit.heading_font = fields.heading_font.strip() or FALLBACK_FAMILY
    kit.body_font = fields.body_font.strip() or FALLBACK_FAMILY
    kit.website = fields.website.strip()
    kit.logo_asset_id = _image_asset(session, fields.logo_asset_id, "Logo")
    session.add(kit)
    session.flush()
    return kit


@dataclass
class PartnerFields:
    key: str
    name: str
    contact_name: str = ""
    contact_title: str = ""
    contact_email: str = ""
    contact_phone: str = ""
    website: str = ""
    logo_asset_id: int | None = None
    organization_id: int | None = None


def add_partner(session: Session, brand_kit_id: int, fields: PartnerFields) -> CobrandPartner:
    kit = session.get(BrandKit, brand_kit_id)
    if kit is None:
        raise CreativeError(f"There is no brand kit number {brand_kit_id}.")
    key = fields.key.strip().lower()
    if not _KEY.match(key):
        raise CreativeError(
            "The partner key must be lower-case letters, digits and dashes (e.g. lincoln-high)."
        )
    if any(partner.key == key for partner in kit.partners):
        raise CreativeError(f"This brand kit already has a partner with the key {key}.")
    name = " ".join(fields.name.split())
    if not name:
        raise CreativeError("A co-brand partner needs a name.")
    partner = CobrandPartner(
        brand_kit=kit,
        key=key,
        name=name,
        contact_name=fields.contact_name.strip(),
        contact_title=fields.contact_title.strip(),
        contact_email=fields.contact_email.strip(),
        contact_phone=fields.contact_phone.strip(),
        website=fields.website.strip(),
        logo_asset_id=_image_asset(session, fields.logo_asset_id, "Partner logo"),
        organization_id=fields.organization_id,
    )
    session.add(partner)
    session.flush()
    return partner


def slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:64]
