"""Print creatives: print-ready PDFs with bleed and PDF boxes, co-branded variants, preflight.

How a PDF is made:
1. The piece's HTML is built from the package template (templates/print.html), the brand
   kit and, per variant, the co-brand partner's name, logo, counsellor and a QR code to
   the landing page with that partner's UTM parameters. Each variant is one page.
2. WeasyPrint lays it out with CSS paged media (`@page { size; bleed }`) and embeds the
   fonts (the bundled Open Sans, or a family the server has). Images and fonts reach it
   only through `_PrintFetcher`: blobs from our storage and our font files, never the
   network, so a print job cannot be made to fetch anything else.
3. pikepdf then writes the page boxes exactly: TrimBox = the finished size, BleedBox =
   trim + bleed, MediaBox = BleedBox (or larger, with room for crop marks when a vendor
   wants them; marks are drawn in registration colour outside the bleed).

Preflight renders the same PDF and reads it back (pypdfium2 for where text and images
landed and at what resolution; pikepdf for fonts and colour spaces).
"""

from __future__ import annotations

import functools
import hashlib
import io
import itertools
import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import pikepdf
import zxingcpp
from markupsafe import Markup, escape
from PIL import Image, ImageDraw
from sqlalchemy import select
from sqlalchemy.orm import Session
from weasyprint import HTML
from weasyprint.urls import URLFetcher, URLFetcherResponse

from campaign_manager.core.storage import BlobNotFound, sha256_of, storage_of
from creatives.brand import (
    FALLBACK_FAMILY,
    FONTS_DIR,
    css_color,
    font_face_css,
    font_is_available,
    slugify,
)
from creatives.content import PrintContent
from creatives.errors import CreativeError, RenderError, Severity
from creatives.models import Asset, BrandKit, CobrandPartner, CreativeKind, CreativeVersion
from creatives.print_profiles import PrintProfile, get_profile
from creatives.rendering import add_query, template_env
from creatives.versions import get_version, variant_content

# fontTools (used by WeasyPrint to subset fonts) warns about harmless table details.
logging.getLogger("fontTools").setLevel(logging.ERROR)

# The PDF/X flavours WeasyPrint writes (its pdf_variant option).
PDF_X_VARIANTS = ("pdf/x-1a", "pdf/x-3", "pdf/x-4")
MIN_PPI = 300
# Below this an image looks visibly soft or jagged: an error, not only a warning.
POOR_PPI = 150
# Crop marks: drawn from this far outside the bleed, this long, in points.
MARK_OFFSET_PT = 4.5
MARK_LENGTH_PT = 18.0
MARK_ZONE_PT = MARK_OFFSET_PT + MARK_LENGTH_PT + 4.5


@dataclass(frozen=True)
class PrintFile:
    filename: str
    # The variant in the file, or None when the file holds several (one per page).
    variant_key: str | None
    data: bytes
    sha256: str
    pages: int


@dataclass(frozen=True)
class PreflightProblem:
    # The form field (headline, hero_asset_id, ...) or area (fonts, colour, layout) concerned.
    area: str
    severity: Severity
    message: str
    page: int | None = None
    variant_key: str = ""


@dataclass
class _Variant:
    key: str
    partner: CobrandPartner | None
    qr_url: str
    display_url: str
    qr_svg: Markup | None = None
    logo_src: str = ""


# --- fetching images and fonts ------------------------------------------------------------------

ASSET_SCHEME = "cm-asset:"


