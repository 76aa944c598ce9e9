"""Webhook events end to end in the service: authenticate, store once, apply."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from audiences.models import SuppressionReason
from audiences.suppression import is_suppressed, suppression_for
from campaign_manager.channels.base import BounceKind, WebhookRejected, WebhookRequest
from campaign_manager.channels.bounces import (
    UnknownWebhook,
    apply_bounce_reports,
    find_webhook_account,
    receive_webhook,
)
from campaign_manager.channels.models import ChannelEvent
from tests.channels.test_postmark import BOUNCE


def postmark_request(payload: dict) -> WebhookRequest:
    return WebhookRequest({}, json.dumps(payload).encode(), datetime.now(UTC))


def test_events_are_stored_once_and_permanent_ones_applied(db, make_account, instance_path):
    account = make_account("postmark", {}, {"server_token": "pm-token-123"})
    outcome = receive_webhook(db, account, postmark_request(BOUNCE), instance_path=instance_path)
    db.commit()
    assert outcome.received == 1 and len(outcome.stored) == 1 and outcome.duplicates == 0
    assert [r.email for r in outcome.to_suppress] == ["gone@example.org"]
    # The address is now on the suppression list: no campaign will email it again.
    assert suppression_for(db, "gone@example.org").reason is SuppressionReason.BOUNCED

    [event] = db.scalars(select(ChannelEvent)).all()
    assert (event.provider, event.kind, event.permanent) == ("postmark", BounceKind.BOUNCE, True)
    assert event.provider_event_id == "Bounce:4323372036854775807"
    assert event.email == "gone@example.org"
    assert event.payload["MessageID"] == BOUNCE["MessageID"]
    assert "Content" not in event.payload

    # The provider retries, or someone replays the request: nothing new happens.
    again = receive_webhook(db, account, postmark_request(BOUNCE), instance_path=instance_path)
    db.commit()
    assert again.duplicates == 1 and again.stored == [] and again.to_suppress == []
    assert len(db.scalars(select(ChannelEvent)).all()) == 1


def test_soft_bounces_are_recorded_but_not_applied(db, make_account, instance_path):
    account = make_account("postmark", {}, {"server_token": "pm-token-123"})
    soft = {**BOUNCE, "ID": 9, "Type": "SoftBounce", "Inactive": False}
    outcome = receive_webhook(db, account, postmark_request(soft), instance_path=instance_path)
    assert len(outcome.stored) == 1 and outcome.to_suppress == []
    assert not is_suppressed(db, soft["Email"])


def test_apply_selects_permanent_bounces_and_complaints(db, make_account, instance_path):
    account = make_account("postmark", {}, {"server_token": "pm-token-123"})
    complaint = {**BOUNCE, "RecordType": "SpamComplaint", "ID": 1, "Email": "angry@example.org"}
    outcome = receive_webhook(db, account, postmark_request(complaint), instance_path=instance_path)
    assert apply_bounce_reports(db, outcome.stored) == outcome.stored
    assert suppression_for(db, "angry@example.org").reason is SuppressionReason.COMPLAINED


def test_webhook_addresses_need_the_right_token(db, make_account):
    account = make_account("postmark", {}, {"server_token": "pm-token-123"})
    assert find_webhook_account(db, account.id, account.webhook_token) == account
    with pytest.raises(UnknownWebhook):
        find_webhook_account(db, account.id, "guess")
    with pytest.raises(UnknownWebhook):
        find_webhook_account(db, account.id + 100, account.webhook_token)


def test_adapters_without_webhooks_are_unknown_and_bad_bodies_refused(
    db, make_account, instance_path
):
    smtp = make_account("smtp", {"host": "smtp.example.org"}, {})
    with pytest.raises(UnknownWebhook):
        receive_webhook(db, smtp, postmark_request(BOUNCE), instance_path=instance_path)
    postmark = make_account("postmark", {}, {"server_token": "pm-token-123"})
    with pytest.raises(WebhookRejected):
        receive_webhook(
            db,
            postmark,
            WebhookRequest({}, b"nope", datetime.now(UTC)),
            instance_path=instance_path,
        )
