"""SendGrid contract tests: requests and answers shaped as SendGrid's v3 documentation shows.

Sources: Mail Send (POST /v3/mail/send, 202 + X-Message-Id), "Errors" and "Rate Limits"
pages of the v3 API reference ({"errors": [{"field", "message"}]}, X-RateLimit-* headers),
Event Webhook reference (event objects) and Signature Verification (ECDSA P-256 over
timestamp + body, headers X-Twilio-Email-Event-Webhook-Signature / -Timestamp).
"""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime, timedelta

import pytest
import requests
import responses
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from campaign_manager.channels.base import (
    AdapterConfig,
    BounceKind,
    ConnectionCheckFailed,
    Failed,
    RetryLater,
    Sent,
    WebhookRejected,
    WebhookRequest,
)
from campaign_manager.channels.sendgrid import SendGridAdapter
from tests.channels.samples import UNSUBSCRIBE_URL, sample_email

API_KEY = "SG.test-key.abcdefghijklmnopqrstuvwxyz0123456789"
SEND_URL = "https://api.sendgrid.com/v3/mail/send"


def adapter(**settings) -> SendGridAdapter:
    return SendGridAdapter(
        AdapterConfig(settings=settings, credentials={"api_key": API_KEY}, timeout_seconds=7)
    )


