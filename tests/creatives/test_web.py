"""The creatives pages through the real app: uploads, editors, previews, public pages."""

import io
import re

from sqlalchemy import func, select

from campaign_manager.core.storage import storage_of
from creatives.models import Asset, Creative, CreativeKind
from tests.creatives.conftest import GOOD_MJML, image_bytes


def sign_in(client, users, role="marketer"):
    client.login(users[role].email)


def test_upload_through_the_form_then_edit_its_details(client, users, db):
    sign_in(client, users)
    response = client.post_form(
        "/creatives/assets",
        {
            "file": (io.BytesIO(image_bytes(320, 200)), "hero.png"),
            "alt_text": "A paint booth",
            "tags": "students, shop",
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    asset = db.scalar(select(Asset))
    assert (asset.mime, asset.width, asset.alt_text, asset.tags) == (
        "image/png",
        320,
        "A paint booth",
        ["shop", "students"],
    )
    library = client.get("/creatives/assets?tag=shop").get_data(as_text=True)
    assert "hero.png" in library and 'alt="A paint booth"' in library
    page = client.get(f"/creatives/assets/{asset.id}").get_data(as_text=True)
    assert asset.sha256 in page
    response = client.post_form(
        f"/creatives/assets/{asset.id}/edit",
        {
            "title": "Booth",
            "alt_text": "A student in a paint booth",
            "tags": "parents",
            "licence": "CC0",
            "credit": "",
        },
    )
    assert response.status_code == 302
    db.refresh(asset)
    assert (asset.title, asset.licence, asset.tags) == ("Booth", "CC0", ["parents"])


def test_a_refused_upload_shows_why_beside_the_field_and_stores_nothing(client, users, db):
    sign_in(client, users)
    response = client.post_form(
        "/creatives/assets",
        {"file": (io.BytesIO(image_bytes(50, 50)), "brochure.pdf")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert re.search(
        r'id="file-errors">\s*<li>The file is named &#39;brochure.pdf&#39; '
        r"but its content is a PNG image",
        page,
    )
    assert db.scalar(select(func.count()).select_from(Asset)) == 0
    assert storage_of(db).count() == 0


def test_media_serves_library_files_and_thumbnails_only(client, users, db, make_asset):
    asset = make_asset(100, 80)
    db.commit()
    response = client.get(f"/media/{asset.sha256}.png")
    assert response.status_code == 200 and response.mimetype == "image/png"
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert response.data == storage_of(db).get(asset.sha256)
    assert client.get(f"/media/{asset.thumbnail_sha256}.img").status_code == 200
    other = storage_of(db).put(b"a private generated file")
    assert client.get(f"/media/{other}.pdf").status_code == 404
    assert client.get("/media/..%2F..%2Fetc%2Fpasswd").status_code == 404


def test_creating_and_saving_an_email_shows_errors_beside_the_field(client, users, db):
    sign_in(client, users)
    response = client.post_form(
        "/creatives/new", {"name": "Students", "kind": "email", "brand_kit_id": "0"}
    )
    assert response.status_code == 302
    creative = db.scalar(select(Creative))
    url = f"/creatives/{creative.id}"
    bad = GOOD_MJML.replace('<a href="{{ unsubscribe_url }}">Unsubscribe</a> ·', "")
    response = client.post_form(url, {"subject": "Hi {{ frist_name }}", "mjml": bad})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    subject_errors = re.search(r'id="subject-errors">(.*?)</ul>', page, re.S).group(1)
    assert "Unknown placeholder {{ frist_name }}. Did you mean {{ first_name }}?" in subject_errors
    mjml_errors = re.search(r'id="mjml-errors">(.*?)</ul>', page, re.S).group(1)
    assert "The footer needs an unsubscribe link" in mjml_errors
    response = client.post_form(url, {"subject": "Hi {{ first_name }}", "mjml": GOOD_MJML})
    assert response.status_code == 302
    db.refresh(creative)
    assert creative.current_version.variant("").compiled_html


def test_email_variants_per_segment(client, users, db, email_creative):
    sign_in(client, users)
    url = f"/creatives/{email_creative.id}"
    assert client.post_form(f"{url}/variants", {"key": "parents"}).status_code == 302
    response = client.post_form(
        f"{url}?variant=parents", {"subject": "For parents", "mjml": GOOD_MJML}
    )
    assert response.status_code == 302
    db.expire_all()
    version = db.get(Creative, email_creative.id).current_version
    assert sorted(v.key for v in version.variants) == ["", "parents"]
    assert version.variant("parents").content["subject"] == "For parents"
    assert "Default (everyone else)" in client.get(url).get_data(as_text=True)


def test_previews_may_be_framed_by_us_and_nothing_else_may(client, users, email_creative):
    sign_in(client, users)
    editor = client.get(f"/creatives/{email_creative.id}")
    assert editor.headers["X-Frame-Options"] == "DENY"
    page = editor.get_data(as_text=True)
    assert re.search(r"<iframe[^>]*\bsandbox\b", page)
    preview = client.get(f"/creatives/{email_creative.id}/preview")
    assert preview.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert "frame-ancestors 'self'" in preview.headers["Content-Security-Policy"]
    assert "script-src" not in preview.headers["Content-Security-Policy"]  # default-src 'none'
    assert "Hi there, turn a passion for cars" in preview.get_data(as_text=True)
    live = client.post_form(
        f"/creatives/{email_creative.id}/preview",
        {
            "subject": "Live {{ first_name }}",
            "mjml": GOOD_MJML.replace("turn a passion", "TYPED NOW"),
            "mode": "text",
        },
    )
    assert live.headers["X-Frame-Options"] == "SAMEORIGIN"
    body = live.get_data(as_text=True)
    assert "Subject: <strong>Live there</strong>" in body and "TYPED NOW" in body


def test_social_preview_counts_per_network(client, users, db):
    sign_in(client, users)
    client.post_form("/creatives/new", {"name": "Post", "kind": "social", "brand_kit_id": "0"})
    creative = db.scalar(select(Creative).where(Creative.kind == CreativeKind.SOCIAL))
    response = client.post_form(
        f"/creatives/{creative.id}/preview",
        {"text": "日" * 141, "networks": ["x", "bluesky"], "mastodon_max_characters": "500"},
    )
    body = response.get_data(as_text=True)
    assert "282 / 280" in body and "141 / 300" in body
    assert "X: 282 of 280 weighted characters" in body


def test_landing_page_is_public_keeps_utm_and_is_not_framable(client, users, db):
    from tests.creatives.samples import make_creative_samples

    make_creative_samples(db)
    response = client.get("/p/sample-page?utm_source=flyer&utm_content=lincoln-high")
    assert response.status_code == 200
    assert "Sample page" in response.get_data(as_text=True)
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert client.get("/p/no-such-page").status_code == 404


def test_print_pdf_and_proof_downloads(client, users, db):
    from tests.creatives.samples import make_creative_samples

    samples = make_creative_samples(db)
    sign_in(client, users, "viewer")
    response = client.get(f"/creatives/{samples.print_creative.id}/print.pdf?partner=sample-high")
    assert response.mimetype == "application/pdf" and response.data.startswith(b"%PDF-")
    assert (
        'filename="sample-postcard-v1-postcard-4x6-sample-high.pdf"'
        in response.headers["Content-Disposition"]
    )
    proof = client.get(f"/creatives/{samples.print_creative.id}/proof.png")
    assert proof.mimetype == "image/png" and proof.data.startswith(b"\x89PNG")
    editor = client.get(f"/creatives/{samples.print_creative.id}").get_data(as_text=True)
    # Preflight messages sit beside the field they concern (the 600 px picture is too small).
    warnings = re.search(
        r'id="hero_asset_id-(?:errors|warnings)">(.*?)</(?:ul|p)>', editor, re.S
    ).group(1)
    assert "needs 300 ppi" in warnings
    assert "Save" not in re.search(r'<div class="actions">(.*?)</div>', editor, re.S).group(1)


def test_publishing_through_the_editor(client, users, db):
    sign_in(client, users)
    client.post_form(
        "/creatives/new", {"name": "Page", "kind": "web", "brand_kit_id": "0", "slug": "try-it"}
    )
    creative = db.scalar(select(Creative).where(Creative.slug == "try-it"))
    assert client.get("/p/try-it").status_code == 404
    client.post_form(
        f"/creatives/{creative.id}", {"title": "T", "headline": "Try it", "hero_asset_id": "0"}
    )
    response = client.post_form(f"/creatives/{creative.id}/publish", {"at": ""})
    assert response.status_code == 302
    assert "Try it" in client.get("/p/try-it").get_data(as_text=True)
