"""Assets through the API: multipart upload checked as the UI checks it, metadata, download."""

from __future__ import annotations

import hashlib
import io

from PIL import Image

from creatives.models import Asset
from tests.creatives.conftest import image_bytes

PROBLEM = "application/problem+json"


def upload(client, data: bytes, filename: str = "hero.png", content_type="image/png", **fields):
    return client.post(
        "/api/v1/assets",
        data={"file": (io.BytesIO(data), filename, content_type), **fields},
        content_type="multipart/form-data",
    )


def test_upload_read_download_and_list(api, db):
    png = image_bytes(640, 480)
    response = upload(
        api.marketer, png, title="Shop floor", alt_text="A technician", tags="hero, shop"
    )
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["mime"] == "image/png" and body["width"] == 640 and body["height"] == 480
    assert body["sha256"] == hashlib.sha256(png).hexdigest()
    assert body["tags"] == ["hero", "shop"] and body["title"] == "Shop floor"
    assert response.headers["Location"] == f"/api/v1/assets/{body['id']}"
    assert body["public_url"].endswith(f"/media/{body['sha256']}.png")

    again = upload(api.marketer, png, filename="copy.png")
    assert again.status_code == 200 and again.get_json()["id"] == body["id"]

    fetched = api.viewer.get(f"/api/v1/assets/{body['id']}")
    assert fetched.get_json() == body
    file = api.viewer.get(body["download_url"])
    assert file.status_code == 200 and file.mimetype == "image/png"
    assert Image.open(io.BytesIO(file.get_data())).size == (640, 480)
    cached = api.viewer.get(body["download_url"], headers={"If-None-Match": file.headers["ETag"]})
    assert cached.status_code == 304

    jpeg = upload(
        api.marketer, image_bytes(300, 200, "JPEG"), filename="b.jpg", content_type="image/jpeg"
    )
    assert jpeg.status_code == 201
    assert [a["id"] for a in api.viewer.get("/api/v1/assets?tag=hero").get_json()["data"]] == [
        body["id"]
    ]
    assert [a["id"] for a in api.viewer.get("/api/v1/assets?q=shop").get_json()["data"]] == [
        body["id"]
    ]
    first = api.viewer.get("/api/v1/assets?limit=1").get_json()
    second = api.viewer.get(f"/api/v1/assets?limit=1&cursor={first['next_cursor']}").get_json()
    assert [a["id"] for a in first["data"] + second["data"]] == [jpeg.get_json()["id"], body["id"]]


def test_the_content_decides_the_type_not_the_claim(api, db):
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    refused = upload(api.marketer, svg, filename="logo.png", content_type="image/png")
    assert refused.status_code == 422
    assert refused.mimetype == PROBLEM
    assert refused.get_json()["errors"][0]["field"] == "file"
    assert "SVG" in refused.get_json()["detail"]

    misnamed = upload(api.marketer, image_bytes(100, 100, "JPEG"), filename="photo.png")
    assert misnamed.status_code == 422
    assert "JPEG" in misnamed.get_json()["detail"] or "jpg" in misnamed.get_json()["detail"]

    junk = upload(api.marketer, b"not an image at all", filename="x.bin", content_type="image/gif")
    assert junk.status_code == 422
    assert db.query(Asset).count() == 0


def test_validation_and_media_types(api):
    missing = api.marketer.post(
        "/api/v1/assets", data={"title": "x"}, content_type="multipart/form-data"
    )
    assert missing.status_code == 422
    assert [e["field"] for e in missing.get_json()["errors"]] == ["file"]
    as_json = api.marketer.post("/api/v1/assets", json={"file": "aGVsbG8="})
    assert as_json.status_code == 415
    too_long = upload(api.marketer, image_bytes(10, 10), title="t" * 201)
    assert too_long.status_code == 422
    assert too_long.get_json()["errors"][0]["field"] == "title"


def test_patch_metadata_with_if_match(api):
    asset_id = upload(api.marketer, image_bytes(50, 50)).get_json()["id"]
    path = f"/api/v1/assets/{asset_id}"
    etag = api.marketer.get(path).headers["ETag"]
    assert api.marketer.patch(path, json={"title": "x"}).status_code == 428
    changed = api.marketer.patch(
        path, json={"alt_text": "Students at a booth", "tags": ["Fair"]}, headers={"If-Match": etag}
    )
    assert changed.status_code == 200
    assert changed.get_json()["alt_text"] == "Students at a booth"
    assert changed.get_json()["tags"] == ["fair"]
    assert (
        api.marketer.patch(path, json={"title": "y"}, headers={"If-Match": etag}).status_code == 412
    )


def test_roles(api):
    png = image_bytes(20, 20)
    for role in ("viewer", "approver", "vendor"):
        assert upload(getattr(api, role), png).status_code == 403
    asset_id = upload(api.admin, png).get_json()["id"]
    for role in ("viewer", "approver", "marketer"):
        assert getattr(api, role).get(f"/api/v1/assets/{asset_id}/file").status_code == 200
    assert api.vendor.get(f"/api/v1/assets/{asset_id}").status_code == 403
    assert api.anonymous.get("/api/v1/assets").status_code == 401
    etag = api.viewer.get(f"/api/v1/assets/{asset_id}").headers["ETag"]
    assert (
        api.viewer.patch(
            f"/api/v1/assets/{asset_id}", json={"title": "x"}, headers={"If-Match": etag}
        ).status_code
        == 403
    )
    assert api.viewer.get("/api/v1/assets/999999").status_code == 404
