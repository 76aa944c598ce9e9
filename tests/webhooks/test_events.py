"""Each event type comes from its real trigger, in the same transaction as the change."""

from __future__ import annotations

import json

from sqlalchemy import select

from audiences.contacts import create_contact, record_consent
from audiences.models import ConsentChannel, ConsentStatus, ContactRole
from audiences.unsubscribe import save_preferences, unsubscribe_token
from campaign_manager.channels.base import Failed, Sent
from campaign_manager.core.security import TokenSigner
from campaign_manager.core.webhooks import WebhookDelivery
from schedulers.worker import DeliveryWorker, WorkerSettings
from tests.conftest import TEST_SECRET


def events(db, event_type=None):
    db.expire_all()
    query = select(WebhookDelivery).order_by(WebhookDelivery.id)
    if event_type:
        query = query.where(WebhookDelivery.event_type == event_type)
    return [row.payload for row in db.scalars(query)]


def test_the_worker_emits_delivery_sent_and_delivery_failed(
    app, db, subscribe, add_deliveries, renderer, adapters, running_step
):
    subscribe("delivery.sent", "delivery.failed")
    sent_id, failed_id = add_deliveries(2)
    adapters.adapter(1).script.extend(
        [Sent("msg-1"), Failed("550 mailbox does not exist", permanent=True)]
    )
    worker = DeliveryWorker(
        app.extensions["database"], renderer, adapters, WorkerSettings(), name="w1"
    )

    worker.run_batch()

    sent, failed = events(db)
    assert sent["type"] == "delivery.sent"
    assert sent["data"]["delivery_id"] == sent_id
    assert sent["data"]["external_id"] == "msg-1"
    assert sent["data"]["campaign_id"] == running_step.campaign_id
    assert sent["data"]["step_id"] == running_step.id
    assert sent["data"]["channel_kind"] == "email"
    assert sent["data"]["sent_at"].endswith("Z")
    assert failed["type"] == "delivery.failed"
    assert failed["data"]["delivery_id"] == failed_id
    assert failed["data"]["error"] == "550 mailbox does not exist"
    assert sent["id"] != failed["id"] and sent["id"].startswith("evt_")


def test_giving_up_after_the_last_attempt_emits_delivery_failed(
    app, db, subscribe, add_deliveries, renderer, adapters
):
    from schedulers.retry import RetryPolicy

    subscribe("delivery.failed")
    (delivery_id,) = add_deliveries(1)
    adapters.adapter(1).script.append(Failed("connection reset", permanent=False))
    worker = DeliveryWorker(
        app.extensions["database"],
        renderer,
        adapters,
        WorkerSettings(retry=RetryPolicy(max_attempts=1)),
        name="w1",
    )

    worker.run_batch()

    (failed,) = events(db)
    assert failed["data"]["delivery_id"] == delivery_id
    assert failed["data"]["reason"] == "gave up after 1 attempts"


def test_following_an_unsubscribe_link_emits_contact_unsubscribed_once(client, db, subscribe):
    subscribe("contact.unsubscribed")
    contact = create_contact(db, "jordan.lee@example.org", role=ContactRole.STUDENT)
    db.commit()
    token = unsubscribe_token(TokenSigner(TEST_SECRET), contact.id, campaign_id=None)

    for _ in range(2):  # a second click changes nothing, and says nothing
        response = client.post(f"/u/{token}", data={"List-Unsubscribe": "One-Click"})
        assert response.status_code == 200

    (event,) = events(db)
    assert event["type"] == "contact.unsubscribed"
    assert event["data"] == {
        "contact_id": contact.id,
        "email": "jordan.lee@example.org",
        "channel": "email",
        "source": "one-click unsubscribe",
        "campaign_id": None,
    }