class _PrintFetcher(URLFetcher):
    """Serves WeasyPrint our blobs (`cm-asset:<sha256>`) and font files; refuses the rest.

    With `cmyk`, RGB images are converted to CMYK JPEGs (naively, without an ICC profile);
    the names of converted images are kept for preflight to mention.
    """

    def __init__(self, session: Session, *, cmyk: bool) -> None:
        super().__init__(fail_on_errors=False)
        self.storage = storage_of(session)
        self.cmyk = cmyk
        self.converted: set[str] = set()
        self.refused: list[str] = []

    def fetch(self, url: str, headers: object = None) -> URLFetcherResponse:
        if url.startswith(ASSET_SCHEME):
            name = url.removeprefix(ASSET_SCHEME)
            try:
                data = self.storage.get(name)
            except (BlobNotFound, ValueError):
                self.refused.append(url)
                raise ValueError(f"no stored file {name}") from None
            if self.cmyk:
                data = self._as_cmyk(name, data)
            return URLFetcherResponse(url, data, {"Content-Type": _sniff_mime(data)})
        if url.startswith("file://"):
            path = (FONTS_DIR / url.removeprefix("file://")).resolve()
            if path.is_file() and path.is_relative_to(FONTS_DIR.resolve()):
                return URLFetcherResponse(url, path.read_bytes(), {"Content-Type": "font/ttf"})
        self.refused.append(url)
        raise ValueError(f"print documents load only library files and bundled fonts: {url}")

    def _as_cmyk(self, name: str, data: bytes) -> bytes:
        if data.startswith(b"%PDF"):
            return data
        with Image.open(io.BytesIO(data)) as image:
            if image.mode == "CMYK":
                return data
            self.converted.add(name)
            return _cmyk_jpeg(data)


@functools.lru_cache(maxsize=32)
def _cmyk_jpeg(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data)) as image:
        if image.mode in ("RGBA", "LA", "P"):
            rgba = image.convert("RGBA")
            flat = Image.new("RGB", rgba.size, (255, 255, 255))
            flat.paste(rgba, mask=rgba.getchannel("A"))
        else:
            flat = image.convert("RGB")
        output = io.BytesIO()
        flat.convert("CMYK").save(output, "JPEG", quality=92, dpi=image.info.get("dpi", (300, 300)))
        return output.getvalue()


def _sniff_mime(data: bytes) -> str:
    if data.startswith(b"\x89PNG"):
        return "image/png"
    if data.startswith(b"\xff\xd8"):
        return "image/jpeg"
    if data.startswith(b"GIF8"):
        return "image/gif"
    if data[8:12] == b"WEBP":
        return "image/webp"
    return "application/octet-stream"


def _asset_src(asset: Asset | None) -> str:
    return f"{ASSET_SCHEME}{asset.sha256}" if asset else ""


# --- variants and QR codes -----------------------------------------------------------------------


# Modules of light margin around a QR code (the quiet zone; the flyer's white box adds more).
QR_BORDER = 2


def qr_svg(url: str, color: str) -> Markup:
    """A QR code as inline SVG: vectors print sharp at any size (no ppi to worry about).

    ZXing (C++, through zxing-cpp) encodes it, choosing version and mask as ISO 18004 says;
    the path is written here as one filled rectangle per horizontal run of dark modules.
    With qrcode (pure Python, a square per module) making the code was most of the print
    pipeline's own time, and drawing its thousands of subpaths a good part of WeasyPrint's
    (py-spy on `bench print`): 12.6 ms a code with qrcode, 0.4 ms with ZXing.
    """
    code = zxingcpp.create_barcode(url, zxingcpp.BarcodeFormat.QRCode, ec_level="M")
    modules = memoryview(code.to_image(scale=1, add_quiet_zones=False))  # 0 dark, 255 light
    width = modules.shape[1]
    size = width + 2 * QR_BORDER
    rows = bytes(modules)
    runs = []
    for y in range(modules.shape[0]):
        x = QR_BORDER
        for light, run in itertools.groupby(rows[y * width : (y + 1) * width]):
            length = len(list(run))
            if not light:
                runs.append(f"M{x},{y + QR_BORDER}h{length}v1h-{length}z")
            x += length
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{size}mm" '
        f'height="{size}mm" viewBox="0 0 {size} {size}">'
        f'<path fill="{escape(color)}" d="{"".join(runs)}"/></svg>'
    )
    return Markup(svg)  # noqa: S704 - numbers we wrote and an escaped colour, no user markup


