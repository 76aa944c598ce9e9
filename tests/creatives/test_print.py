"""Print PDFs read back with pikepdf and pypdf: boxes, fonts, variants; and preflight."""

import io

import pikepdf
import pytest
from PIL import Image
from pypdf import PdfReader

from creatives.brand import BrandKitFields, save_brand_kit
from creatives.editing import save_variant
from creatives.errors import CreativeError, Severity
from creatives.print_profiles import PROFILES, get_profile
from creatives.printing import check_pdf, pdf_fonts, preflight, proof_png, render_print_pdf
from creatives.versions import create_creative
from tests.creatives.conftest import print_content

POSTCARD = get_profile("postcard-4x6")


def boxes(data: bytes) -> list[dict[str, list[float]]]:
    with pikepdf.open(io.BytesIO(data)) as pdf:
        return [
            {
                name: [float(v) for v in page.obj[f"/{name}"]]
                for name in ("MediaBox", "TrimBox", "BleedBox")
            }
            for page in pdf.pages
        ]


def test_page_size_is_trim_plus_bleed_with_exact_boxes(db, print_creative):
    (pdf,) = render_print_pdf(db, print_creative.current_version.id, variant_keys=["lincoln-high"])
    assert pdf.pages == 1 and pdf.variant_key == "lincoln-high"
    assert pdf.filename == "postcard-v1-postcard-4x6-lincoln-high.pdf"
    (page,) = boxes(pdf.data)
    bleed = 0.125 * 72
    assert page["TrimBox"] == [0, 0, 6 * 72, 4 * 72]
    assert page["BleedBox"] == [-bleed, -bleed, 6 * 72 + bleed, 4 * 72 + bleed]
    assert page["MediaBox"] == page["BleedBox"]
    reader = PdfReader(io.BytesIO(pdf.data))
    width, height = float(reader.pages[0].mediabox.width), float(reader.pages[0].mediabox.height)
    assert (width, height) == (6 * 72 + 2 * bleed, 4 * 72 + 2 * bleed)


@pytest.mark.parametrize("key", sorted(PROFILES))
def test_every_profile_gives_trim_plus_twice_its_bleed(key):
    profile = PROFILES[key]
    assert profile.bleed > 0 and 0 < profile.safe_margin < min(profile.width, profile.height) / 4
    assert profile.width_pt + 2 * profile.bleed_pt == pytest.approx(
        (profile.width + 2 * profile.bleed) * 72
    )


def test_a_and_us_sizes_are_right():
    assert PROFILES["a4"].width_pt == pytest.approx(595.276, abs=0.01)
    assert PROFILES["a4"].bleed_pt == pytest.approx(8.504, abs=0.01)  # 3 mm
    assert (PROFILES["poster-18x24"].width, PROFILES["poster-18x24"].height) == (18, 24)
    assert PROFILES["letter-flyer"].bleed == 0.125


def test_one_file_holds_a_page_per_co_brand_partner_and_every_font_is_embedded(db, print_creative):
    (pdf,) = render_print_pdf(db, print_creative.current_version.id)
    assert pdf.variant_key is None and pdf.pages == 3
    reader = PdfReader(io.BytesIO(pdf.data))
    texts = [page.extract_text() for page in reader.pages]
    for text, school in zip(
        texts, ["Jefferson Tech", "Lincoln High", "Roosevelt High"], strict=True
    ):
        assert f"In partnership with {school}" in text
    fonts = pdf_fonts(pdf.data)
    assert fonts and all(embedded for _, embedded in fonts)
    assert any("OpenSans" in name or "Open-Sans" in name for name, _ in fonts)


def test_one_file_per_variant(db, print_creative):
    files = render_print_pdf(
        db,
        print_creative.current_version.id,
        variant_keys=["roosevelt-high", "lincoln-high"],
        one_file=False,
    )
    assert [f.variant_key for f in files] == ["roosevelt-high", "lincoln-high"]
    assert [f.pages for f in files] == [1, 1]
    assert len({f.sha256 for f in files}) == 2
    assert "Roosevelt High" in PdfReader(io.BytesIO(files[0].data)).pages[0].extract_text()


