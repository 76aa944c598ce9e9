"""The asset library checks uploads by content, refuses bad ones whole, and deduplicates."""

import io

import pytest
from PIL import Image
from sqlalchemy import func, select

from campaign_manager.core.config import AssetSettings
from campaign_manager.core.storage import storage_of
from creatives.assets import find_assets, update_asset, upload_asset
from creatives.errors import UploadRejected
from creatives.models import Asset, AssetKind
from tests.creatives.conftest import LIMITS, image_bytes


def a_pdf(pages: int = 1) -> bytes:
    output = io.BytesIO()
    images = [Image.new("RGB", (200, 300), "white") for _ in range(pages)]
    images[0].save(output, "PDF", save_all=True, append_images=images[1:], resolution=72)
    return output.getvalue()


def nothing_stored(db) -> bool:
    return db.scalar(select(func.count()).select_from(Asset)) == 0 and storage_of(db).count() == 0


@pytest.mark.parametrize(
    ("fmt", "mime"),
    [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("WEBP", "image/webp"), ("GIF", "image/gif")],
)
def test_each_image_type_is_recognised_by_content(db, fmt, mime):
    data = image_bytes(64, 48, fmt)
    # The declared name says nothing useful; only the bytes decide.
    result = upload_asset(db, data, limits=LIMITS, filename="upload", alt_text="x")
    assert result.created
    asset = result.asset
    assert (asset.kind, asset.mime, asset.width, asset.height) == (AssetKind.IMAGE, mime, 64, 48)
    assert storage_of(db).get(asset.sha256) == data
    with Image.open(io.BytesIO(storage_of(db).get(asset.thumbnail_sha256))) as thumbnail:
        assert max(thumbnail.size) <= LIMITS.thumbnail_px


def test_a_pdf_is_recognised_with_its_pages_and_a_thumbnail(db):
    asset = upload_asset(db, a_pdf(pages=3), limits=LIMITS, filename="flyer.pdf").asset
    assert (asset.kind, asset.mime, asset.page_count) == (AssetKind.PDF, "application/pdf", 3)
    assert (asset.width, asset.height) == (200, 300)
    with Image.open(io.BytesIO(storage_of(db).get(asset.thumbnail_sha256))) as thumbnail:
        assert thumbnail.format in ("PNG", "JPEG")


def test_the_same_bytes_twice_are_one_asset(db):
    data = image_bytes(10, 10)
    first = upload_asset(db, data, limits=LIMITS, filename="a.png")
    second = upload_asset(db, data, limits=LIMITS, filename="b.png")
    assert first.created and not second.created
    assert first.asset.id == second.asset.id
    assert storage_of(db).count() == 2  # the file and its thumbnail


def test_a_png_renamed_pdf_is_refused_and_nothing_is_stored(db):
    with pytest.raises(UploadRejected, match=r"named 'report.pdf' but its content is a PNG image"):
        upload_asset(db, image_bytes(20, 20), limits=LIMITS, filename="report.pdf")
    assert nothing_stored(db)


def test_a_decompression_bomb_is_refused_before_decoding(db):
    # 20,000 x 20,000 one-bit pixels compress to a few kilobytes.
    output = io.BytesIO()
    Image.new("1", (20_000, 20_000)).save(output, "PNG")
    assert len(output.getvalue()) < 200_000
    with pytest.raises(UploadRejected, match="decompression bomb"):
        upload_asset(db, output.getvalue(), limits=LIMITS, filename="bomb.png")
    assert nothing_stored(db)


def test_the_configured_pixel_limit_applies_below_pillows_own(db):
    limits = AssetSettings(max_image_pixels=1_000_000)
    with pytest.raises(UploadRejected, match=r"2000 x 1000 pixels .* at most 1 million"):
        upload_asset(db, image_bytes(2000, 1000), limits=limits, filename="big.png")
    assert nothing_stored(db)


def test_an_oversized_file_is_refused_and_nothing_is_stored(db):
    limits = AssetSettings(max_image_mb=0.01)
    data = Image.effect_noise((200, 200), 100).convert("RGB")
    output = io.BytesIO()
    data.save(output, "PNG")
    assert len(output.getvalue()) > 10_000
    with pytest.raises(UploadRejected, match=r"images may be at most 0.01 MB"):
        upload_asset(db, output.getvalue(), limits=limits, filename="noise.png")
    assert nothing_stored(db)