def _variants(
    version: CreativeVersion,
    content: PrintContent,
    profile: PrintProfile,
    variant_keys: Sequence[str] | None,
) -> list[_Variant]:
    kit = version.creative.brand_kit
    ordered = sorted(kit.partners, key=lambda partner: partner.name.lower()) if kit else []
    partners = {partner.key: partner for partner in ordered}
    if variant_keys is None:
        keys = list(partners) or [""]
    else:
        keys = list(dict.fromkeys(variant_keys))
        unknown = [key for key in keys if key and key not in partners]
        if unknown:
            known = ", ".join(partners) or "none (the brand kit has no co-brand partners)"
            raise CreativeError(
                f"Unknown print variant {', '.join(unknown)}; the partners are: {known}."
            )
        if not keys:
            raise CreativeError("Choose at least one variant to print.")
    campaign = slugify(version.creative.name) or f"creative-{version.creative_id}"
    variants = []
    for key in keys:
        url = ""
        if content.qr_url:
            utm = {"utm_source": "print", "utm_medium": profile.medium, "utm_campaign": campaign}
            if key:
                utm["utm_content"] = key
            url = add_query(content.qr_url, utm, override=True)
        display = re.sub(r"^https?://(www\.)?", "", content.qr_url).rstrip("/")
        variants.append(_Variant(key, partners.get(key), url, display))
    return variants


# --- HTML ---------------------------------------------------------------------------------------


@dataclass
class _PrintJob:
    html: str
    variants: list[_Variant]
    content: PrintContent
    profile: PrintProfile
    cmyk: bool
    brand_kit: BrandKit | None
    hero: Asset | None
    # Image pixel sizes -> the field they came from, so preflight can name it.
    image_fields: dict[tuple[int, int], str] = field(default_factory=dict)


def _print_job(
    session: Session,
    version: CreativeVersion,
    profile: PrintProfile | str | None,
    variant_keys: Sequence[str] | None,
    cmyk: bool | None,
    content: PrintContent | None = None,
) -> _PrintJob:
    if version.creative.kind is not CreativeKind.PRINT:
        raise RenderError(f"Creative version {version.id} is not a print piece.")
    content = content or variant_content(version)
    profile = get_profile(profile or content.profile)
    cmyk = profile.color_mode.value == "cmyk" if cmyk is None else cmyk
    kit = version.creative.brand_kit
    variants = _variants(version, content, profile, variant_keys)
    colors = {
        "primary": kit.primary_color if kit else "#0b3d91",
        "secondary": kit.secondary_color if kit else "#f5a623",
        "text": kit.text_color if kit else "#1a1a1a",
        "background": kit.background_color if kit else "#ffffff",
        "white": "#ffffff",
        "on_primary": "#ffffff",
    }
    colors = {name: css_color(value, cmyk=cmyk) for name, value in colors.items()}
    hero = session.get(Asset, content.hero_asset_id) if content.hero_asset_id else None
    logo = kit.logo if kit else None
    image_fields: dict[tuple[int, int], str] = {}
    if hero:
        image_fields[(hero.width, hero.height)] = "hero_asset_id"
    # The same picture may serve twice (hero and logo): the first role names it.
    if logo:
        image_fields.setdefault((logo.width, logo.height), "brand logo")
    for variant in variants:
        if variant.qr_url:
            variant.qr_svg = qr_svg(variant.qr_url, colors["text"])
        if variant.partner and variant.partner.logo:
            variant.logo_src = _asset_src(variant.partner.logo)
            size = (variant.partner.logo.width, variant.partner.logo.height)
            image_fields.setdefault(size, f"partner logo ({variant.partner.name})")
    scale = profile.scale
    hero_height = round(profile.height * (0.40 if profile.height > profile.width else 0.45), 3)
    html = (
        template_env()
        .get_template("print.html")
        .render(
            title=version.creative.name,
            font_faces=Markup(font_face_css()),  # noqa: S704 - our own @font-face rules
            p=profile,
            s=scale,
            c=colors,
            body_font=_family(kit.body_font if kit else FALLBACK_FAMILY),
            heading_font=_family(kit.heading_font if kit else FALLBACK_FAMILY),
            content=content,
            paragraphs=[p.strip() for p in content.body.split("\n\n") if p.strip()],
            variants=variants,
            hero_src=_asset_src(hero),
            logo_src=_asset_src(logo),
            hero_height=hero_height,
            hero_width=round(profile.width * 0.42, 3),
            band_height=round(0.9 * scale + profile.safe_margin, 3),
            qr_size=round(1.3 * scale, 3),
        )
    )
    return _PrintJob(html, variants, content, profile, cmyk, kit, hero, image_fields)