def test_the_preference_centre_emits_one_event_per_channel_given_up(db, subscribe):
    subscribe("contact.unsubscribed")
    contact = create_contact(db, "sam.ortiz@example.org", role=ContactRole.PARENT)
    for channel in (ConsentChannel.EMAIL, ConsentChannel.PRINT):
        record_consent(db, contact, channel, ConsentStatus.GRANTED, "signup form")
    db.commit()

    save_preferences(
        db, contact, {ConsentChannel.EMAIL: False, ConsentChannel.PRINT: False}, ip=None
    )
    db.commit()

    channels = [e["data"]["channel"] for e in events(db)]
    assert channels == ["email", "print"]


def test_a_vendor_moving_a_print_job_emits_print_job_status_changed(app, db, users, subscribe):
    from tests.channels.print_samples import make_print_job, make_print_samples

    subscribe("print_job.status_changed")
    job = make_print_job(db, make_print_samples(db), "webhook-job")
    vendor = app.test_client()
    vendor.login(users["vendor"].email)

    assert vendor.get(f"/print-jobs/{job.id}/files/0").status_code == 200
    vendor.fetch_csrf_token(f"/print-jobs/{job.id}")
    assert vendor.post_form(f"/print-jobs/{job.id}/accept").status_code == 302
    # A refused move (shipping an unprinted job) changes nothing and emits nothing.
    vendor.post_form(f"/print-jobs/{job.id}/shipped", {"tracking_number": "1Z999"})

    moves = [(e["data"]["from_status"], e["data"]["to_status"]) for e in events(db)]
    assert moves == [("ready", "downloaded"), ("downloaded", "accepted")]
    data = events(db)[-1]["data"]
    assert data["print_job_id"] == job.id
    assert data["vendor_id"] == job.vendor_id
    assert data["user_id"] == users["vendor"].id


def test_campaign_transitions_emit_campaign_status_changed(app, db, users, subscribe):
    from tests.campaigns.samples import make_campaign_samples

    subscribe("campaign.status_changed")
    # Submitted, approved, and started by the scheduler (user None).
    campaign = make_campaign_samples(db, users).campaign
    marketer = app.test_client()
    marketer.login(users["marketer"].email)
    marketer.post_form(f"/campaigns/{campaign.id}/pause", {"comment": "Holiday break"})

    found = [e["data"] for e in events(db)]
    assert [(d["from_status"], d["to_status"]) for d in found] == [
        ("draft", "in_review"),
        ("in_review", "approved"),
        ("approved", "running"),
        ("running", "paused"),
    ]
    assert {d["campaign_id"] for d in found} == {campaign.id}
    assert found[2]["user_id"] is None
    assert found[3]["user_id"] == users["marketer"].id
    assert found[3]["comment"] == "Holiday break"
    assert found[3]["name"] == "Sample campaign"


def test_a_change_that_is_rolled_back_leaves_no_event(db, subscribe):
    from campaign_manager.core.webhooks import record_event

    subscribe("delivery.sent")
    record_event(db, "delivery.sent", {"delivery_id": 1})
    db.rollback()

    assert events(db) == []


def test_the_body_is_the_documented_json(db, subscribe):
    from campaign_manager.core.webhooks import record_event

    subscribe("delivery.sent")
    (row,) = record_event(db, "delivery.sent", {"delivery_id": 1, "note": "café"})
    db.commit()

    assert json.loads(row.body) == {
        "id": row.event_id,
        "type": "delivery.sent",
        "created_at": row.created_at.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "data": {"delivery_id": 1, "note": "café"},
    }


def test_a_person_marking_an_uncertain_delivery_sent_emits_delivery_sent(app, db, users, subscribe):
    from tests.campaigns.samples import make_campaign_samples

    uncertain = make_campaign_samples(db, users).delivery
    subscribe("delivery.sent")
    marketer = app.test_client()
    marketer.login(users["marketer"].email)

    response = marketer.post_form(f"/deliveries/{uncertain.id}/mark-sent")

    assert response.status_code == 302
    (event,) = events(db)
    assert event["type"] == "delivery.sent"
    assert event["data"]["delivery_id"] == uncertain.id
    assert event["data"]["reason"] == "marked sent by a person"
