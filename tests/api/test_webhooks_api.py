"""Outgoing webhooks through the API: subscriptions, the secret shown once, the delivery log,
redeliver, test events, admin-only access, and an event from the API to a live receiver."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select

from audiences.contacts import create_contact
from campaign_manager.api.idempotency import IdempotencyRecord
from campaign_manager.core.accounts import Role
from campaign_manager.core.webhooks import (
    WebhookDelivery,
    WebhookDeliveryStatus,
    WebhookSubscription,
    record_event,
)
from tests.webhook_receiver import signature_is_valid

PROBLEM = "application/problem+json"
SUBSCRIPTIONS = "/api/v1/webhook-subscriptions"


def new_subscription(client, url="https://crm.partner.example/hooks", **fields):
    body = {"url": url, "event_types": ["delivery.sent"], **fields}
    response = client.post(SUBSCRIPTIONS, json=body)
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()


def stored(db, subscription_id: int) -> WebhookSubscription:
    db.expire_all()
    return db.get(WebhookSubscription, subscription_id)


def count_subscriptions(db) -> int:
    return db.scalar(select(func.count()).select_from(WebhookSubscription))


def test_create_read_and_list_a_subscription(api, db, users):
    response = api.admin.post(
        SUBSCRIPTIONS,
        json={
            "url": "https://crm.partner.example/hooks",
            "description": "District CRM",
            "event_types": ["contact.unsubscribed", "delivery.sent"],
        },
    )

    assert response.status_code == 201, response.get_data(as_text=True)
    created = response.get_json()
    assert created["secret"].startswith("whsec_")
    # Stored in the enum's order, whatever order the client sent.
    assert created["event_types"] == ["delivery.sent", "contact.unsubscribed"]
    assert created["enabled"] is True and created["description"] == "District CRM"
    assert response.headers["Location"] == f"{SUBSCRIPTIONS}/{created['id']}"
    saved = stored(db, created["id"])
    assert saved.secret == created["secret"]
    assert saved.created_by_id == users["admin"].id

    fetched = api.admin.get(response.headers["Location"])
    assert fetched.status_code == 200
    assert fetched.headers["ETag"]
    assert fetched.get_json() == {k: v for k, v in created.items() if k != "secret"}

    listed = api.admin.get(SUBSCRIPTIONS).get_json()
    assert [s["id"] for s in listed["data"]] == [created["id"]]
    assert listed["next_cursor"] is None


def test_the_secret_is_shown_on_create_and_replace_only(api, db):
    created = new_subscription(api.admin)
    first_secret = created["secret"]
    path = f"{SUBSCRIPTIONS}/{created['id']}"

    replaced = api.admin.post(f"{path}/secret")

    assert replaced.status_code == 200
    second_secret = replaced.get_json()["secret"]
    assert second_secret.startswith("whsec_") and second_secret != first_secret
    assert stored(db, created["id"]).secret == second_secret
    tag = api.admin.get(path).headers["ETag"]
    answers = [
        api.admin.get(path),
        api.admin.get(SUBSCRIPTIONS),
        api.admin.get(f"{SUBSCRIPTIONS}?enabled=true"),
        api.admin.patch(path, json={"description": "Renamed"}, headers={"If-Match": tag}),
        api.admin.post(f"{path}/disable"),
        api.admin.post(f"{path}/enable"),
        api.admin.get(f"{path}/deliveries"),
        api.admin.get("/api/v1/openapi.json"),
    ]
    for answer in answers:
        text = answer.get_data(as_text=True)
        assert answer.status_code == 200, text
        assert first_secret not in text and second_secret not in text
        assert '"secret"' not in text or answer.request.path.endswith("openapi.json")


@pytest.mark.parametrize(
    ("body", "field", "detail"),
    [
        (
            {"url": "not a url", "event_types": ["delivery.sent"]},
            "url",
            "must start with https://",
        ),
        (
            {"url": "http://crm.partner.example/hooks", "event_types": ["delivery.sent"]},
            "url",
            "must start with https:// (http only for localhost)",
        ),
        (
            {"url": "https://crm.partner.example/hooks", "event_types": ["contact.created"]},
            "event_types",
            "'contact.created' is not an event type.",
        ),
        (
            {"url": "https://crm.partner.example/hooks", "event_types": []},
            "event_types",
            "Choose at least one event type.",
        ),
        (
            {"url": "https://crm.partner.example/" + "a" * 2000, "event_types": ["delivery.sent"]},
            "url",
            "longer than 2000 characters",
        ),
        ({"event_types": ["delivery.sent"]}, "url", "Missing data for required field."),
        (
            {"url": "https://crm.partner.example/hooks", "event_types": "delivery.sent"},
            "event_types",
            "Not a valid list.",
        ),
    ],
)
def test_bad_input_is_a_field_error_and_saves_nothing(api, db, body, field, detail):
    response = api.admin.post(SUBSCRIPTIONS, json=body)

    assert response.status_code == 422
    assert response.mimetype == PROBLEM
    problem = response.get_json()
    assert problem["status"] == 422
    (error,) = problem["errors"]
    assert error["field"] == field
    assert error["pointer"] == f"#/{field}"
    assert detail in error["detail"]
    assert count_subscriptions(db) == 0


def test_plain_http_is_accepted_for_localhost(api, db):
    created = new_subscription(api.admin, url="http://localhost:8080/hooks")

    assert stored(db, created["id"]).url == "http://localhost:8080/hooks"


@pytest.mark.parametrize("role", [r for r in Role if r is not Role.ADMIN])
def test_only_admins_use_webhooks(api, db, role):
    created = new_subscription(api.admin)
    client = getattr(api, role.value)
    path = f"{SUBSCRIPTIONS}/{created['id']}"

    answers = [
        client.get(SUBSCRIPTIONS),
        client.post(SUBSCRIPTIONS, json={"url": "https://evil.example/x", "event_types": []}),
        client.get(path),
        client.patch(path, json={"url": "https://evil.example/x"}, headers={"If-Match": "*"}),
        client.post(f"{path}/secret"),
        client.post(f"{path}/disable"),
        client.post(f"{path}/test"),
        client.get(f"{path}/deliveries"),
        client.delete(path, headers={"If-Match": "*"}),
    ]

    for answer in answers:
        assert answer.status_code == 403, answer.request.path
        assert answer.mimetype == PROBLEM
        assert created["secret"] not in answer.get_data(as_text=True)
    saved = stored(db, created["id"])
    assert saved.url == "https://crm.partner.example/hooks" and saved.enabled
    assert saved.secret == created["secret"]
    assert count_subscriptions(db) == 1


def test_anonymous_callers_get_401(api):
    assert api.anonymous.get(SUBSCRIPTIONS).status_code == 401
    assert api.anonymous.post(SUBSCRIPTIONS, json={}).status_code == 401


def test_patch_needs_the_current_etag(api, db):
    created = new_subscription(api.admin, description="District CRM")
    path = f"{SUBSCRIPTIONS}/{created['id']}"
    first_tag = api.admin.get(path).headers["ETag"]

    changed = api.admin.patch(
        path,
        json={"event_types": ["campaign.status_changed", "delivery.failed"]},
        headers={"If-Match": first_tag},
    )

    assert changed.status_code == 200, changed.get_data(as_text=True)
    assert changed.get_json()["event_types"] == ["delivery.failed", "campaign.status_changed"]
    # The fields not sent keep their values.
    assert changed.get_json()["url"] == "https://crm.partner.example/hooks"
    assert changed.get_json()["description"] == "District CRM"
    assert changed.headers["ETag"] != first_tag

    stale = api.admin.patch(path, json={"description": "Lost"}, headers={"If-Match": first_tag})
    assert stale.status_code == 412
    assert stale.mimetype == PROBLEM
    missing = api.admin.patch(path, json={"description": "Lost"})
    assert missing.status_code == 428
    invalid = api.admin.patch(
        path,
        json={"url": "http://crm.partner.example/hooks"},
        headers={"If-Match": changed.headers["ETag"]},
    )
    assert invalid.status_code == 422
    assert [e["field"] for e in invalid.get_json()["errors"]] == ["url"]
    saved = stored(db, created["id"])
    assert saved.description == "District CRM" and saved.url == "https://crm.partner.example/hooks"
    assert saved.event_types == ["delivery.failed", "campaign.status_changed"]


def test_an_idempotency_key_replays_the_create_with_the_same_secret(api, db):
    body = {"url": "https://crm.partner.example/hooks", "event_types": ["delivery.sent"]}
    key = {"Idempotency-Key": "3f1c2a5e-create-hook"}

    first = api.admin.post(SUBSCRIPTIONS, json=body, headers=key)
    again = api.admin.post(SUBSCRIPTIONS, json=body, headers=key)

    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json()
    assert again.headers["Location"] == first.headers["Location"]
    assert count_subscriptions(db) == 1
    # The kept answer is the only other copy of the secret: encrypted, like the secret.
    record = db.scalar(select(IdempotencyRecord))
    assert record.status_code == 201
    assert first.get_json()["secret"] not in record.response_body
    other = api.admin.post(SUBSCRIPTIONS, json={**body, "description": "x"}, headers=key)
    assert other.status_code == 422


def test_turning_off_and_on(api, db):
    created = new_subscription(api.admin)
    path = f"{SUBSCRIPTIONS}/{created['id']}"

    off = api.admin.post(f"{path}/disable")

    assert off.status_code == 200
    assert off.get_json()["enabled"] is False
    assert off.get_json()["disabled_reason"] == "Turned off through the API by admin@example.org."
    assert off.get_json()["disabled_automatically"] is False
    assert record_event(db, "delivery.sent", {"delivery_id": 1}) == [], "no events while off"
    assert (
        api.admin.get(f"{SUBSCRIPTIONS}?enabled=false").get_json()["data"][0]["id"]
        == (created["id"])
    )
    assert api.admin.get(f"{SUBSCRIPTIONS}?enabled=true").get_json()["data"] == []

    on = api.admin.post(f"{path}/enable")

    assert on.status_code == 200
    assert on.get_json()["enabled"] is True and on.get_json()["disabled_reason"] == ""
    assert len(record_event(db, "delivery.sent", {"delivery_id": 1})) == 1
    db.commit()


def test_delete_needs_the_etag_and_takes_the_log_along(api, db):
    created = new_subscription(api.admin)
    path = f"{SUBSCRIPTIONS}/{created['id']}"
    record_event(db, "delivery.sent", {"delivery_id": 1})
    db.commit()

    assert api.admin.delete(path).status_code == 428
    assert api.admin.delete(path, headers={"If-Match": '"stale"'}).status_code == 412
    tag = api.admin.get(path).headers["ETag"]
    deleted = api.admin.delete(path, headers={"If-Match": tag})

    assert deleted.status_code == 204
    assert api.admin.get(path).status_code == 404
    assert api.admin.get(path).mimetype == PROBLEM
    assert count_subscriptions(db) == 0
    assert db.scalar(select(func.count()).select_from(WebhookDelivery)) == 0


def test_the_delivery_log_pages_and_filters(api, db):
    created = new_subscription(api.admin, event_types=["delivery.sent", "delivery.failed"])
    other = new_subscription(api.admin, event_types=["delivery.sent"])
    for number in range(3):
        record_event(db, "delivery.sent", {"delivery_id": number})
    record_event(db, "delivery.failed", {"delivery_id": 9})
    db.commit()
    log = f"{SUBSCRIPTIONS}/{created['id']}/deliveries"
    delivered = db.scalars(
        select(WebhookDelivery)
        .where(WebhookDelivery.subscription_id == created["id"])
        .order_by(WebhookDelivery.id)
    ).first()
    delivered.status = WebhookDeliveryStatus.DELIVERED
    delivered.response_code = 200
    db.commit()

    seen, cursor = [], None
    while True:
        url = f"{log}?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = api.admin.get(url).get_json()
        seen.extend(page["data"])
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert len(seen) == 4, "the other subscription's rows are not in this log"
    assert [d["id"] for d in seen] == sorted((d["id"] for d in seen), reverse=True)
    assert {d["subscription_id"] for d in seen} == {created["id"]}
    newest = seen[0]
    assert newest["event_type"] == "delivery.failed"
    assert newest["payload"]["type"] == "delivery.failed"
    assert newest["payload"]["data"] == {"delivery_id": 9}
    assert newest["payload"]["id"] == newest["event_id"]
    assert newest["status"] == "pending" and newest["attempts"] == 0

    failed_only = api.admin.get(f"{log}?event_type=delivery.failed").get_json()["data"]
    assert [d["event_type"] for d in failed_only] == ["delivery.failed"]
    done = api.admin.get(f"{log}?status=delivered").get_json()["data"]
    assert [(d["id"], d["response_code"]) for d in done] == [(delivered.id, 200)]
    assert api.admin.get(f"{log}?status=delivered&event_type=delivery.failed").get_json() == {
        "data": [],
        "next_cursor": None,
    }
    bad = api.admin.get(f"{log}?status=lost&event_type=nope")
    assert bad.status_code == 422
    assert {e["field"] for e in bad.get_json()["errors"]} == {"query.status", "query.event_type"}
    assert len(api.admin.get(f"{SUBSCRIPTIONS}/{other['id']}/deliveries").get_json()["data"]) == 3
    assert api.admin.get(f"{SUBSCRIPTIONS}/999999/deliveries").status_code == 404


def test_redeliver_a_finished_delivery(api, db):
    created = new_subscription(api.admin)
    (row,) = record_event(db, "delivery.sent", {"delivery_id": 7})
    db.commit()
    path = f"/api/v1/webhook-deliveries/{row.id}"

    still_pending = api.admin.post(f"{path}/redeliver")
    assert still_pending.status_code == 409
    assert still_pending.mimetype == PROBLEM
    assert "still being tried" in still_pending.get_json()["detail"]

    row.status = WebhookDeliveryStatus.FAILED
    db.commit()
    again = api.admin.post(f"{path}/redeliver")

    assert again.status_code == 201, again.get_data(as_text=True)
    repeat = again.get_json()
    assert repeat["id"] != row.id and repeat["redelivery_of_id"] == row.id
    assert repeat["event_id"] == row.event_id and repeat["payload"] == row.payload
    assert repeat["status"] == "pending" and repeat["subscription_id"] == created["id"]
    assert again.headers["Location"] == f"/api/v1/webhook-deliveries/{repeat['id']}"
    assert api.admin.get(again.headers["Location"]).get_json() == repeat
    assert api.admin.post("/api/v1/webhook-deliveries/999999/redeliver").status_code == 404


def test_send_test_event_reaches_the_receiver(api, db, receiver):
    created = new_subscription(api.admin, url=receiver.url)
    receiver.secret = created["secret"]

    response = api.admin.post(f"{SUBSCRIPTIONS}/{created['id']}/test")

    assert response.status_code == 201, response.get_data(as_text=True)
    delivery = response.get_json()
    assert delivery["event_type"] == "webhook.test"
    assert delivery["status"] == "delivered" and delivery["response_code"] == 200
    (request,) = receiver.requests
    assert request.signature_valid
    assert receiver.accepted[delivery["event_id"]]["data"]["subscription_id"] == created["id"]


def test_a_failed_test_event_says_what_the_receiver_answered(api, db, receiver):
    created = new_subscription(api.admin, url=receiver.url)
    receiver.secret = created["secret"]
    receiver.script.append(503)

    response = api.admin.post(f"{SUBSCRIPTIONS}/{created['id']}/test")

    assert response.status_code == 201
    delivery = response.get_json()
    assert delivery["status"] == "failed" and delivery["attempts"] == 1
    assert delivery["response_code"] == 503
    assert "the receiver answered HTTP 503" in delivery["error"]
    assert stored(db, created["id"]).consecutive_failures == 0


def test_an_unsubscribe_through_the_api_reaches_a_receiver_signed(api, db, receiver, make_sender):
    """End to end: subscribe through the API, cause an event through the API, run the
    sender, and let a receiver with its own HMAC code check the signature."""
    created = new_subscription(api.admin, url=receiver.url, event_types=["contact.unsubscribed"])
    receiver.secret = created["secret"]
    contact = create_contact(db, "leaving@example.org")
    db.commit()

    unsubscribed = api.marketer.post(f"/api/v1/contacts/{contact.id}/unsubscribe")
    assert unsubscribed.status_code == 200
    assert make_sender().run_batch() == 1

    (request,) = receiver.requests
    assert request.signature_valid and request.answered == 200
    assert not signature_is_valid("whsec_another", request.body, _signature(request), time.time())
    event = receiver.accepted[request.headers["Idempotency-Key"]]
    assert event["type"] == "contact.unsubscribed"
    assert event["data"]["contact_id"] == contact.id
    assert event["data"]["email"] == "leaving@example.org"
    log = api.admin.get(f"{SUBSCRIPTIONS}/{created['id']}/deliveries").get_json()["data"]
    assert [(d["event_id"], d["status"], d["response_code"]) for d in log] == [
        (event["id"], "delivered", 200)
    ]

    # After a secret replacement the receiver must use the new one: the old one fails.
    old_secret = receiver.secret
    replaced = api.admin.post(f"{SUBSCRIPTIONS}/{created['id']}/secret").get_json()["secret"]
    redelivered = api.admin.post(f"/api/v1/webhook-deliveries/{log[0]['id']}/redeliver")
    assert redelivered.status_code == 201
    make_sender().run_batch()
    repeat = receiver.requests[-1]
    assert not repeat.signature_valid, "the receiver still holds the old secret"
    assert signature_is_valid(replaced, repeat.body, _signature(repeat), time.time())
    assert not signature_is_valid(old_secret, repeat.body, _signature(repeat), time.time())
    assert repeat.body == request.body, "a redelivery sends the same event"


def _signature(request) -> str:
    return request.headers["Campaign-Manager-Signature"]