def _family(name: str) -> str:
    return name.replace('"', "").replace("\\", "") or FALLBACK_FAMILY


# --- PDF --------------------------------------------------------------------------------------

_pdf_cache: OrderedDict[str, tuple[bytes, frozenset[str]]] = OrderedDict()
_pdf_cache_lock = threading.Lock()
PDF_CACHE_ENTRIES = 12


def _render_pdf(
    session: Session, job: _PrintJob, *, crop_marks: bool, pdf_variant: str | None
) -> tuple[bytes, frozenset[str]]:
    """The PDF bytes and the blobs converted to CMYK; identical inputs render once."""
    if pdf_variant is not None and pdf_variant not in PDF_X_VARIANTS:
        raise CreativeError(
            f"Unknown PDF variant {pdf_variant!r}; use one of: {', '.join(PDF_X_VARIANTS)}."
        )
    key = hashlib.sha256(f"{job.html}|{job.cmyk}|{crop_marks}|{pdf_variant}".encode()).hexdigest()
    with _pdf_cache_lock:
        if key in _pdf_cache:
            _pdf_cache.move_to_end(key)
            return _pdf_cache[key]
    fetcher = _PrintFetcher(session, cmyk=job.cmyk)
    options = {"pdf_variant": pdf_variant} if pdf_variant else {}
    if job.cmyk:
        options["output_intent"] = "device-cmyk"
    raw = HTML(string=job.html, url_fetcher=fetcher, base_url=FONTS_DIR.as_uri() + "/").write_pdf(
        **options
    )
    data = _set_page_boxes(raw, job.profile, crop_marks=crop_marks)
    result = (data, frozenset(fetcher.converted))
    with _pdf_cache_lock:
        _pdf_cache[key] = result
        while len(_pdf_cache) > PDF_CACHE_ENTRIES:
            _pdf_cache.popitem(last=False)
    return result


def _set_page_boxes(data: bytes, profile: PrintProfile, *, crop_marks: bool) -> bytes:
    """Exact TrimBox and BleedBox; MediaBox = BleedBox, or wider with crop marks."""
    trim_w, trim_h, bleed = profile.width_pt, profile.height_pt, profile.bleed_pt
    margin = bleed + (MARK_ZONE_PT if crop_marks else 0)
    with pikepdf.open(io.BytesIO(data)) as pdf:
        for page in pdf.pages:
            page.obj.TrimBox = pikepdf.Array([0, 0, trim_w, trim_h])
            page.obj.BleedBox = pikepdf.Array([-bleed, -bleed, trim_w + bleed, trim_h + bleed])
            page.obj.MediaBox = pikepdf.Array([-margin, -margin, trim_w + margin, trim_h + margin])
            if "/CropBox" in page.obj:
                del page.obj.CropBox
            if crop_marks:
                _draw_crop_marks(pdf, page, trim_w, trim_h, bleed)
        output = io.BytesIO()
        pdf.save(output, deterministic_id=True)
        return output.getvalue()


def _draw_crop_marks(
    pdf: pikepdf.Pdf, page: pikepdf.Page, width: float, height: float, bleed: float
) -> None:
    """Eight hairlines in registration colour (all four inks) outside the bleed."""
    start = bleed + MARK_OFFSET_PT
    end = start + MARK_LENGTH_PT
    lines = []
    for x in (0, width):
        for y, direction in ((0, -1), (height, 1)):
            lines.append((x, y + direction * start, x, y + direction * end))
    for y in (0, height):
        for x, direction in ((0, -1), (width, 1)):
            lines.append((x + direction * start, y, x + direction * end, y))
    marks = (
        "q 0.25 w 1 1 1 1 K\n"
        + "".join(f"{x1:.3f} {y1:.3f} m {x2:.3f} {y2:.3f} l S\n" for x1, y1, x2, y2 in lines)
        + "Q\n"
    )
    # Wrap the page's own drawing in q/Q so its transformations do not move the marks.
    page.contents_add(pdf.make_stream(b"q\n"), prepend=True)
    page.contents_add(pdf.make_stream(b"Q\n" + marks.encode()), prepend=False)


