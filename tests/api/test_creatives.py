"""Creatives through the API: create and edit with the editor's checks, versions frozen by
approval, and previews (email for a sample recipient or a contact, social per network, print
as a real PDF)."""

from __future__ import annotations

import io

import pypdf

from audiences.contacts import create_contact, update_contact
from creatives.versions import freeze_current_version
from tests.creatives.conftest import (  # noqa: F401 - fixtures
    GOOD_MJML,
    brand_kit,
    make_asset,
    print_creative,
)

PROBLEM = "application/problem+json"
EMAIL = {"subject": "Hi {{ first_name }}", "preheader": "Careers", "mjml": GOOD_MJML}


def create_email(api, **changes):
    body = {"name": "Students email", "kind": "email", "content": EMAIL, **changes}
    return api.marketer.post("/api/v1/creatives", json=body)


def test_create_read_list_and_preview_an_email(api, db):
    response = create_email(api)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["kind"] == "email"
    assert body["current_version"]["number"] == 1
    assert body["current_version"]["variants"][0]["content"]["subject"] == "Hi {{ first_name }}"
    assert response.headers["Location"] == f"/api/v1/creatives/{body['id']}"
    fetched = api.viewer.get(f"/api/v1/creatives/{body['id']}")
    assert fetched.headers["ETag"] == response.headers["ETag"]

    preview = api.viewer.get(f"/api/v1/creatives/{body['id']}/preview").get_json()
    assert preview["subject"] == "Hi there"  # the sample recipient's first name
    assert "turn a passion for cars" in preview["html"]
    assert "Hi there" in preview["text"] and "<a " not in preview["text"]
    assert "1200 Main Street" in preview["text"]

    contact = create_contact(db, "maria@example.org")
    update_contact(db, contact, {"first_name": "Maria", "school": "Lincoln High"})
    db.commit()
    for_maria = api.viewer.get(f"/api/v1/creatives/{body['id']}/preview?contact={contact.id}")
    assert for_maria.get_json()["subject"] == "Hi Maria"
    assert "Lincoln High" in for_maria.get_json()["html"]
    missing = api.viewer.get(f"/api/v1/creatives/{body['id']}/preview?contact=999999")
    assert missing.status_code == 422

    listed = api.viewer.get("/api/v1/creatives?kind=email").get_json()
    assert [c["id"] for c in listed["data"]] == [body["id"]]
    assert api.viewer.get("/api/v1/creatives?kind=print").get_json()["data"] == []


def test_content_errors_are_field_errors_and_save_nothing(api, db):
    bad = create_email(api, content={**EMAIL, "mjml": "<p>not mjml</p>"})
    assert bad.status_code == 422
    assert bad.mimetype == PROBLEM
    assert bad.get_json()["errors"][0]["field"] == "content.mjml"
    assert api.viewer.get("/api/v1/creatives").get_json()["data"] == []

    unknown = create_email(api, content={**EMAIL, "colour": "red"})
    assert unknown.status_code == 422
    assert unknown.get_json()["errors"][0]["field"] == "content.colour"

    placeholder = create_email(api, content={**EMAIL, "subject": "Hi {{ frist_name }}"})
    assert placeholder.status_code == 422
    assert "first_name" in placeholder.get_json()["errors"][0]["detail"]

    no_kind = api.marketer.post("/api/v1/creatives", json={"name": "x", "kind": "fax"})
    assert no_kind.status_code == 422
    assert no_kind.get_json()["errors"][0]["field"] == "kind"

    web = api.marketer.post(
        "/api/v1/creatives", json={"name": "Page", "kind": "web", "slug": "Bad Slug!"}
    )
    assert web.status_code == 422 and web.get_json()["errors"][0]["field"] == "slug"