def test_each_variant_has_its_own_qr_target(db, print_creative):
    from creatives.printing import _print_job
    from creatives.versions import get_version

    job = _print_job(db, get_version(db, print_creative.current_version.id), None, None, None)
    urls = {v.key: v.qr_url for v in job.variants}
    assert urls["lincoln-high"] == (
        "https://careers.example.org/p/careers?utm_source=print&utm_medium=postcard"
        "&utm_campaign=postcard&utm_content=lincoln-high"
    )
    assert len(set(urls.values())) == 3


def test_the_printed_qr_codes_scan_to_each_variants_url(db, print_creative):
    import pypdfium2
    import zxingcpp

    from creatives.printing import _print_job
    from creatives.versions import get_version

    version = get_version(db, print_creative.current_version.id)
    urls = {v.key: v.qr_url for v in _print_job(db, version, None, None, None).variants}
    (pdf,) = render_print_pdf(db, version.id, variant_keys=["lincoln-high", "roosevelt-high"])
    document = pypdfium2.PdfDocument(pdf.data)
    scanned = []
    for page in document:
        image = page.render(scale=150 / 72).to_pil()  # 150 dpi, as a phone would see it
        scanned += [r.text for r in zxingcpp.read_barcodes(image) if r.format.name == "QRCode"]
    document.close()
    assert scanned == [urls["lincoln-high"], urls["roosevelt-high"]]


def test_unknown_variants_are_refused(db, print_creative):
    with pytest.raises(CreativeError, match="Unknown print variant nowhere-high"):
        render_print_pdf(db, print_creative.current_version.id, variant_keys=["nowhere-high"])


def test_crop_marks_widen_the_media_box_but_not_trim_or_bleed(db, print_creative):
    (pdf,) = render_print_pdf(
        db, print_creative.current_version.id, variant_keys=[""], crop_marks=True
    )
    (page,) = boxes(pdf.data)
    assert page["TrimBox"] == [0, 0, 432, 288]
    assert page["BleedBox"] == [-9, -9, 441, 297]
    assert page["MediaBox"][0] < -9 - 18 and page["MediaBox"][2] > 441 + 18
    with pikepdf.open(io.BytesIO(pdf.data)) as document:
        content = document.pages[0].obj.Contents
        streams = content if isinstance(content, pikepdf.Array) else [content]
        drawn = b"".join(stream.read_bytes() for stream in streams)
    assert b"1 1 1 1 K" in drawn  # registration colour


def test_cmyk_output_has_no_rgb_and_pdf_x(db, print_creative):
    (pdf,) = render_print_pdf(
        db,
        print_creative.current_version.id,
        variant_keys=["lincoln-high"],
        cmyk=True,
        pdf_variant="pdf/x-3",
    )
    assert check_pdf(pdf.data, POSTCARD, cmyk=True) == []
    with pikepdf.open(io.BytesIO(pdf.data)) as document:
        assert str(document.docinfo["/GTS_PDFXVersion"]) == "PDF/X-3:2003"
        for page in document.pages:
            for image in page.get_images().values():
                assert image.ColorSpace == "/DeviceCMYK"
    (rgb,) = render_print_pdf(
        db, print_creative.current_version.id, variant_keys=["lincoln-high"], cmyk=False
    )
    found = check_pdf(rgb.data, POSTCARD, cmyk=True)
    assert {p.area for p in found} == {"colour", "images"}
    assert all(p.severity is Severity.ERROR for p in found)


def test_unknown_pdf_variant_is_refused(db, print_creative):
    with pytest.raises(CreativeError, match="Unknown PDF variant"):
        render_print_pdf(db, print_creative.current_version.id, pdf_variant="pdf/z")


def test_preflight_of_a_good_piece_reports_only_the_cmyk_conversion(db, print_creative):
    found = preflight(db, print_creative.current_version.id, variant_keys=["lincoln-high"])
    # The postcard profile is CMYK; the library's images are RGB and get converted.
    assert found and all(p.severity is Severity.WARNING for p in found)
    assert all("converted to CMYK" in p.message for p in found)
    assert (
        preflight(db, print_creative.current_version.id, variant_keys=["lincoln-high"], cmyk=False)
        == []
    )