def render_print_pdf(
    session: Session,
    version_id: int,
    *,
    profile: PrintProfile | str | None = None,
    variant_keys: Sequence[str] | None = None,
    crop_marks: bool = False,
    pdf_variant: str | None = None,
    cmyk: bool | None = None,
    one_file: bool = True,
) -> list[PrintFile]:
    """Print-ready PDFs of a print creative version.

    `profile`: a PrintProfile or its key; default the one the piece was designed for.
    `variant_keys`: co-brand partner keys ("" = without co-branding); None = every partner
    of the brand kit, or the plain piece when it has none.
    `cmyk`: None follows the profile's colour mode. `pdf_variant`: one of PDF_X_VARIANTS.
    `one_file`: one PDF with a page per variant, or one PDF per variant.
    """
    version = get_version(session, version_id)
    job = _print_job(session, version, profile, variant_keys, cmyk)
    base = f"{slugify(version.creative.name) or 'print'}-v{version.number}-{job.profile.key}"
    if one_file:
        data, _ = _render_pdf(session, job, crop_marks=crop_marks, pdf_variant=pdf_variant)
        single = job.variants[0].key if len(job.variants) == 1 else None
        name = f"{base}-{single}.pdf" if single else f"{base}.pdf"
        return [PrintFile(name, single, data, sha256_of(data), _page_count(data))]
    files = []
    for variant in job.variants:
        one = _print_job(session, version, job.profile, [variant.key], job.cmyk)
        data, _ = _render_pdf(session, one, crop_marks=crop_marks, pdf_variant=pdf_variant)
        name = f"{base}-{variant.key or 'plain'}.pdf"
        files.append(PrintFile(name, variant.key, data, sha256_of(data), _page_count(data)))
    return files


def print_html(
    session: Session,
    version_id: int,
    *,
    variant_keys: Sequence[str] | None = None,
    profile: PrintProfile | str | None = None,
    cmyk: bool | None = None,
) -> str:
    """The final HTML `render_print_pdf` gives WeasyPrint for these variants.

    Images are `cm-asset:<sha256>` URLs and fonts `file://` URLs under the bundled fonts;
    `campaign-manager bench print` renders it with plain WeasyPrint as its baseline.
    """
    version = get_version(session, version_id)
    keys = None if variant_keys is None else tuple(variant_keys)
    return _print_job(session, version, profile, keys, cmyk).html


def _page_count(data: bytes) -> int:
    with pikepdf.open(io.BytesIO(data)) as pdf:
        return len(pdf.pages)


# --- preflight ----------------------------------------------------------------------------------


def preflight(
    session: Session,
    version_id: int,
    *,
    profile: PrintProfile | str | None = None,
    variant_keys: Sequence[str] | None = None,
    cmyk: bool | None = None,
    pdf_variant: str | None = None,
) -> list[PreflightProblem]:
    """Render the piece as the vendor would get it and report what would print badly.

    Checks: images below 300 ppi at their printed size (below 150: error), text in the
    bleed or outside the safe area, fonts missing on the server or not embedded, RGB
    content when CMYK was asked for, and a QR code without a target.
    """
    version = get_version(session, version_id)
    job = _print_job(session, version, profile, variant_keys, cmyk)
    problems: list[PreflightProblem] = []
    kit = job.brand_kit
    for label, family in (
        ("heading font", kit and kit.heading_font),
        ("body font", kit and kit.body_font),
    ):
        if family and not font_is_available(family):
            problems.append(
                PreflightProblem(
                    "fonts",
                    Severity.ERROR,
                    f"The brand kit's {label} {family!r} is not installed on this server; the "
                    f"PDF would use {FALLBACK_FAMILY} instead. Choose {FALLBACK_FAMILY} or "
                    "install the font.",
                )
            )
    if not job.content.qr_url:
        problems.append(
            PreflightProblem(
                "qr_url", Severity.WARNING, "No QR code: add the landing page address."
            )
        )
    if job.content.hero_asset_id and job.hero is None:
        problems.append(
            PreflightProblem(
                "hero_asset_id", Severity.ERROR, "The picture is no longer in the library."
            )
        )
    data, converted = _render_pdf(session, job, crop_marks=False, pdf_variant=pdf_variant)
    for name in sorted(converted):
        asset = session.scalar(select(Asset).where(Asset.sha256 == name))
        label = asset.label if asset else name[:12]
        problems.append(
            PreflightProblem(
                job.image_fields.get((asset.width, asset.height), "images") if asset else "images",
                Severity.WARNING,
                f"The image {label} is RGB and was converted to CMYK without a colour profile; "
                "colours may shift. For exact colours upload a CMYK version.",
            )
        )
    problems += check_pdf(
        data,
        job.profile,
        cmyk=job.cmyk,
        variant_keys=[v.key for v in job.variants],
        image_fields=job.image_fields,
        text_fields=_text_fields(job),
    )
    return problems


