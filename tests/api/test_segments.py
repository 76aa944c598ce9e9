"""Segments through the API: CRUD with rule errors as field errors, counts and members."""

from __future__ import annotations

from audiences.contacts import create_contact
from audiences.models import ContactRole, Segment
from audiences.segments import create_segment, ensure_builtin_segments

STUDENTS_IN_LINCOLN = {
    "type": "all",
    "rules": [
        {"type": "field", "field": "role", "op": "equals", "value": "student"},
        {"type": "field", "field": "school", "op": "equals", "value": "Lincoln High"},
    ],
}


def _people(db):
    for i in range(3):
        create_contact(db, f"s{i}@example.org", role=ContactRole.STUDENT, school="Lincoln High")
    create_contact(db, "other@example.org", role=ContactRole.STUDENT, school="Roosevelt")
    create_contact(db, "parent@example.org", role=ContactRole.PARENT, school="Lincoln High")
    db.commit()


def test_create_count_and_list_members(api, db):
    ensure_builtin_segments(db)  # PostgreSQL tests start from empty tables
    _people(db)
    response = api.marketer.post(
        "/api/v1/segments",
        json={"name": "Lincoln students", "rules": STUDENTS_IN_LINCOLN, "description": "x"},
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    segment = response.get_json()
    assert segment["slug"] == "lincoln-students"
    assert segment["member_count"] == 3
    assert response.headers["Location"] == f"/api/v1/segments/{segment['id']}"

    first = api.viewer.get(f"/api/v1/segments/{segment['id']}/members?limit=2")
    assert first.status_code == 200
    page = first.get_json()
    assert len(page["data"]) == 2 and page["next_cursor"]
    assert 'rel="next"' in first.headers["Link"]
    rest = api.viewer.get(
        f"/api/v1/segments/{segment['id']}/members?limit=2&cursor={page['next_cursor']}"
    ).get_json()
    emails = [c["email"] for c in page["data"] + rest["data"]]
    assert emails == ["s0@example.org", "s1@example.org", "s2@example.org"]
    assert rest["next_cursor"] is None

    listed = api.approver.get("/api/v1/segments?limit=100").get_json()["data"]
    assert "lincoln-students" in [s["slug"] for s in listed]
    # The built-in segments are there too.
    assert {"students", "parents", "educators"} <= {s["slug"] for s in listed}


def test_invalid_rules_give_one_field_error_per_problem(api, db):
    response = api.marketer.post(
        "/api/v1/segments",
        json={
            "name": "Broken",
            "rules": {
                "type": "all",
                "rules": [
                    {"type": "field", "field": "shoe_size", "op": "equals", "value": 9},
                ],
            },
        },
    )
    assert response.status_code == 422
    problem = response.get_json()
    assert problem["errors"][0]["field"].startswith("rules.rules.0")
    assert problem["errors"][0]["pointer"].startswith("#/rules/rules/0")
    assert db.query(Segment).filter_by(name="Broken").first() is None

    missing = api.marketer.post("/api/v1/segments", json={"name": ""})
    assert missing.status_code == 422
    assert {e["field"] for e in missing.get_json()["errors"]} == {"name", "rules"}


def test_a_taken_name_is_a_conflict(api, db):
    create_segment(db, "Taken", {"type": "all", "rules": []})
    db.commit()
    response = api.marketer.post(
        "/api/v1/segments", json={"name": "taken", "rules": {"type": "all", "rules": []}}
    )
    assert response.status_code == 409
    assert response.get_json()["errors"][0]["field"] == "name"


def test_patch_with_if_match_recounts(api, db):
    _people(db)
    segment = create_segment(db, "Everyone", {"type": "all", "rules": []})
    db.commit()
    url = f"/api/v1/segments/{segment.id}"
    etag = api.marketer.get(url).headers["ETag"]
    assert api.marketer.patch(url, json={"name": "X"}).status_code == 428
    response = api.marketer.patch(
        url, json={"rules": STUDENTS_IN_LINCOLN}, headers={"If-Match": etag}
    )
    assert response.status_code == 200
    assert response.get_json()["member_count"] == 3
    assert response.get_json()["name"] == "Everyone"
    stale = api.marketer.patch(url, json={"name": "Y"}, headers={"If-Match": etag})
    assert stale.status_code == 412
    bad = api.marketer.patch(
        url,
        json={"rules": {"type": "nonsense"}},
        headers={"If-Match": response.headers["ETag"]},
    )
    assert bad.status_code == 422
    assert bad.get_json()["errors"][0]["field"].startswith("rules")


def test_builtin_segments_cannot_change(api, db):
    ensure_builtin_segments(db)
    db.commit()
    builtin = db.query(Segment).filter_by(slug="students").one()
    url = f"/api/v1/segments/{builtin.id}"
    etag = api.marketer.get(url).headers["ETag"]
    assert (
        api.marketer.patch(url, json={"name": "Pupils"}, headers={"If-Match": etag}).status_code
        == 409
    )
    assert api.marketer.delete(url, headers={"If-Match": etag}).status_code == 409


def test_delete_and_refusal_when_in_use(api, db):
    used = create_segment(db, "Used", {"type": "all", "rules": []})
    create_segment(db, "User", {"type": "all", "rules": [{"type": "segment", "slug": "used"}]})
    free = create_segment(db, "Free", {"type": "all", "rules": []})
    db.commit()
    used_url, free_url = f"/api/v1/segments/{used.id}", f"/api/v1/segments/{free.id}"
    etag = api.marketer.get(used_url).headers["ETag"]
    refused = api.marketer.delete(used_url, headers={"If-Match": etag})
    assert refused.status_code == 409
    assert "User" in refused.get_json()["detail"]
    free_etag = api.marketer.get(free_url).headers["ETag"]
    assert api.marketer.delete(free_url, headers={"If-Match": free_etag}).status_code == 204
    assert api.marketer.get(free_url).status_code == 404


def test_recount(api, db):
    segment = create_segment(db, "Students here", STUDENTS_IN_LINCOLN)
    db.commit()
    assert segment.cached_count == 0
    _people(db)
    response = api.marketer.post(f"/api/v1/segments/{segment.id}/count")
    assert response.status_code == 200
    assert response.get_json()["member_count"] == 3
    assert response.get_json()["counted_at"]
