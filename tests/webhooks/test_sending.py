"""Sending outgoing webhooks to a live receiver: signature, retries, timeouts, auto-disable."""

from __future__ import annotations

import json
import time

from sqlalchemy import select, text

from campaign_manager.channels.base import Sent
from campaign_manager.core.crypto import credential_cipher
from campaign_manager.core.webhooks import (
    WebhookDelivery,
    WebhookDeliveryStatus,
    WebhookSubscription,
    enable_subscription,
    record_event,
    redeliver,
)
from schedulers.worker import DeliveryWorker, WorkerSettings
from tests.webhook_receiver import signature_is_valid

W = WebhookDeliveryStatus


def webhook_rows(db, subscription_id=None):
    db.expire_all()
    query = select(WebhookDelivery).order_by(WebhookDelivery.id)
    if subscription_id is not None:
        query = query.where(WebhookDelivery.subscription_id == subscription_id)
    return db.scalars(query).all()


def emit(db, event_type="delivery.sent", **data):
    rows = record_event(db, event_type, data or {"delivery_id": 7})
    db.commit()
    return rows


def test_the_worker_sends_a_delivery_event_that_the_receiver_verifies(
    app, db, receiver, subscribe, add_deliveries, renderer, adapters, make_sender, running_step
):
    subscription = subscribe("delivery.sent")
    (delivery_id,) = add_deliveries(1)
    sender = make_sender()
    # The delivery worker runs the webhook sender between its delivery batches.
    worker = DeliveryWorker(
        app.extensions["database"],
        renderer,
        adapters,
        WorkerSettings(idle_sleep_seconds=0.05),
        name="w1",
        webhooks=sender,
    )
    adapters.adapter(1).script.append(Sent("provider-42"))
    assert worker.run_batch() == 1
    assert sender.run_batch() == 1

    (request,) = receiver.requests
    assert request.signature_valid
    assert request.headers["Content-Type"] == "application/json"
    event = json.loads(request.body)
    assert set(event) == {"id", "type", "created_at", "data"}
    assert event["type"] == "delivery.sent"
    assert request.headers["Idempotency-Key"] == event["id"]
    assert event["data"]["delivery_id"] == delivery_id
    assert event["data"]["status"] == "sent"
    assert event["data"]["external_id"] == "provider-42"
    assert event["data"]["campaign_id"] == running_step.campaign_id
    # The signature covers the exact body and the timestamp: change either and it fails.
    header = request.headers["Campaign-Manager-Signature"]
    assert not signature_is_valid(receiver.secret, request.body + b" ", header, time.time())
    assert not signature_is_valid("another-secret", request.body, header, time.time())
    assert not signature_is_valid(receiver.secret, request.body, header, time.time() + 600)
    (row,) = webhook_rows(db)
    assert (row.status, row.attempts, row.response_code) == (W.DELIVERED, 1, 200)
    assert row.subscription_id == subscription.id


def test_the_secret_is_stored_encrypted(db, subscribe, receiver):
    subscription = subscribe("delivery.sent")
    stored = db.execute(
        text("SELECT secret FROM webhook_subscriptions WHERE id = :id"), {"id": subscription.id}
    ).scalar_one()
    assert receiver.secret not in stored
    assert credential_cipher().decrypt(stored) == receiver.secret


def test_a_receiver_error_is_retried_with_backoff_and_delivered_once(
    db, receiver, subscribe, make_sender, clock
):
    subscribe("delivery.sent")
    (queued,) = emit(db)
    receiver.script.extend([500])
    sender = make_sender(max_attempts=3, retry_base_seconds=60)

    assert sender.run_batch() == 1
    (row,) = webhook_rows(db)
    assert (row.status, row.attempts, row.response_code) == (W.PENDING, 1, 500)
    assert "HTTP 500" in row.error and "receiver says no" in row.error
    # Backoff with jitter: between half and all of the first delay (60 s).
    wait = (row.next_attempt_at - clock.now).total_seconds()
    assert 30 <= wait <= 60
    assert sender.run_batch() == 0, "not due yet"

    clock.advance(seconds=wait + 1)
    assert sender.run_batch() == 1
    (row,) = webhook_rows(db)
    assert (row.status, row.attempts, row.response_code, row.error) == (W.DELIVERED, 2, 200, "")
    assert [r.answered for r in receiver.requests] == [500, 200]
    # Both attempts carried the same body and event id; the receiver kept the event once.
    assert receiver.requests[0].body == receiver.requests[1].body
    assert list(receiver.accepted) == [queued.event_id]


