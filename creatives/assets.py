"""The asset library: upload images and PDFs, checked by content, stored content-addressed.

The declared name and MIME type of an upload are never trusted: the bytes are opened with
Pillow (PNG, JPEG, WebP, GIF) or pypdf (PDF) and must be exactly one whole file of that
type. That refuses, each with a message saying why:
- SVG (it can carry scripts), and anything else we do not print or post;
- decompression bombs (too many pixels, checked from the header before decoding);
- polyglots: a file with more data after the end of the image, or a PDF header hidden in
  an image, which other programs would open as something else;
- PDFs that are encrypted or carry JavaScript or launch actions.
All checks run before anything is written, so a refused upload stores nothing. The same
bytes uploaded twice are one asset.
"""

from __future__ import annotations

import io
import struct
import warnings
from collections.abc import Iterable
from dataclasses import dataclass

from PIL import Image, ImageOps
from pypdf import PdfReader
from pypdf.errors import PdfReadError
from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from campaign_manager.core.config import AssetSettings
from campaign_manager.core.storage import sha256_of, storage_of
from creatives.errors import CreativeError, UploadRejected
from creatives.models import MIME_EXTENSIONS, Asset, AssetKind, AssetTag

IMAGE_FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp", "GIF": "image/gif"}
ACCEPTED_TYPES = "PNG, JPEG, WebP or GIF images, or PDF files"
# PDF readers accept the header anywhere in the first 1024 bytes; images must not hold one.
PDF_HEADER_WINDOW = 1024
MAX_TAGS = 20
# What a file name's extension claims; a claim that contradicts the content is refused, so
# nothing in the library is named as something it is not.
EXTENSION_TYPES = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "webp": "image/webp",
    "gif": "image/gif",
    "pdf": "application/pdf",
    "svg": "image/svg+xml",
}
TYPE_NAMES = {
    "image/png": "a PNG image",
    "image/jpeg": "a JPEG image",
    "image/webp": "a WebP image",
    "image/gif": "a GIF image",
    "application/pdf": "a PDF",
}


@dataclass(frozen=True)
class InspectedFile:
    kind: AssetKind
    mime: str
    width: int
    height: int
    page_count: int = 1


@dataclass(frozen=True)
class UploadResult:
    asset: Asset
    # False when the same bytes were already in the library.
    created: bool