def test_preflight_finds_low_resolution_images(db, print_creative, make_asset):
    small = make_asset(200, 150, fmt="JPEG", alt_text="Tiny", color=(1, 2, 3))
    save_variant(db, print_creative.id, "", print_content(hero_asset_id=small.id))
    found = preflight(db, print_creative.current_version.id, variant_keys=[""], cmyk=False)
    (problem,) = found
    assert problem.area == "hero_asset_id" and problem.severity is Severity.ERROR
    assert "200 x 150 px) prints at" in problem.message and "needs 300 ppi" in problem.message


def test_preflight_finds_text_that_does_not_fit(db, print_creative):
    long_body = "\n\n".join(f"Paragraph {n}: paid training is waiting for you." for n in range(30))
    save_variant(db, print_creative.id, "", print_content(body=long_body))
    found = preflight(db, print_creative.current_version.id, variant_keys=[""], cmyk=False)
    cut = [(p.area, p.severity) for p in found if "does not fit" in p.message]
    assert cut == [("body", Severity.ERROR), ("call_to_action", Severity.ERROR)]
    # The last lines that did fit sit below the safe area.
    assert any(p.area == "body" and "outside the safe area" in p.message for p in found)


def test_preflight_finds_text_running_into_the_bleed(db, print_creative):
    save_variant(
        db, print_creative.id, "", print_content(headline="Collisionrepairtechnicianswanted")
    )
    found = preflight(db, print_creative.current_version.id, variant_keys=[""], cmyk=False)
    (problem,) = found
    assert (problem.area, problem.severity, problem.page) == ("headline", Severity.ERROR, 1)
    assert problem.message.startswith(
        "The text “Collisionrepairtechnicianswanted” runs into the bleed"
    )


def test_preflight_reports_a_brand_font_the_server_lacks(db, print_creative):
    kit = print_creative.brand_kit
    save_brand_kit(db, BrandKitFields(name=kit.name, heading_font="Fancy Missing Sans"), kit.id)
    found = preflight(db, print_creative.current_version.id, variant_keys=[""], cmyk=False)
    assert [(p.area, p.severity) for p in found] == [("fonts", Severity.ERROR)]
    assert "'Fancy Missing Sans' is not installed" in found[0].message


def test_a_proof_is_a_png_of_the_whole_sheet(db, print_creative):
    png = proof_png(db, print_creative.current_version.id, variant_key="lincoln-high", max_px=600)
    with Image.open(io.BytesIO(png)) as image:
        assert image.format == "PNG"
        assert image.size == (600, round(600 * 306 / 450))


def test_non_print_creatives_are_refused(db, email_creative):
    with pytest.raises(CreativeError, match="not a print piece"):
        render_print_pdf(db, email_creative.current_version.id)


def test_cli_renders_a_print_file(db, runner, print_creative, tmp_path):
    out = tmp_path / "piece.pdf"
    result = runner.invoke(
        [
            "creatives",
            "render-print",
            str(print_creative.id),
            "--out",
            str(out),
            "--variant",
            "jefferson-tech",
        ]
    )
    assert result.exit_code == 0, result.output
    assert "1 page" in result.output
    assert "Jefferson Tech" in PdfReader(out).pages[0].extract_text()
    missing = runner.invoke(["creatives", "render-print", "999", "--out", str(out)])
    assert missing.exit_code != 0 and "no creative number 999" in missing.output


def test_a_print_creative_without_brand_kit_renders_plain(db):
    creative = create_creative(db, "Plain", "print")
    save_variant(db, creative.id, "", print_content(qr_url=""))
    (pdf,) = render_print_pdf(db, creative.current_version.id)
    assert pdf.pages == 1 and pdf.variant_key == ""
    found = preflight(db, creative.current_version.id, cmyk=False)
    assert [p.area for p in found] == ["qr_url"]


def test_cli_preflight_lists_problems_and_fails_on_errors(db, runner, print_creative):
    ok = runner.invoke(["creatives", "preflight", str(print_creative.id), "--variant", "", "--rgb"])
    assert ok.exit_code == 0 and "No problems found." in ok.output
    save_variant(
        db, print_creative.id, "", print_content(headline="Collisionrepairtechnicianswanted")
    )
    db.commit()
    bad = runner.invoke(
        ["creatives", "preflight", str(print_creative.id), "--variant", "", "--rgb"]
    )
    assert bad.exit_code == 1
    assert (
        "error   headline: The text “Collisionrepairtechnicianswanted” runs into the bleed"
        in bad.output
    )