def test_retry_after_is_honoured(db, receiver, subscribe, make_sender, clock):
    subscribe("delivery.sent")
    emit(db)
    receiver.script.append((429, {"Retry-After": "900"}))
    sender = make_sender(retry_base_seconds=1)

    sender.run_batch()

    (row,) = webhook_rows(db)
    assert row.status is W.PENDING and row.response_code == 429
    assert (row.next_attempt_at - clock.now).total_seconds() >= 900


def test_no_answer_in_time_is_a_failed_attempt(db, receiver, subscribe, make_sender):
    subscribe("delivery.sent")
    emit(db)
    receiver.script.append("slow")
    receiver.slow_seconds = 1.5
    sender = make_sender(timeout_seconds=0.3)

    sender.run_batch()

    (row,) = webhook_rows(db)
    assert (row.status, row.attempts, row.response_code) == (W.PENDING, 1, None)
    assert "no answer within 0.3 seconds" in row.error


def test_an_unreachable_receiver_fails_after_the_last_attempt(db, subscribe, make_sender, clock):
    subscription = subscribe("delivery.sent", url="http://127.0.0.1:9/closed")
    emit(db)
    sender = make_sender(max_attempts=2, disable_after_failures=0)

    sender.run_batch()
    clock.advance(hours=1)
    sender.run_batch()

    (row,) = webhook_rows(db)
    assert (row.status, row.attempts) == (W.FAILED, 2)
    assert "could not reach the receiver" in row.error
    db.refresh(subscription)
    assert subscription.enabled and subscription.consecutive_failures == 1


def test_repeated_failures_turn_the_subscription_off_until_a_person_turns_it_on(
    app, db, users, receiver, subscribe, make_sender, clock
):
    subscription = subscribe("delivery.sent")
    receiver.script.extend([500, 503])
    sender = make_sender(max_attempts=1, disable_after_failures=2, batch_size=1)
    emit(db, delivery_id=1)
    emit(db, delivery_id=2)

    sender.run_batch()
    db.refresh(subscription)
    assert subscription.enabled and subscription.consecutive_failures == 1
    sender.run_batch()
    db.refresh(subscription)
    assert not subscription.enabled and subscription.disabled_automatically
    assert "2 failed deliveries in a row" in subscription.disabled_reason
    assert "HTTP 503" in subscription.disabled_reason

    # While it is off, new events are not queued for it.
    assert emit(db, delivery_id=3) == []
    # The alert: on the dashboard (everyone) and on the webhooks page (admins).
    client = app.test_client()
    client.login(users["viewer"].email)
    page = client.get("/").get_data(as_text=True)
    assert "1 webhook subscription turned off after repeated failures" in page
    admin = app.test_client()
    admin.login(users["admin"].email)
    page = admin.get("/settings/webhooks/").get_data(as_text=True)
    assert "1 subscription turned off after repeated failures" in page

    enable_subscription(subscription)
    db.commit()
    assert len(emit(db, delivery_id=4)) == 1
    assert sender.run_batch() == 1
    db.refresh(subscription)
    assert subscription.enabled and subscription.consecutive_failures == 0
    # The dashboard counts at most every few seconds, and answers with a count up to twice
    # that old while recounting (web/counts.py): let that time pass.
    cache = app.extensions["counts_cache"]
    cache.clock = lambda: time.monotonic() + 2 * cache.max_age_seconds
    assert "turned off" not in client.get("/").get_data(as_text=True)