def _megabytes(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB"


def inspect_upload(data: bytes, limits: AssetSettings) -> InspectedFile:
    """What the bytes really are, or UploadRejected saying why they are not acceptable."""
    if not data:
        raise UploadRejected("The file is empty.")
    largest = max(limits.max_image_mb, limits.max_pdf_mb) * 1_000_000
    if len(data) > largest:
        raise UploadRejected(
            f"The file is {_megabytes(len(data))}; the library accepts at most "
            f"{limits.max_image_mb:g} MB for images and {limits.max_pdf_mb:g} MB for PDFs."
        )
    head = data[:PDF_HEADER_WINDOW].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith((b"<?xml", b"<svg", b"<!doctype svg")) or b"<svg" in head:
        raise UploadRejected(
            "SVG files are not accepted because they can contain scripts. "
            "Export the graphic as PNG (or PDF for print) and upload that."
        )
    if data.startswith(b"%PDF-"):
        return _inspect_pdf(data, limits)
    return _inspect_image(data, limits)


def _inspect_image(data: bytes, limits: AssetSettings) -> InspectedFile:
    try:
        with warnings.catch_warnings():
            # Pillow only warns between its limit and twice that; treat it as the error it is.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                image_format = image.format
                width, height = image.size
                if image_format in IMAGE_FORMATS and width * height > limits.max_image_pixels:
                    raise UploadRejected(_bomb_message(width, height, limits))
                if image_format in IMAGE_FORMATS:
                    image.load()
    except UploadRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise UploadRejected(
            "The image declares more pixels than the library accepts (a possible "
            "decompression bomb). Upload a smaller image."
        ) from None
    except (OSError, SyntaxError, ValueError, struct.error, EOFError):
        raise UploadRejected(
            f"The file is not a readable image or PDF. The library accepts {ACCEPTED_TYPES}; "
            "the file name and type are not enough, the content must be one of these."
        ) from None
    if image_format not in IMAGE_FORMATS:
        raise UploadRejected(
            f"{image_format} images are not accepted. The library accepts {ACCEPTED_TYPES}."
        )
    if b"%PDF-" in data[:PDF_HEADER_WINDOW]:
        raise UploadRejected(
            "The file is both an image and a PDF (a polyglot file), which other programs "
            "would open differently. Export the image again and upload that."
        )
    extra = bytes_after_image_end(image_format, data)
    if extra:
        raise UploadRejected(
            f"The {image_format} image has {extra} bytes of other data after its end "
            "(a polyglot file, which other programs may open as something else). "
            "Export the image again and upload that."
        )
    if len(data) > limits.max_image_mb * 1_000_000:
        raise UploadRejected(
            f"The image is {_megabytes(len(data))}; images may be at most "
            f"{limits.max_image_mb:g} MB. Export it smaller or more compressed."
        )
    return InspectedFile(AssetKind.IMAGE, IMAGE_FORMATS[image_format], width, height)


def _bomb_message(width: int, height: int, limits: AssetSettings) -> str:
    return (
        f"The image is {width} x {height} pixels ({width * height / 1e6:.0f} million); the "
        f"library accepts at most {limits.max_image_pixels / 1e6:.0f} million pixels "
        "(a guard against decompression bombs). Scale it down and upload it again."
    )


def _inspect_pdf(data: bytes, limits: AssetSettings) -> InspectedFile:
    if len(data) > limits.max_pdf_mb * 1_000_000:
        raise UploadRejected(
            f"The PDF is {_megabytes(len(data))}; PDFs may be at most {limits.max_pdf_mb:g} MB."
        )
    end = data.rstrip().rfind(b"%%EOF")
    if end < 0:
        raise UploadRejected("The PDF is incomplete (it has no end-of-file marker).")
    if data[end + 5 :].strip():
        raise UploadRejected(
            "The PDF has other data after its end (a polyglot file). Save it again as PDF."
        )
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            raise UploadRejected("The PDF is encrypted. Upload a copy without a password.")
        page_count = len(reader.pages)
        if page_count == 0:
            raise UploadRejected("The PDF has no pages.")
        box = reader.pages[0].mediabox
        width, height = round(float(box.width)), round(float(box.height))
        catalog = reader.trailer["/Root"]
        names = catalog.get("/Names")
        has_script = bool(names and "/JavaScript" in names.get_object()) or (
            "/OpenAction" in catalog or "/AA" in catalog
        )
    except UploadRejected:
        raise
    except (PdfReadError, KeyError, ValueError, TypeError, AttributeError):
        raise UploadRejected("The PDF cannot be read; it may be damaged. Save it again.") from None
    if has_script or b"/JavaScript" in data or b"/Launch" in data:
        raise UploadRejected(
            "The PDF contains scripts or automatic actions, which the library refuses. "
            "Export a plain PDF (for print, PDF/X) and upload that."
        )
    return InspectedFile(AssetKind.PDF, "application/pdf", width, height, page_count)


# --- where an image file really ends ---------------------------------------------------------


def bytes_after_image_end(image_format: str, data: bytes) -> int:
    """How many bytes follow the format's own end of file (0 for a clean file)."""
    try:
        end = {
            "PNG": _png_end,
            "JPEG": _jpeg_end,
            "GIF": _gif_end,
            "WEBP": _webp_end,
        }[image_format](data)
    except (IndexError, struct.error):
        raise UploadRejected(f"The {image_format} image is truncated or damaged.") from None
    return max(0, len(data) - end)


def _png_end(data: bytes) -> int:
    position = 8
    while True:
        (length,) = struct.unpack(">I", data[position : position + 4])
        chunk_type = data[position + 4 : position + 8]
        position += 12 + length
        if chunk_type == b"IEND":
            return position
        if position > len(data):
            raise IndexError("chunk past the end")


def _jpeg_end(data: bytes) -> int:
    position = 2  # after SOI
    while True:
        if data[position] != 0xFF:
            raise IndexError("expected a marker")
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        if marker == 0xD9:  # EOI
            return position + 2
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:
            position += 2
            continue
        (length,) = struct.unpack(">H", data[position + 2 : position + 4])
        position += 2 + length
        if marker == 0xDA:  # start of scan: entropy-coded data until the next real marker
            while True:
                position = data.index(b"\xff", position)
                following = data[position + 1]
                if following == 0x00 or 0xD0 <= following <= 0xD7:
                    position += 2
                    continue
                break


def _gif_end(data: bytes) -> int:
    flags = data[10]
    position = 13
    if flags & 0x80:
        position += 3 * (2 ** ((flags & 0x07) + 1))
    while True:
        block = data[position]
        if block == 0x3B:  # trailer
            return position + 1
        if block == 0x21:  # extension: label, then sub-blocks
            position = _skip_sub_blocks(data, position + 2)
        elif block == 0x2C:  # image descriptor, optional local colour table, LZW data
            local_flags = data[position + 9]
            position += 10
            if local_flags & 0x80:
                position += 3 * (2 ** ((local_flags & 0x07) + 1))
            position = _skip_sub_blocks(data, position + 1)
        else:
            raise IndexError("unknown GIF block")


def _skip_sub_blocks(data: bytes, position: int) -> int:
    while True:
        size = data[position]
        position += 1 + size
        if size == 0:
            return position


def _webp_end(data: bytes) -> int:
    (size,) = struct.unpack("<I", data[4:8])
    return 8 + size + (size & 1)


# --- thumbnails -----------------------------------------------------------------------------


def make_thumbnail(data: bytes, inspected: InspectedFile, longest_side: int) -> bytes:
    """A small PNG (images with transparency) or JPEG preview of the file's first page."""
    if inspected.kind is AssetKind.PDF:
        import pypdfium2

        document = pypdfium2.PdfDocument(data)
        try:
            page = document[0]
            scale = longest_side / max(page.get_width(), page.get_height())
            image = page.render(scale=min(scale, 4)).to_pil()
        finally:
            document.close()
    else:
        with Image.open(io.BytesIO(data)) as source:
            if source.format == "JPEG":
                source.draft("RGB", (longest_side, longest_side))
            image = ImageOps.exif_transpose(source)
            image.thumbnail((longest_side, longest_side))
            image = image.copy()
    output = io.BytesIO()
    if image.mode in ("RGBA", "LA", "P"):
        image.convert("RGBA").save(output, "PNG", optimize=True)
    else:
        image.convert("RGB").save(output, "JPEG", quality=82)
    return output.getvalue()


# --- the library ----------------------------------------------------------------------------


def _check_name_matches(filename: str, inspected: InspectedFile) -> None:
    extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    claimed = EXTENSION_TYPES.get(extension)
    if claimed and claimed != inspected.mime:
        real = TYPE_NAMES[inspected.mime]
        raise UploadRejected(
            f"The file is named {filename!r} but its content is {real}. Give it the right "
            f"extension (.{MIME_EXTENSIONS[inspected.mime]}) and upload it again."
        )


def normalize_tags(tags: Iterable[str] | str) -> list[str]:
    if isinstance(tags, str):
        tags = tags.split(",")
    cleaned = sorted({" ".join(tag.split()).lower()[:64] for tag in tags if tag.strip()})
    if len(cleaned) > MAX_TAGS:
        raise CreativeError(f"At most {MAX_TAGS} tags per asset.")
    return cleaned


def upload_asset(
    session: Session,
    data: bytes,
    *,
    limits: AssetSettings,
    filename: str = "",
    title: str = "",
    alt_text: str = "",
    tags: Iterable[str] | str = (),
    licence: str = "",
    credit: str = "",
) -> UploadResult:
    """Check and store an upload; the same bytes again return the existing asset."""
    inspected = inspect_upload(data, limits)
    _check_name_matches(filename, inspected)
    sha256 = sha256_of(data)
    existing = session.scalar(select(Asset).where(Asset.sha256 == sha256))
    if existing is not None:
        return UploadResult(existing, created=False)
    thumbnail = make_thumbnail(data, inspected, limits.thumbnail_px)
    storage = storage_of(session)
    asset = Asset(
        sha256=sha256,
        kind=inspected.kind,
        mime=inspected.mime,
        size_bytes=len(data),
        width=inspected.width,
        height=inspected.height,
        page_count=inspected.page_count,
        filename=filename.replace("\\", "/").rsplit("/", 1)[-1][:255],
        title=title.strip()[:200],
        alt_text=alt_text.strip(),
        licence=licence.strip()[:200],
        credit=credit.strip()[:300],
        thumbnail_sha256=sha256_of(thumbnail),
    )
    asset.tag_rows = [AssetTag(tag=tag) for tag in normalize_tags(tags)]
    session.add(asset)
    session.flush()
    # Files last: everything that can refuse the upload has already run.
    storage.put(data)
    storage.put(thumbnail)
    return UploadResult(asset, created=True)


def update_asset(
    session: Session,
    asset_id: int,
    *,
    title: str,
    alt_text: str,
    tags: Iterable[str] | str,
    licence: str,
    credit: str,
) -> Asset:
    asset = get_asset(session, asset_id)
    asset.title = title.strip()[:200]
    asset.alt_text = alt_text.strip()
    asset.licence = licence.strip()[:200]
    asset.credit = credit.strip()[:300]
    wanted = normalize_tags(tags)
    asset.tag_rows = [row for row in asset.tag_rows if row.tag in wanted] + [
        AssetTag(tag=tag) for tag in wanted if tag not in asset.tags
    ]
    return asset


def get_asset(session: Session, asset_id: int) -> Asset:
    asset = session.get(Asset, asset_id)
    if asset is None:
        raise CreativeError(f"There is no asset number {asset_id}.")
    return asset


def asset_bytes(session: Session, asset: Asset) -> bytes:
    return storage_of(session).get(asset.sha256)


def assets_query(
    *, kind: AssetKind | None = None, tag: str = "", text: str = ""
) -> Select[tuple[Asset]]:
    """Library search, unordered: by kind, by tag, and by words in title, file name, alt text
    or credit."""
    query = select(Asset)
    if kind is not None:
        query = query.where(Asset.kind == kind)
    if tag.strip():
        query = query.where(
            Asset.id.in_(select(AssetTag.asset_id).where(AssetTag.tag == tag.strip().lower()))
        )
    for word in text.split():
        pattern = f"%{word.lower()}%"
        query = query.where(
            or_(
                func.lower(Asset.title).like(pattern),
                func.lower(Asset.filename).like(pattern),
                func.lower(Asset.alt_text).like(pattern),
                func.lower(Asset.credit).like(pattern),
            )
        )
    return query


def find_assets(
    session: Session,
    *,
    kind: AssetKind | None = None,
    tag: str = "",
    text: str = "",
    limit: int = 200,
) -> list[Asset]:
    """The library's newest matching assets (see assets_query)."""
    query = assets_query(kind=kind, tag=tag, text=text)
    return list(
        session.scalars(query.order_by(Asset.created_at.desc(), Asset.id.desc()).limit(limit))
    )


def all_tags(session: Session) -> list[str]:
    return list(session.scalars(select(AssetTag.tag).distinct().order_by(AssetTag.tag)))
