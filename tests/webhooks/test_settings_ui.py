"""Settings → Webhooks: forms with CSRF, admin-only access, test events, the delivery log."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from campaign_manager.core.webhooks import (
    WebhookDelivery,
    WebhookDeliveryStatus,
    WebhookSubscription,
    record_event,
)

SECRET_RE = re.compile(r"<code>(whsec_[A-Za-z0-9_-]+)</code>")


@pytest.fixture
def admin(app, users):
    client = app.test_client()
    client.login(users["admin"].email)
    client.fetch_csrf_token("/settings/webhooks/new")
    return client


def subscriptions(db):
    db.expire_all()
    return db.scalars(select(WebhookSubscription).order_by(WebhookSubscription.id)).all()


def test_creating_a_subscription_shows_its_secret_once(admin, db, receiver):
    response = admin.post_form(
        "/settings/webhooks/new",
        {
            "url": receiver.url,
            "description": "District CRM",
            "event_types": ["contact.unsubscribed", "delivery.sent"],
        },
    )

    assert response.status_code == 200
    page = response.get_data(as_text=True)
    (secret,) = SECRET_RE.findall(page)
    (subscription,) = subscriptions(db)
    assert subscription.secret == secret
    assert subscription.event_types == ["delivery.sent", "contact.unsubscribed"]
    assert subscription.enabled and subscription.description == "District CRM"
    again = admin.get(f"/settings/webhooks/{subscription.id}").get_data(as_text=True)
    assert secret not in again and "District CRM" in again
    assert secret not in admin.get("/settings/webhooks/").get_data(as_text=True)


def test_a_form_without_the_csrf_token_is_refused(admin, db, receiver):
    response = admin.post(
        "/settings/webhooks/new", data={"url": receiver.url, "event_types": ["delivery.sent"]}
    )

    assert response.status_code == 400
    assert subscriptions(db) == []


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"url": "http://crm.partner.example/hook", "event_types": ["delivery.sent"]},
            "must start with https://",
        ),
        ({"url": "ftp://crm.partner.example/hook", "event_types": ["delivery.sent"]}, "https://"),
        ({"url": "https://crm.partner.example/hook"}, "Choose at least one event type."),
        (
            {"url": "https://crm.partner.example/hook", "event_types": ["contact.created"]},
            "is not a valid choice",
        ),
        ({"url": "", "event_types": ["delivery.sent"]}, "This field is required."),
    ],
)
def test_bad_input_is_explained_and_nothing_is_saved(admin, db, fields, message):
    response = admin.post_form("/settings/webhooks/new", fields)

    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert subscriptions(db) == []


def test_editing_turning_off_and_on_again(admin, db, subscribe):
    subscription = subscribe("delivery.sent")
    path = f"/settings/webhooks/{subscription.id}"

    response = admin.post_form(
        f"{path}/edit",
        {
            "url": "https://crm.partner.example/v2/hook",
            "description": "New CRM",
            "event_types": ["campaign.status_changed"],
        },
    )
    assert response.status_code == 302
    (saved,) = subscriptions(db)
    assert saved.url == "https://crm.partner.example/v2/hook"
    assert saved.event_types == ["campaign.status_changed"]

    admin.post_form(f"{path}/disable")
    (saved,) = subscriptions(db)
    assert not saved.enabled and not saved.disabled_automatically
    assert record_event(db, "campaign.status_changed", {"campaign_id": 1}) == []
    db.rollback()

    admin.post_form(f"{path}/enable")
    (saved,) = subscriptions(db)
    assert saved.enabled


def test_send_test_event_reaches_the_receiver_and_is_logged(admin, db, receiver, subscribe):
    subscription = subscribe("delivery.sent")

    response = admin.post_form(f"/settings/webhooks/{subscription.id}/test", follow_redirects=True)

    page = response.get_data(as_text=True)
    assert "The test event was delivered (HTTP 200)." in page
    (request,) = receiver.requests
    assert request.signature_valid
    event = receiver.accepted[request.headers["Idempotency-Key"]]
    assert event["type"] == "webhook.test"
    assert event["data"]["subscription_id"] == subscription.id
    assert "webhook.test" in page and "delivered" in page


def test_a_failed_test_event_says_why_and_is_not_retried(admin, db, receiver, subscribe):
    subscription = subscribe("delivery.sent")
    receiver.script.append(500)

    response = admin.post_form(f"/settings/webhooks/{subscription.id}/test", follow_redirects=True)

    assert "The test event was not delivered: the receiver answered HTTP 500" in (
        response.get_data(as_text=True)
    )
    db.expire_all()
    row = db.scalar(select(WebhookDelivery))
    assert row.status is WebhookDeliveryStatus.FAILED and row.attempts == 1
    (saved,) = subscriptions(db)
    assert saved.consecutive_failures == 0, "a test does not count towards turning it off"


def test_redeliver_from_the_log(admin, db, receiver, subscribe, make_sender):
    subscription = subscribe("delivery.sent")
    (row,) = record_event(db, "delivery.sent", {"delivery_id": 3})
    db.commit()
    make_sender().run_batch()

    response = admin.post_form(
        f"/settings/webhooks/deliveries/{row.id}/redeliver", follow_redirects=True
    )

    assert f"Event {row.event_id} is queued to be delivered again." in response.get_data(
        as_text=True
    )
    make_sender().run_batch()
    assert [r.headers["Idempotency-Key"] for r in receiver.requests] == [row.event_id] * 2
    assert (
        db.scalar(select(func.count()).where(WebhookDelivery.subscription_id == subscription.id))
        == 2
    )


def test_a_delivery_still_being_tried_cannot_be_redelivered(admin, db, subscribe):
    subscribe("delivery.sent")
    (row,) = record_event(db, "delivery.sent", {"delivery_id": 3})
    db.commit()

    response = admin.post_form(
        f"/settings/webhooks/deliveries/{row.id}/redeliver", follow_redirects=True
    )

    assert "still being tried" in response.get_data(as_text=True)
    assert db.scalar(select(func.count()).select_from(WebhookDelivery)) == 1


def test_replacing_the_secret_signs_with_the_new_one(admin, db, receiver, subscribe):
    subscription = subscribe("delivery.sent")
    old = receiver.secret

    page = admin.post_form(f"/settings/webhooks/{subscription.id}/secret").get_data(as_text=True)

    (new,) = SECRET_RE.findall(page)
    assert new != old
    receiver.secret = new
    admin.post_form(f"/settings/webhooks/{subscription.id}/test")
    assert receiver.requests[-1].signature_valid


@pytest.mark.parametrize("role", ["marketer", "approver", "viewer", "vendor"])
def test_only_admins_manage_webhooks(app, users, db, subscribe, role):
    subscription = subscribe("delivery.sent")
    client = app.test_client()
    client.login(users[role].email)

    assert client.get("/settings/webhooks/").status_code == 403
    assert client.get(f"/settings/webhooks/{subscription.id}").status_code == 403
    response = client.post_form(
        "/settings/webhooks/new",
        {"url": "https://evil.example/hook", "event_types": ["contact.unsubscribed"]},
    )
    assert response.status_code == 403
    assert client.post_form(f"/settings/webhooks/{subscription.id}/disable").status_code == 403
    assert len(subscriptions(db)) == 1 and subscriptions(db)[0].enabled
    assert "/settings/webhooks" not in client.get("/settings/").get_data(as_text=True)