def test_a_delivered_event_resets_the_failure_count(db, receiver, subscribe, make_sender):
    subscription = subscribe("delivery.sent")
    receiver.script.append(500)
    sender = make_sender(max_attempts=1, disable_after_failures=3)
    emit(db)
    emit(db)
    sender.run_batch()
    db.refresh(subscription)
    assert subscription.consecutive_failures == 0
    assert [r.answered for r in receiver.requests] == [500, 200]


def test_redeliver_sends_the_same_event_again_as_a_new_row(db, receiver, subscribe, make_sender):
    subscribe("delivery.sent")
    (first,) = emit(db)
    sender = make_sender()
    sender.run_batch()

    db.expire_all()
    again = redeliver(db, db.get(WebhookDelivery, first.id))
    db.commit()
    assert sender.run_batch() == 1

    original, repeat = webhook_rows(db)
    assert original.status is W.DELIVERED and original.attempts == 1
    assert repeat.id == again.id and repeat.redelivery_of_id == original.id
    assert (repeat.status, repeat.attempts) == (W.DELIVERED, 1)
    assert receiver.requests[0].body == receiver.requests[1].body
    assert [r.headers["Idempotency-Key"] for r in receiver.requests] == [first.event_id] * 2


def test_a_worker_that_stopped_mid_post_leaves_a_row_that_is_sent_again(
    db, receiver, subscribe, make_sender, clock
):
    from schedulers.webhooks import claim_due_webhook_deliveries

    subscribe("delivery.sent")
    emit(db)
    claim_due_webhook_deliveries(db, "crashed-worker", limit=10, lease_seconds=60, now=clock.now)
    db.commit()
    sender = make_sender()
    assert sender.run_batch() == 0, "still leased to the crashed worker"

    clock.advance(minutes=2)
    sender._last_recovery = 0.0
    assert sender.run_batch() == 1
    (row,) = webhook_rows(db)
    assert row.status is W.DELIVERED and row.worker == "test-sender"


def test_a_subscription_only_gets_the_events_it_chose(db, receiver, subscribe, make_sender):
    subscribe("campaign.status_changed")
    assert emit(db, "delivery.sent") == []
    assert len(emit(db, "campaign.status_changed", campaign_id=1)) == 1
    assert db.scalar(select(WebhookSubscription)).wants("campaign.status_changed")


def test_the_verification_example_in_the_docs_accepts_a_real_request(
    db, receiver, subscribe, make_sender
):
    from pathlib import Path

    docs = (Path(__file__).parents[2] / "docs" / "webhooks.md").read_text()
    example = docs.split("```python\n")[1].split("```")[0]
    namespace: dict = {}
    exec(compile(example, "docs/webhooks.md", "exec"), namespace)  # noqa: S102
    verify = namespace["verify"]
    subscribe("delivery.sent")
    emit(db)
    make_sender().run_batch()

    (request,) = receiver.requests
    header = request.headers["Campaign-Manager-Signature"]
    assert verify(receiver.secret, request.body, header)
    assert not verify(receiver.secret, request.body.replace(b"7", b"8"), header)
    assert not verify("whsec_not-the-secret", request.body, header)


def test_the_delivery_log_forgets_finished_deliveries_after_the_retention(
    db, receiver, subscribe, make_sender, clock
):
    subscribe("delivery.sent")
    emit(db, delivery_id=1)
    emit(db, delivery_id=2)
    assert make_sender().run_batch() == 2
    emit(db, delivery_id=3)  # still pending when the old ones go

    clock.advance(days=29)
    make_sender(keep_deliveries_days=30).run_batch()  # sends the third; nothing is old yet
    assert [r.status for r in webhook_rows(db)] == [W.DELIVERED] * 3

    clock.advance(days=2)
    make_sender(keep_deliveries_days=0).run_batch()  # 0 keeps everything
    assert len(webhook_rows(db)) == 3
    emit(db, delivery_id=4)
    make_sender(keep_deliveries_days=30).run_batch()
    rows = webhook_rows(db)
    # The two sent 31 days ago are gone; the one sent 2 days ago and the new one stay.
    assert [json.loads(r.body)["data"]["delivery_id"] for r in rows] == [3, 4]
    assert [r.status for r in rows] == [W.DELIVERED, W.DELIVERED]