def _text_fields(job: _PrintJob) -> list[tuple[str, str]]:
    content = job.content
    fields = [
        ("headline", content.headline),
        ("subheadline", content.subheadline),
        ("body", content.body),
        ("call_to_action", content.call_to_action),
        ("qr_url", content.qr_url),
        ("footer_note", content.footer_note),
    ]
    for variant in job.variants:
        if variant.partner:
            partner = variant.partner
            fields.append(
                (
                    "partner",
                    " ".join(
                        [
                            partner.name,
                            partner.contact_name,
                            partner.contact_title,
                            partner.contact_email,
                            partner.contact_phone,
                        ]
                    ),
                )
            )
    return [(name, " ".join(value.split())) for name, value in fields if value]


def _field_of_text(text: str, fields: Iterable[tuple[str, str]]) -> str:
    snippet = " ".join(text.split())[:24]
    for name, value in fields:
        if snippet and snippet in value:
            return name
    return "layout"


def check_pdf(
    data: bytes,
    profile: PrintProfile,
    *,
    cmyk: bool,
    variant_keys: Sequence[str] = (),
    image_fields: dict[tuple[int, int], str] | None = None,
    text_fields: Iterable[tuple[str, str]] = (),
) -> list[PreflightProblem]:
    """Preflight checks that read a finished PDF (ours or anyone's) against a profile."""
    import pypdfium2
    import pypdfium2.raw as pdfium_c

    image_fields = image_fields or {}
    text_fields = list(text_fields)
    problems: list[PreflightProblem] = []
    width, height, safe = profile.width_pt, profile.height_pt, profile.safe_pt
    tolerance = 0.5  # points; glyph boxes are approximate
    document = pypdfium2.PdfDocument(data)
    try:
        for index in range(len(document)):
            page = document[index]
            key = variant_keys[index] if index < len(variant_keys) else ""
            where = f" (page {index + 1}{', ' + key if key else ''})"
            for image in page.get_objects(filter=(pdfium_c.FPDF_PAGEOBJ_IMAGE,)):
                metadata = image.get_metadata()
                ppi = min(metadata.horizontal_dpi, metadata.vertical_dpi)
                if ppi and ppi < MIN_PPI:
                    area = image_fields.get((metadata.width, metadata.height), "images")
                    severity = Severity.ERROR if ppi < POOR_PPI else Severity.WARNING
                    problems.append(
                        PreflightProblem(
                            area,
                            severity,
                            f"An image ({metadata.width} x {metadata.height} px) prints at "
                            f"{ppi:.0f} ppi{where}; print needs {MIN_PPI} ppi. Use a larger "
                            "image or print it smaller.",
                            index + 1,
                            key,
                        )
                    )
            text_page = page.get_textpage()
            problems += _missing_text(text_page, text_fields, where, index + 1, key)
            for rect_index in range(text_page.count_rects()):
                left, bottom, right, top = text_page.get_rect(rect_index)
                text = " ".join(text_page.get_text_bounded(left, bottom, right, top).split())
                if not text:
                    continue
                shown = text if len(text) <= 40 else text[:39] + "…"
                area = _field_of_text(text, text_fields)
                outside_trim = (
                    left < -tolerance
                    or bottom < -tolerance
                    or right > width + tolerance
                    or top > height + tolerance
                )
                outside_safe = (
                    left < safe - tolerance
                    or bottom < safe - tolerance
                    or right > width - safe + tolerance
                    or top > height - safe + tolerance
                )
                if outside_trim:
                    problems.append(
                        PreflightProblem(
                            area,
                            Severity.ERROR,
                            f"The text “{shown}” runs into the bleed or off the page{where} "
                            "and will be cut off. Shorten it or make it smaller.",
                            index + 1,
                            key,
                        )
                    )
                elif outside_safe:
                    problems.append(
                        PreflightProblem(
                            area,
                            Severity.WARNING,
                            f"The text “{shown}” is outside the safe area{where} "
                            f"({profile.safe_margin:g} in from the edge); the cut may touch it.",
                            index + 1,
                            key,
                        )
                    )
            text_page.close()
            page.close()
    finally:
        document.close()
    problems += _font_problems(data)
    if cmyk:
        problems += _rgb_problems(data, variant_keys)
    return problems