def test_patch_saves_a_variant_and_a_frozen_version_gets_a_new_one(api, db):
    body = create_email(api).get_json()
    path = f"/api/v1/creatives/{body['id']}"
    etag = api.marketer.get(path).headers["ETag"]
    assert api.marketer.patch(path, json={"name": "x"}).status_code == 428

    parents = api.marketer.patch(
        path,
        json={"variant": "parents", "content": {**EMAIL, "subject": "For parents"}},
        headers={"If-Match": etag},
    )
    assert parents.status_code == 200, parents.get_json()
    variants = {v["key"]: v for v in parents.get_json()["current_version"]["variants"]}
    assert variants["parents"]["content"]["subject"] == "For parents"
    assert parents.get_json()["current_version"]["number"] == 1
    preview = api.viewer.get(f"{path}/preview?variant=parents").get_json()
    assert preview["subject"] == "For parents"

    stale = api.marketer.patch(path, json={"name": "y"}, headers={"If-Match": etag})
    assert stale.status_code == 412

    # A campaign's approval froze version 1: saving makes version 2.
    freeze_current_version(db, body["id"])
    db.commit()
    etag = api.marketer.get(path).headers["ETag"]
    saved = api.marketer.patch(
        path,
        json={"name": "Renamed", "content": {**EMAIL, "subject": "Version two"}},
        headers={"If-Match": etag},
    )
    assert saved.status_code == 200, saved.get_json()
    assert saved.get_json()["name"] == "Renamed"
    assert saved.get_json()["current_version"]["number"] == 2
    versions = api.viewer.get(f"{path}/versions").get_json()
    assert [v["number"] for v in versions] == [2, 1]
    assert versions[1]["frozen_at"] is not None and versions[0]["frozen_at"] is None
    one = api.viewer.get(f"{path}/versions/1").get_json()
    assert one["variants"][0]["content"]["subject"] == "Hi {{ first_name }}"
    assert api.viewer.get(f"{path}/versions/7").status_code == 404

    etag = saved.headers["ETag"]
    removed = api.marketer.delete(f"{path}/variants/parents", headers={"If-Match": etag})
    assert removed.status_code == 200
    assert [v["key"] for v in removed.get_json()["current_version"]["variants"]] == [""]
    default = api.marketer.delete(
        f"{path}/variants/", headers={"If-Match": removed.headers["ETag"]}
    )
    assert default.status_code in (404, 405)


def test_social_preview_per_network(api):
    created = api.marketer.post(
        "/api/v1/creatives",
        json={
            "name": "Scholarship post",
            "kind": "social",
            "content": {
                "text": "Scholarships for future technicians",
                "link": "https://example.org/s",
                "networks": ["mastodon", "x"],
            },
        },
    )
    assert created.status_code == 201, created.get_json()
    path = f"/api/v1/creatives/{created.get_json()['id']}/preview"
    networks = api.viewer.get(path).get_json()["networks"]
    assert [n["network"] for n in networks] == ["mastodon", "x"]
    x = api.viewer.get(f"{path}?network=x").get_json()["networks"]
    assert len(x) == 1 and x[0]["text"].startswith("Scholarships") and x[0]["limit"] == 280
    assert x[0]["length"] <= x[0]["limit"]
    assert api.viewer.get(f"{path}?network=bluesky").status_code == 422


def test_print_preview_is_a_real_pdf(api, print_creative):  # noqa: F811
    preview = api.viewer.get(f"/api/v1/creatives/{print_creative.id}/preview").get_json()
    assert preview["pdf_url"] == f"/api/v1/creatives/{print_creative.id}/preview.pdf"
    pdf = api.viewer.get(preview["pdf_url"])
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    reader = pypdf.PdfReader(io.BytesIO(pdf.get_data()))
    assert len(reader.pages) >= 1
    assert "Turn a passion for cars" in reader.pages[0].extract_text()
    assert api.viewer.get(f"{preview['pdf_url']}?partner=nobody").status_code == 422


def test_roles(api, print_creative):  # noqa: F811
    for role in ("viewer", "approver", "vendor"):
        client = getattr(api, role)
        response = client.post("/api/v1/creatives", json={"name": "x", "kind": "email"})
        assert response.status_code == 403, role
    for role in ("viewer", "approver", "marketer", "admin"):
        assert getattr(api, role).get(f"/api/v1/creatives/{print_creative.id}").status_code == 200
    assert api.vendor.get(f"/api/v1/creatives/{print_creative.id}/preview.pdf").status_code == 403
    assert api.anonymous.get("/api/v1/creatives").status_code == 401
    etag = api.viewer.get(f"/api/v1/creatives/{print_creative.id}").headers["ETag"]
    patched = api.approver.patch(
        f"/api/v1/creatives/{print_creative.id}", json={"name": "x"}, headers={"If-Match": etag}
    )
    assert patched.status_code == 403
    assert api.viewer.get("/api/v1/creatives/999999/preview").status_code == 404


def test_idempotency_key_replays_a_create(api, db):
    headers = {"Idempotency-Key": "creative-1"}
    body = {"name": "Once", "kind": "email", "content": EMAIL}
    first = api.marketer.post("/api/v1/creatives", json=body, headers=headers)
    again = api.marketer.post("/api/v1/creatives", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert len(api.viewer.get("/api/v1/creatives").get_json()["data"]) == 1
