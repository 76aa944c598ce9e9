"""Contacts through the API: CRUD, erasure, bulk upsert, consent and unsubscribe."""

from __future__ import annotations

from sqlalchemy import select

from audiences.contacts import create_contact, find_contact_by_email, tags_of
from audiences.models import (
    Consent,
    ConsentChannel,
    ConsentStatus,
    Contact,
    ContactRole,
    SuppressionReason,
)
from audiences.suppression import suppression_for

PROBLEM = "application/problem+json"


def test_create_read_and_list_a_contact(api, db):
    response = api.marketer.post(
        "/api/v1/contacts",
        json={
            "email": "Maria.Lopez@Example.ORG",
            "first_name": "Maria",
            "last_name": "Lopez",
            "role": "student",
            "school": "Lincoln High",
            "graduation_year": 2027,
            "birth_year": 2009,
            "timezone": "America/Chicago",
            "locale": "es-US",
            "attributes": {"interest": "paint"},
            "tags": ["Career Fair"],
        },
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    assert body["email"] == "Maria.Lopez@example.org"
    assert body["role"] == "student"
    assert body["tags"] == ["career fair"]
    assert body["age_band"] in ("13_to_17", "18_plus")
    assert body["consent"] == {"email": "unknown", "print": "unknown", "parental": "unknown"}
    assert response.headers["Location"] == f"/api/v1/contacts/{body['id']}"
    assert response.headers["ETag"]

    stored = find_contact_by_email(db, "maria.lopez@example.org")
    assert stored is not None and stored.school == "Lincoln High"
    assert tags_of(db, stored.id) == ["career fair"]

    fetched = api.viewer.get(f"/api/v1/contacts/{body['id']}")
    assert fetched.status_code == 200
    assert fetched.get_json() == body
    assert fetched.headers["ETag"] == response.headers["ETag"]

    listed = api.approver.get("/api/v1/contacts?role=student&school=Lincoln%20High")
    assert [c["id"] for c in listed.get_json()["data"]] == [body["id"]]
    assert api.approver.get("/api/v1/contacts?role=parent").get_json()["data"] == []


def test_get_with_if_none_match_gives_304(api, db):
    contact = create_contact(db, "a@example.org")
    db.commit()
    first = api.viewer.get(f"/api/v1/contacts/{contact.id}")
    again = api.viewer.get(
        f"/api/v1/contacts/{contact.id}", headers={"If-None-Match": first.headers["ETag"]}
    )
    assert again.status_code == 304
    assert again.get_data() == b""


def test_invalid_fields_give_field_errors(api, db):
    response = api.marketer.post(
        "/api/v1/contacts",
        json={"email": "x@example.org", "role": "wizard", "graduation_year": "soon", "extra": 1},
    )
    assert response.status_code == 422
    assert response.mimetype == PROBLEM
    problem = response.get_json()
    assert problem["status"] == 422
    fields = {e["field"]: e for e in problem["errors"]}
    assert set(fields) == {"role", "graduation_year", "extra"}
    assert fields["role"]["pointer"] == "#/role"
    assert db.scalar(select(Contact)) is None


def test_service_checks_come_back_as_field_errors(api, db):
    for body, field in [
        ({"email": "not an address"}, "email"),
        ({"email": "b@example.org", "timezone": "Mars/Olympus"}, "timezone"),
        ({"email": "b@example.org", "attributes": {"Bad Name": "x"}}, "attributes.Bad Name"),
        ({"email": "b@example.org", "tags": ["no*stars"]}, "tags"),
    ]:
        response = api.marketer.post("/api/v1/contacts", json=body)
        assert response.status_code == 422, body
        assert [e["field"] for e in response.get_json()["errors"]] == [field]
    assert db.scalar(select(Contact)) is None, "a refused contact leaves nothing behind"


def test_a_taken_email_is_a_conflict(api, db):
    create_contact(db, "taken@example.org")
    db.commit()
    response = api.marketer.post("/api/v1/contacts", json={"email": "TAKEN@example.org"})
    assert response.status_code == 409
    assert response.get_json()["errors"][0]["field"] == "email"


def test_a_body_that_is_not_json(api):
    response = api.marketer.post(
        "/api/v1/contacts", data="email=x@example.org", content_type="text/plain"
    )
    assert response.status_code == 415
    assert response.mimetype == PROBLEM
    broken = api.marketer.post(
        "/api/v1/contacts", data="{not json", content_type="application/json"
    )
    assert broken.status_code == 400
    assert broken.mimetype == PROBLEM


def test_patch_changes_only_what_is_sent(api, db):
    contact = create_contact(db, "p@example.org", first_name="Pat", role=ContactRole.PARENT)
    db.commit()
    etag = api.marketer.get(f"/api/v1/contacts/{contact.id}").headers["ETag"]
    response = api.marketer.patch(
        f"/api/v1/contacts/{contact.id}",
        json={"last_name": "Okafor", "email": "pat.okafor@example.org"},
        headers={"If-Match": etag},
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert (body["first_name"], body["last_name"], body["role"]) == ("Pat", "Okafor", "parent")
    assert response.headers["ETag"] != etag
    db.expire_all()
    stored = db.get(Contact, contact.id)
    assert stored.email == "pat.okafor@example.org"
    assert find_contact_by_email(db, "pat.okafor@example.org").id == contact.id


def test_patch_birth_date_keeps_the_age_columns_right(api, db):
    contact = create_contact(db, "kid@example.org", birth_year=2000)
    db.commit()
    etag = api.marketer.get(f"/api/v1/contacts/{contact.id}").headers["ETag"]
    response = api.marketer.patch(
        f"/api/v1/contacts/{contact.id}",
        json={"birth_date": "2015-06-01"},
        headers={"If-Match": etag},
    )
    assert response.status_code == 200
    assert response.get_json()["birth_year"] == 2015
    assert response.get_json()["age_band"] == "under_13"


def test_patch_needs_if_match_and_refuses_a_stale_one(api, db):
    contact = create_contact(db, "e@example.org", first_name="Eve")
    db.commit()
    url = f"/api/v1/contacts/{contact.id}"
    missing = api.marketer.patch(url, json={"first_name": "Eva"})
    assert missing.status_code == 428
    assert missing.mimetype == PROBLEM

    etag = api.marketer.get(url).headers["ETag"]
    first = api.marketer.patch(url, json={"first_name": "Eva"}, headers={"If-Match": etag})
    assert first.status_code == 200
    # A second editor read the contact before the first change and now writes over it.
    second = api.admin.patch(url, json={"first_name": "Evie"}, headers={"If-Match": etag})
    assert second.status_code == 412
    assert second.mimetype == PROBLEM
    db.expire_all()
    assert db.get(Contact, contact.id).first_name == "Eva"


def test_patch_to_a_taken_email_is_a_conflict(api, db):
    create_contact(db, "one@example.org")
    other = create_contact(db, "two@example.org")
    db.commit()
    url = f"/api/v1/contacts/{other.id}"
    etag = api.marketer.get(url).headers["ETag"]
    response = api.marketer.patch(
        url, json={"email": "ONE@example.org"}, headers={"If-Match": etag}
    )
    assert response.status_code == 409
    assert response.get_json()["errors"][0]["field"] == "email"


def test_delete_erases_and_keeps_the_address_suppressed(api, db):
    contact_id = create_contact(db, "gone@example.org").id
    db.commit()
    url = f"/api/v1/contacts/{contact_id}"
    etag = api.admin.get(url).headers["ETag"]
    assert api.admin.delete(url).status_code == 428
    assert api.admin.delete(url, headers={"If-Match": '"stale"'}).status_code == 412
    response = api.admin.delete(url, headers={"If-Match": etag})
    assert response.status_code == 204
    db.expire_all()
    assert db.get(Contact, contact_id) is None
    assert suppression_for(db, "gone@example.org").reason is SuppressionReason.ERASED
    assert api.admin.get(url).status_code == 404


def test_unknown_contact_is_404_problem(api):
    response = api.viewer.get("/api/v1/contacts/999999")
    assert response.status_code == 404
    assert response.mimetype == PROBLEM
    assert "999999" in response.get_json()["detail"]


def test_bulk_upsert_reports_each_item(api, db):
    create_contact(db, "old@example.org", first_name="Old")
    db.commit()
    response = api.marketer.post(
        "/api/v1/contacts/bulk",
        json={
            "contacts": [
                {"email": "new1@example.org", "first_name": "New", "tags": ["fair"]},
                {"email": "OLD@example.org", "first_name": "Updated"},
                {"email": "broken", "first_name": "X"},
                {"first_name": "No email"},
                {"email": "tz@example.org", "timezone": "Nowhere/Land"},
                {"email": "new1@example.org", "last_name": "Twice"},
                {"email": "wrong@example.org", "graduation_year": "later"},
            ]
        },
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    statuses = [r["status"] for r in body["results"]]
    assert statuses == [
        "created",
        "updated",
        "rejected",
        "rejected",
        "rejected",
        "updated",
        "rejected",
    ]
    assert (body["created"], body["updated"], body["rejected"]) == (1, 2, 4)
    assert body["results"][2]["errors"][0]["field"] == "email"
    assert body["results"][3]["errors"][0]["field"] == "email"
    assert body["results"][4]["errors"][0]["field"] == "timezone"
    assert body["results"][6]["errors"][0]["field"] == "graduation_year"
    db.expire_all()
    new = find_contact_by_email(db, "new1@example.org")
    assert (new.first_name, new.last_name) == ("New", "Twice")
    assert tags_of(db, new.id) == ["fair"]
    assert find_contact_by_email(db, "old@example.org").first_name == "Updated"
    assert find_contact_by_email(db, "tz@example.org") is None


def test_bulk_upsert_can_leave_existing_contacts_alone(api, db):
    create_contact(db, "keep@example.org", first_name="Keep")
    db.commit()
    response = api.marketer.post(
        "/api/v1/contacts/bulk",
        json={
            "update_existing": False,
            "contacts": [{"email": "keep@example.org", "first_name": "Changed"}],
        },
    )
    assert response.get_json()["results"][0]["status"] == "unchanged"
    db.expire_all()
    assert find_contact_by_email(db, "keep@example.org").first_name == "Keep"


def test_bulk_upsert_takes_ten_thousand_and_no_more(api, db):
    too_many = {"contacts": [{"email": f"c{i}@example.org"} for i in range(10_001)]}
    response = api.marketer.post("/api/v1/contacts/bulk", json=too_many)
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["field"] == "contacts"
    assert api.marketer.post("/api/v1/contacts/bulk", json={"contacts": []}).status_code == 422

    many = {"contacts": [{"email": f"c{i}@example.org"} for i in range(10_000)]}
    response = api.marketer.post("/api/v1/contacts/bulk", json=many)
    assert response.status_code == 200
    assert response.get_json()["created"] == 10_000
    assert db.scalar(select(Contact.id).where(Contact.email == "c9999@example.org"))


def test_consent_history_and_recording(api, db):
    contact = create_contact(db, "c@example.org")
    db.commit()
    url = f"/api/v1/contacts/{contact.id}/consents"
    response = api.marketer.post(
        url, json={"channel": "email", "status": "granted", "note": "signed at the fair"}
    )
    assert response.status_code == 201
    body = response.get_json()
    assert (body["channel"], body["status"]) == ("email", "granted")
    assert body["source"] == "api: marketer@example.org (signed at the fair)"
    api.marketer.post(url, json={"channel": "print", "status": "withdrawn"})
    history = api.viewer.get(url).get_json()["data"]
    assert [(h["channel"], h["status"]) for h in history] == [
        ("print", "withdrawn"),
        ("email", "granted"),
    ]
    contact_body = api.viewer.get(f"/api/v1/contacts/{contact.id}").get_json()
    assert contact_body["consent"]["email"] == "granted"

    invalid = api.marketer.post(url, json={"channel": "fax", "status": "unknown"})
    assert invalid.status_code == 422
    assert {e["field"] for e in invalid.get_json()["errors"]} == {"channel", "status"}
    assert api.viewer.get("/api/v1/contacts/999999/consents").status_code == 404


def test_unsubscribe_suppresses_withdraws_and_tells_webhooks(api, db):
    from campaign_manager.core.webhooks import WebhookDelivery, create_subscription

    create_subscription(
        db, url="https://crm.example.org/hook", event_types=["contact.unsubscribed"]
    )
    contact = create_contact(db, "u@example.org")
    db.commit()
    response = api.marketer.post(f"/api/v1/contacts/{contact.id}/unsubscribe")
    assert response.status_code == 200
    body = response.get_json()
    assert body["suppressed"] == "unsubscribed"
    assert body["consent"]["email"] == "withdrawn"
    assert suppression_for(db, "u@example.org").reason is SuppressionReason.UNSUBSCRIBED
    again = api.marketer.post(f"/api/v1/contacts/{contact.id}/unsubscribe")
    assert again.status_code == 200
    listed = api.viewer.get("/api/v1/contacts").get_json()["data"]
    assert [c["suppressed"] for c in listed] == ["unsubscribed"]
    withdrawals = db.scalars(
        select(Consent).where(
            Consent.contact_id == contact.id, Consent.channel == ConsentChannel.EMAIL
        )
    ).all()
    assert [w.status for w in withdrawals] == [ConsentStatus.WITHDRAWN]
    events = db.scalars(select(WebhookDelivery)).all()
    assert [e.event_type for e in events] == ["contact.unsubscribed"], "one event, not two"
    assert events[0].payload["data"]["email"] == "u@example.org"


def test_unsubscribe_without_an_address_withdraws_consent(api, db):
    contact = create_contact(db, None, first_name="Paper only")
    db.commit()
    response = api.marketer.post(f"/api/v1/contacts/{contact.id}/unsubscribe")
    assert response.status_code == 200
    assert response.get_json()["consent"]["email"] == "withdrawn"
    assert response.get_json()["suppressed"] is None


def test_text_with_nul_characters_is_refused(api, db):
    response = api.marketer.post("/api/v1/contacts", json={"first_name": "A\u0000B"})
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["field"] == "first_name"
    bulk = api.marketer.post(
        "/api/v1/contacts/bulk",
        json={
            "contacts": [
                {"email": "ok@example.org"},
                {"email": "n@example.org", "school": "\u0000"},
            ]
        },
    )
    assert [r["status"] for r in bulk.get_json()["results"]] == ["created", "rejected"]
    assert bulk.get_json()["results"][1]["errors"][0]["field"] == "school"