# Fields whose whole text must be printed; overflowing text is dropped by the layout.
_FIELDS_THAT_MUST_FIT = ("headline", "subheadline", "body", "call_to_action", "footer_note")


def _missing_text(
    text_page: object, text_fields: list[tuple[str, str]], where: str, page: int, key: str
) -> list[PreflightProblem]:
    """Fields whose end is not on the page: the layout ran out of room and cut them."""
    printed = re.sub(r"\s+", "", text_page.get_text_range())  # type: ignore[attr-defined]
    problems = []
    for name, value in text_fields:
        ending = re.sub(r"\s+", "", value)[-80:]
        if name in _FIELDS_THAT_MUST_FIT and ending and ending not in printed:
            problems.append(
                PreflightProblem(
                    name,
                    Severity.ERROR,
                    f"The {name.replace('_', ' ')} does not fit{where}: its end is cut off. "
                    "Shorten it or choose a larger format.",
                    page,
                    key,
                )
            )
    return problems


def _font_problems(data: bytes) -> list[PreflightProblem]:
    problems = []
    for name, embedded in pdf_fonts(data):
        if not embedded:
            problems.append(
                PreflightProblem(
                    "fonts",
                    Severity.ERROR,
                    f"The font {name} is not embedded; the printer would substitute another.",
                )
            )
    return problems


def pdf_fonts(data: bytes) -> list[tuple[str, bool]]:
    """Every font used in the PDF (by base name) and whether its glyphs are embedded."""
    found: dict[str, bool] = {}
    with pikepdf.open(io.BytesIO(data)) as pdf:
        seen: set[tuple[int, int]] = set()
        for page in pdf.pages:
            _collect_fonts(page.obj.get("/Resources"), found, seen)
    return sorted(found.items())


def _collect_fonts(resources: object, found: dict[str, bool], seen: set) -> None:
    if not isinstance(resources, pikepdf.Dictionary):
        return
    for font in (resources.get("/Font") or {}).values():
        if font.get("/Subtype") == "/Type3":
            found[str(font.get("/Name", "Type3"))] = True
            _collect_fonts(font.get("/Resources"), found, seen)
            continue
        descriptor_font = font
        if font.get("/Subtype") == "/Type0":
            descriptor_font = font.DescendantFonts[0]
        descriptor = descriptor_font.get("/FontDescriptor")
        embedded = descriptor is not None and any(
            key in descriptor for key in ("/FontFile", "/FontFile2", "/FontFile3")
        )
        found[str(font.get("/BaseFont", "unnamed"))] = embedded
    for xobject in (resources.get("/XObject") or {}).values():
        if xobject.get("/Subtype") == "/Form" and xobject.objgen not in seen:
            seen.add(xobject.objgen)
            _collect_fonts(xobject.get("/Resources"), found, seen)


_RGB_OPERATORS = {"rg", "RG"}


def _rgb_problems(data: bytes, variant_keys: Sequence[str]) -> list[PreflightProblem]:
    problems = []
    with pikepdf.open(io.BytesIO(data)) as pdf:
        for index, page in enumerate(pdf.pages):
            key = variant_keys[index] if index < len(variant_keys) else ""
            colours, images = _rgb_use(page.obj, set())
            if colours:
                problems.append(
                    PreflightProblem(
                        "colour",
                        Severity.ERROR,
                        f"Page {index + 1} paints {colours} time(s) in RGB although CMYK was "
                        "asked for. Use brand-kit colours only.",
                        index + 1,
                        key,
                    )
                )
            if images:
                problems.append(
                    PreflightProblem(
                        "images",
                        Severity.ERROR,
                        f"Page {index + 1} has {images} RGB image(s) although CMYK was asked for.",
                        index + 1,
                        key,
                    )
                )
    return problems