def test_success_sends_the_documented_body_and_reads_x_message_id():
    with responses.RequestsMock() as mock:
        mock.post(SEND_URL, status=202, body="", headers={"X-Message-Id": "W8nrsRWMQIa8r5HJMzqZdA"})
        result = adapter().send(sample_email(), idempotency_key="delivery-42")
        request = mock.calls[0].request

    assert result == Sent("W8nrsRWMQIa8r5HJMzqZdA")
    assert request.url == SEND_URL
    assert request.headers["Authorization"] == f"Bearer {API_KEY}"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["User-Agent"].startswith("CampaignManager/")
    assert json.loads(request.body) == {
        "personalizations": [
            {
                "to": [{"email": "jordan.lee@student.example.org", "name": "Jordan Lée"}],
                "custom_args": {
                    "cm_idempotency_key": "delivery-42",
                    "campaign": "spring-recruiting",
                },
            }
        ],
        "from": {"email": "news@careers.example.org", "name": "Collision Careers Coalition"},
        "reply_to": {"email": "help@careers.example.org"},
        "subject": "Bourses d’été: collision repair scholarships ✓",
        "content": [
            {"type": "text/plain", "value": sample_email().text},
            {"type": "text/html", "value": sample_email().html},
        ],
        "headers": {
            "Message-ID": "<delivery-42.step-7@careers.example.org>",
            "List-Unsubscribe": f"<{UNSUBSCRIBE_URL}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
        "categories": ["spring-recruiting"],
    }


def test_eu_region_uses_the_eu_host():
    with responses.RequestsMock() as mock:
        mock.post(
            "https://api.eu.sendgrid.com/v3/mail/send",
            status=202,
            headers={"X-Message-Id": "eu-1"},
        )
        assert adapter(region="eu").send(sample_email(), idempotency_key="k") == Sent("eu-1")


def test_validation_error_is_permanent_and_names_the_field():
    body = {
        "errors": [
            {
                "message": "The from object must be provided for every email send. It is an "
                "object that requires the email parameter, but may also contain a name "
                'parameter.  e.g. {"email" : "example@example.com"}  or {"email" : '
                '"example@example.com", "name" : "Example Recipient"}.',
                "field": "from.email",
                "help": "http://sendgrid.com/docs/API_Reference/Web_API_v3/Mail/errors.html#message.from",
            }
        ]
    }
    with responses.RequestsMock() as mock:
        mock.post(SEND_URL, status=400, json=body)
        result = adapter().send(sample_email(), idempotency_key="k")
    assert isinstance(result, Failed) and result.permanent and not result.needs_reconnect
    assert (
        "400" in result.reason and "from.email: The from object must be provided" in result.reason
    )


def test_401_needs_reconnecting_and_never_quotes_the_key():
    body = {
        "errors": [
            {
                "field": None,
                "message": "The provided authorization grant is invalid, expired, or revoked",
            }
        ]
    }
    with responses.RequestsMock() as mock:
        mock.post(SEND_URL, status=401, json=body)
        result = adapter().send(sample_email(), idempotency_key="k")
    assert isinstance(result, Failed) and result.needs_reconnect
    assert "authorization grant is invalid" in result.reason
    assert API_KEY not in result.reason


def test_429_waits_until_x_ratelimit_reset():
    reset = int(time.time()) + 600
    with responses.RequestsMock() as mock:
        mock.post(
            SEND_URL,
            status=429,
            json={"errors": [{"field": None, "message": "too many requests"}]},
            headers={
                "X-RateLimit-Limit": "150",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": str(reset),
            },
        )
        result = adapter().send(sample_email(), idempotency_key="k")
    assert isinstance(result, RetryLater) and not result.maybe_delivered
    assert 580 <= result.after_seconds <= 600
    assert "too many requests" in result.reason


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_are_retried(status):
    with responses.RequestsMock() as mock:
        mock.post(
            SEND_URL,
            status=status,
            json={"errors": [{"field": None, "message": "internal error"}]},
        )
        result = adapter().send(sample_email(), idempotency_key="k")
    assert isinstance(result, RetryLater) and str(status) in result.reason


def test_a_read_timeout_may_have_delivered_the_message():
    with responses.RequestsMock() as mock:
        mock.post(SEND_URL, body=requests.ReadTimeout("read timed out"))
        result = adapter().send(sample_email(), idempotency_key="k")
    assert isinstance(result, RetryLater) and result.maybe_delivered


def test_a_connect_timeout_did_not_deliver_it():
    with responses.RequestsMock() as mock:
        mock.post(SEND_URL, body=requests.ConnectTimeout("connect timed out"))
        result = adapter().send(sample_email(), idempotency_key="k")
    assert isinstance(result, RetryLater) and not result.maybe_delivered


def test_every_call_has_a_timeout():
    seen = {}

    def capture(request):
        seen["timeout"] = request.req_kwargs.get("timeout")
        return (202, {"X-Message-Id": "x"}, "")

    with responses.RequestsMock() as mock:
        mock.add_callback(responses.POST, SEND_URL, callback=capture)
        adapter().send(sample_email(), idempotency_key="k")
    assert seen["timeout"] == 7


def test_malformed_json_error_body_is_reported_readably():
    with responses.RequestsMock() as mock:
        mock.post(SEND_URL, status=400, body="<html><body>Bad Request</body></html>")
        result = adapter().send(sample_email(), idempotency_key="k")
    assert isinstance(result, Failed) and result.permanent
    assert "(not JSON)" in result.reason and "Bad Request" in result.reason


def test_a_bad_gateway_html_page_is_retried():
    with responses.RequestsMock() as mock:
        mock.post(SEND_URL, status=502, body="<html>502 Bad Gateway</html>")
        result = adapter().send(sample_email(), idempotency_key="k")
    assert isinstance(result, RetryLater)


def test_check_connection_reads_the_key_scopes():
    with responses.RequestsMock() as mock:
        mock.get(
            "https://api.sendgrid.com/v3/scopes",
            json={"scopes": ["mail.send", "alerts.read"]},
        )
        adapter().check_connection()
        assert mock.calls[0].request.headers["Authorization"] == f"Bearer {API_KEY}"

    with responses.RequestsMock() as mock:
        mock.get("https://api.sendgrid.com/v3/scopes", json={"scopes": ["alerts.read"]})
        with pytest.raises(ConnectionCheckFailed, match="Mail Send permission"):
            adapter().check_connection()

    with responses.RequestsMock() as mock:
        mock.get(
            "https://api.sendgrid.com/v3/scopes",
            status=401,
            json={"errors": [{"field": None, "message": "authorization required"}]},
        )
        with pytest.raises(ConnectionCheckFailed) as refused:
            adapter().check_connection()
    assert refused.value.needs_reconnect


# --- Event Webhook ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def signing_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def public_key_setting(key: ec.EllipticCurvePrivateKey) -> str:
    """The verification key as SendGrid's console shows it: base64 DER, no PEM armour."""
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode()


EVENTS = [
    {
        "email": "gone@example.org",
        "timestamp": 1513299569,
        "smtp-id": "<14c5d75ce93.dfd.64b469@ismtpd-555>",
        "event": "bounce",
        "category": "cat facts",
        "sg_event_id": "6g4ZI7SA-xmRDv57GoPIPw==",
        "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0",
        "reason": "500 unknown recipient",
        "status": "5.0.0",
        "type": "bounce",
    },
    {
        "email": "full@example.org",
        "timestamp": 1513299569,
        "event": "bounce",
        "sg_event_id": "blocked-1",
        "sg_message_id": "m2",
        "reason": "421 try again later",
        "status": "4.0.0",
        "type": "blocked",
    },
    {
        "email": "angry@example.org",
        "timestamp": 1513299569,
        "event": "spamreport",
        "sg_event_id": "spam-1",
        "sg_message_id": "m3",
    },
    {
        "email": "happy@example.org",
        "timestamp": 1513299569,
        "event": "delivered",
        "sg_event_id": "delivered-1",
        "sg_message_id": "m4",
        "response": "250 OK",
    },
]


def signed_request(key, body: bytes, *, signed_at: datetime, received_at: datetime):
    timestamp = str(int(signed_at.timestamp()))
    signature = key.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return WebhookRequest(
        headers={
            "content-type": "application/json",
            "x-twilio-email-event-webhook-signature": base64.b64encode(signature).decode(),
            "x-twilio-email-event-webhook-timestamp": timestamp,
        },
        body=body,
        received_at=received_at,
    )


def webhook_adapter(key) -> SendGridAdapter:
    return adapter(webhook_public_key=public_key_setting(key))


def test_signed_events_become_bounce_reports(signing_key):
    now = datetime.now(UTC)
    body = json.dumps(EVENTS).encode()
    reports = webhook_adapter(signing_key).receive_webhook(
        signed_request(signing_key, body, signed_at=now, received_at=now)
    )
    assert [(r.email, r.kind, r.permanent, r.provider_event_id) for r in reports] == [
        ("gone@example.org", BounceKind.BOUNCE, True, "6g4ZI7SA-xmRDv57GoPIPw=="),
        ("full@example.org", BounceKind.BOUNCE, False, "blocked-1"),
        ("angry@example.org", BounceKind.COMPLAINT, True, "spam-1"),
    ]
    assert reports[0].occurred_at == datetime.fromtimestamp(1513299569, UTC)
    assert reports[0].reason == "500 unknown recipient"
    assert reports[0].raw["sg_message_id"].startswith("14c5d75ce93")


def test_a_tampered_body_is_refused(signing_key):
    now = datetime.now(UTC)
    request = signed_request(
        signing_key, json.dumps(EVENTS).encode(), signed_at=now, received_at=now
    )
    forged = WebhookRequest(request.headers, request.body.replace(b"gone@", b"good@"), now)
    with pytest.raises(WebhookRejected, match="signature does not match") as refused:
        webhook_adapter(signing_key).receive_webhook(forged)
    assert refused.value.status == 403


def test_a_signature_by_another_key_is_refused(signing_key):
    now = datetime.now(UTC)
    other = ec.generate_private_key(ec.SECP256R1())
    request = signed_request(other, json.dumps(EVENTS).encode(), signed_at=now, received_at=now)
    with pytest.raises(WebhookRejected, match="signature does not match"):
        webhook_adapter(signing_key).receive_webhook(request)


def test_an_old_signed_request_is_refused_as_a_replay(signing_key):
    now = datetime.now(UTC)
    request = signed_request(
        signing_key,
        json.dumps(EVENTS).encode(),
        signed_at=now - timedelta(hours=2),
        received_at=now,
    )
    with pytest.raises(WebhookRejected, match="too old"):
        webhook_adapter(signing_key).receive_webhook(request)


def test_unsigned_or_unconfigured_webhooks_are_refused(signing_key):
    now = datetime.now(UTC)
    body = json.dumps(EVENTS).encode()
    with pytest.raises(WebhookRejected, match="not signed"):
        webhook_adapter(signing_key).receive_webhook(WebhookRequest({}, body, now))
    request = signed_request(signing_key, body, signed_at=now, received_at=now)
    with pytest.raises(WebhookRejected, match="no Event Webhook verification key"):
        adapter().receive_webhook(request)


def test_a_signed_body_that_is_not_json_is_a_bad_request(signing_key):
    now = datetime.now(UTC)
    request = signed_request(signing_key, b"not json", signed_at=now, received_at=now)
    with pytest.raises(WebhookRejected) as refused:
        webhook_adapter(signing_key).receive_webhook(request)
    assert refused.value.status == 400