def test_a_file_over_every_limit_is_refused_before_it_is_even_opened(db):
    limits = AssetSettings(max_image_mb=0.001, max_pdf_mb=0.001)
    with pytest.raises(UploadRejected, match="the library accepts at most"):
        upload_asset(db, b"\0" * 5000, limits=limits, filename="zeros.bin")
    assert nothing_stored(db)


def test_a_png_with_a_pdf_appended_is_a_polyglot_and_refused(db):
    polyglot = image_bytes(30, 30) + a_pdf()
    with pytest.raises(UploadRejected, match="polyglot"):
        upload_asset(db, polyglot, limits=LIMITS, filename="innocent.png")
    assert nothing_stored(db)


def test_a_gif_with_a_script_after_its_trailer_is_a_polyglot(db):
    polyglot = image_bytes(8, 8, "GIF") + b"alert(document.cookie);"
    with pytest.raises(UploadRejected, match="bytes of other data after its end"):
        upload_asset(db, polyglot, limits=LIMITS, filename="x.gif")
    assert nothing_stored(db)


def test_a_jpeg_with_a_zip_appended_is_a_polyglot(db):
    polyglot = image_bytes(40, 40, "JPEG") + b"PK\x03\x04" + b"\0" * 40
    with pytest.raises(UploadRejected, match="polyglot"):
        upload_asset(db, polyglot, limits=LIMITS, filename="photo.jpg")
    assert nothing_stored(db)


def test_an_image_hiding_a_pdf_header_is_a_polyglot(db):
    png = image_bytes(30, 30)
    # A PNG text chunk carrying a PDF header inside the first 1024 bytes.
    import struct
    import zlib

    text = b"Comment\0%PDF-1.7 pretend"
    chunk = struct.pack(">I", len(text)) + b"tEXt" + text
    chunk += struct.pack(">I", zlib.crc32(b"tEXt" + text))
    sneaky = png[:33] + chunk + png[33:]
    with pytest.raises(UploadRejected, match="both an image and a PDF"):
        upload_asset(db, sneaky, limits=LIMITS, filename="sneaky.png")
    assert nothing_stored(db)


def test_svg_is_refused(db):
    svg = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>x</script></svg>'
    with pytest.raises(UploadRejected, match="SVG files are not accepted"):
        upload_asset(db, svg, limits=LIMITS, filename="logo.png")
    assert nothing_stored(db)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"just some text", "not a readable image or PDF"),
        (image_bytes(10, 10)[:60], "truncated or damaged"),
        (b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\n", "no end-of-file marker"),
    ],
    ids=["empty", "text", "truncated-png", "truncated-pdf"],
)
def test_unreadable_files_are_refused(db, data, message):
    with pytest.raises(UploadRejected, match=message):
        upload_asset(db, data, limits=LIMITS, filename="")
    assert nothing_stored(db)


def test_a_pdf_with_javascript_is_refused(db):
    pdf = a_pdf().replace(b"/Type /Catalog", b"/Type /Catalog /OpenAction << /S /JavaScript >>")
    with pytest.raises(UploadRejected, match="scripts or automatic actions"):
        upload_asset(db, pdf, limits=LIMITS, filename="x.pdf")
    assert nothing_stored(db)


def test_other_image_formats_are_refused(db):
    output = io.BytesIO()
    Image.new("RGB", (10, 10)).save(output, "BMP")
    with pytest.raises(UploadRejected, match="BMP images are not accepted"):
        upload_asset(db, output.getvalue(), limits=LIMITS, filename="x.bmp")


def test_metadata_tags_and_search(db):
    first = upload_asset(
        db,
        image_bytes(10, 10),
        limits=LIMITS,
        filename="shop.png",
        title="Paint shop",
        alt_text="A technician sprays a bumper",
        tags="Students, paint ,students",
        licence="CC BY 4.0",
        credit="Coalition photo",
    ).asset
    upload_asset(db, a_pdf(), limits=LIMITS, filename="brochure.pdf", tags=["print"])
    assert first.tags == ["paint", "students"]
    assert [a.id for a in find_assets(db, tag="students")] == [first.id]
    assert [a.id for a in find_assets(db, text="bumper technician")] == [first.id]
    assert [a.kind for a in find_assets(db, kind=AssetKind.PDF)] == [AssetKind.PDF]
    update_asset(
        db, first.id, title="Paint booth", alt_text="New alt", tags="parents", licence="", credit=""
    )
    db.flush()
    assert first.tags == ["parents"]
    assert find_assets(db, tag="students") == []