def _is_rgb_space(space: object) -> bool:
    if space == "/DeviceRGB" or space == "/CalRGB":
        return True
    if isinstance(space, pikepdf.Array) and len(space) > 1:
        family = space[0]
        if family == "/ICCBased":
            return int(space[1].get("/N", 0)) == 3
        if family == "/Indexed":
            return _is_rgb_space(space[1])
    return False


def _rgb_use(holder: pikepdf.Object, seen: set) -> tuple[int, int]:
    """How often a page (or form) paints with RGB colour, and how many RGB images it draws."""
    resources = holder.get("/Resources") or pikepdf.Dictionary()
    named_spaces = resources.get("/ColorSpace") or {}
    xobjects = resources.get("/XObject") or {}
    colours = images = 0
    for operands, operator in pikepdf.parse_content_stream(holder):
        name = str(operator)
        if name in _RGB_OPERATORS:
            colours += 1
        elif name in ("cs", "CS") and operands:
            space = operands[0]
            resolved = named_spaces.get(str(space), space) if str(space).startswith("/") else space
            if _is_rgb_space(resolved) or _is_rgb_space(space):
                colours += 1
        elif name == "Do" and operands:
            xobject = xobjects.get(str(operands[0]))
            if xobject is None:
                continue
            if xobject.get("/Subtype") == "/Image":
                if _is_rgb_space(xobject.get("/ColorSpace")):
                    images += 1
            elif xobject.get("/Subtype") == "/Form" and xobject.objgen not in seen:
                seen.add(xobject.objgen)
                more_colours, more_images = _rgb_use(xobject, seen)
                colours += more_colours
                images += more_images
    return colours, images


# --- proofs -------------------------------------------------------------------------------------


def render_proof_png(data: bytes, *, page: int = 0, max_px: int = 900) -> bytes:
    """A PNG of one page of a PDF (the whole MediaBox), longest side `max_px`.

    Rendered in-process with pypdfium2 (PDFium, shipped in its wheel), so proofs need no
    external program and no temporary files.
    """
    import pypdfium2

    document = pypdfium2.PdfDocument(data)
    try:
        if not 0 <= page < len(document):
            raise CreativeError(f"The PDF has no page {page + 1}.")
        pdf_page = document[page]
        scale = max_px / max(pdf_page.get_width(), pdf_page.get_height())
        image = pdf_page.render(scale=scale).to_pil().convert("RGB")
    finally:
        document.close()
    output = io.BytesIO()
    image.save(output, "PNG", optimize=True)
    return output.getvalue()


def proof_png(
    session: Session,
    version_id: int,
    *,
    profile: PrintProfile | str | None = None,
    variant_key: str | None = None,
    max_px: int = 900,
    content: PrintContent | None = None,
) -> bytes:
    """A proof of one variant (default: the first) with the trim (red) and safe area (blue).

    `content` previews unsaved edits (the editor's live preview) instead of the version's.
    """
    version = get_version(session, version_id)
    keys = None if variant_key is None else [variant_key]
    job = _print_job(session, version, profile, keys, None, content)
    if len(job.variants) > 1:
        job = _print_job(session, version, job.profile, [job.variants[0].key], None, content)
    data, _ = _render_pdf(session, job, crop_marks=False, pdf_variant=None)
    with Image.open(io.BytesIO(render_proof_png(data, max_px=max_px))) as source:
        image = source.convert("RGB")
    profile = job.profile
    scale = image.width / (profile.width_pt + 2 * profile.bleed_pt)
    bleed = profile.bleed_pt * scale
    safe = (profile.bleed_pt + profile.safe_pt) * scale
    draw = ImageDraw.Draw(image)
    draw.rectangle((bleed, bleed, image.width - bleed, image.height - bleed), outline=(220, 0, 0))
    draw.rectangle((safe, safe, image.width - safe, image.height - safe), outline=(0, 90, 220))
    output = io.BytesIO()
    image.save(output, "PNG", optimize=True)
    return output.getvalue()
