"""Mailgun contract tests: requests and answers shaped as Mailgun's documentation shows.

Sources: "Messages" API reference (POST /v3/{domain_name}/messages, multipart/form-data,
basic auth api:<key>, 200 {"id", "message": "Queued. Thank you."}), "API Response Codes"
(400 with {"message"}, 401, 429, 5xx), Regions (api.eu.mailgun.net), "Securing Webhooks"
(HMAC-SHA256 of timestamp + token with the webhook signing key) and the event structure of
"failed" and "complained" webhooks.
"""

from __future__ import annotations

import base64
import email.parser
import email.policy
import hashlib
import hmac
import json
import secrets
from datetime import UTC, datetime, timedelta

import pytest
import requests
import responses

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
from campaign_manager.channels.mailgun import MailgunAdapter
from tests.channels.samples import UNSUBSCRIBE_URL, sample_email

API_KEY = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0"
SIGNING_KEY = "whsec-0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c"
SEND_URL = "https://api.mailgun.net/v3/mg.careers.example.org/messages"


def adapter(region: str = "us") -> MailgunAdapter:
    return MailgunAdapter(
        AdapterConfig(
            settings={"domain": "mg.careers.example.org", "region": region},
            credentials={"api_key": API_KEY, "webhook_signing_key": SIGNING_KEY},
            timeout_seconds=7,
        )
    )


def form_fields(request) -> list[tuple[str, str]]:
    """The multipart/form-data fields of a request, in order, decoded."""
    raw = f"Content-Type: {request.headers['Content-Type']}\r\n\r\n".encode() + request.body
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(raw)
    return [
        (
            part.get_param("name", header="content-disposition"),
            part.get_payload(decode=True).decode("utf-8"),
        )
        for part in message.iter_parts()
    ]


def test_success_posts_the_documented_form_and_reads_the_id():
    with responses.RequestsMock() as mock:
        mock.post(
            SEND_URL,
            json={
                "id": "<20111114174239.25659.5817@samples.mailgun.org>",
                "message": "Queued. Thank you.",
            },
        )
        result = adapter().send(sample_email(), idempotency_key="delivery-42")
        request = mock.calls[0].request

    assert result == Sent("20111114174239.25659.5817@samples.mailgun.org")
    assert request.url == SEND_URL
    expected_auth = base64.b64encode(f"api:{API_KEY}".encode()).decode()
    assert request.headers["Authorization"] == f"Basic {expected_auth}"
    assert request.headers["Content-Type"].startswith("multipart/form-data; boundary=")
    assert form_fields(request) == [
        ("from", "Collision Careers Coalition <news@careers.example.org>"),
        ("to", "Jordan Lée <jordan.lee@student.example.org>"),
        ("subject", "Bourses d’été: collision repair scholarships ✓"),
        ("text", sample_email().text),
        ("html", sample_email().html),
        ("h:Reply-To", "help@careers.example.org"),
        ("h:Message-ID", "<delivery-42.step-7@careers.example.org>"),
        ("h:List-Unsubscribe", f"<{UNSUBSCRIBE_URL}>"),
        ("h:List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
        ("v:cm_idempotency_key", "delivery-42"),
        ("o:tag", "spring-recruiting"),
    ]


def test_eu_domains_use_the_eu_api():
    with responses.RequestsMock() as mock:
        mock.post(
            "https://api.eu.mailgun.net/v3/mg.careers.example.org/messages",
            json={"id": "<eu@mg>", "message": "Queued. Thank you."},
        )
        assert adapter("eu").send(sample_email(), idempotency_key="k") == Sent("eu@mg")


def test_bad_request_is_permanent_with_mailguns_message():
    with responses.RequestsMock() as mock:
        mock.post(
            SEND_URL,
            status=400,
            json={"message": "'to' parameter is not a valid address. please check documentation"},
        )
        result = adapter().send(sample_email(), idempotency_key="k")
    assert isinstance(result, Failed) and result.permanent and not result.needs_reconnect
    assert "'to' parameter is not a valid address" in result.reason


def test_401_forbidden_needs_reconnecting():
    with responses.RequestsMock() as mock:
        mock.post(SEND_URL, status=401, body="Forbidden", content_type="text/plain")
        result = adapter().send(sample_email(), idempotency_key="k")
    assert isinstance(result, Failed) and result.needs_reconnect
    assert "Forbidden" in result.reason and API_KEY not in result.reason


def test_429_honours_retry_after():
    with responses.RequestsMock() as mock:
        mock.post(
            SEND_URL,
            status=429,
            json={"message": "Too many requests"},
            headers={"Retry-After": "45"},
        )
        result = adapter().send(sample_email(), idempotency_key="k")
    assert result == RetryLater(45.0, "Mailgun answered 429: Too many requests")


def test_server_error_is_retried():
    with responses.RequestsMock() as mock:
        mock.post(SEND_URL, status=500, json={"message": "Internal Server Error"})
        result = adapter().send(sample_email(), idempotency_key="k")
    assert isinstance(result, RetryLater) and not result.maybe_delivered


def test_timeout_may_have_delivered():
    with responses.RequestsMock() as mock:
        mock.post(SEND_URL, body=requests.ReadTimeout())
        result = adapter().send(sample_email(), idempotency_key="k")
    assert isinstance(result, RetryLater) and result.maybe_delivered


def test_a_200_with_malformed_json_is_not_taken_for_a_failure():
    with responses.RequestsMock() as mock:
        mock.post(SEND_URL, body="<html>Queued?</html>", content_type="text/html")
        result = adapter().send(sample_email(), idempotency_key="k")
    # Mailgun accepted something; without an id we cannot say it did not go out.
    assert isinstance(result, RetryLater) and result.maybe_delivered


def test_check_connection_reads_the_domain():
    url = "https://api.mailgun.net/v3/domains/mg.careers.example.org"
    with responses.RequestsMock() as mock:
        mock.get(url, json={"domain": {"name": "mg.careers.example.org", "state": "active"}})
        adapter().check_connection()
    with responses.RequestsMock() as mock:
        mock.get(url, json={"domain": {"name": "mg.careers.example.org", "state": "unverified"}})
        with pytest.raises(ConnectionCheckFailed, match="unverified"):
            adapter().check_connection()
    with responses.RequestsMock() as mock:
        mock.get(url, status=404, json={"message": "Domain not found"})
        with pytest.raises(ConnectionCheckFailed, match="US/EU"):
            adapter().check_connection()
    with responses.RequestsMock() as mock:
        mock.get(url, status=401, body="Forbidden")
        with pytest.raises(ConnectionCheckFailed) as refused:
            adapter().check_connection()
    assert refused.value.needs_reconnect


# --- webhooks ---------------------------------------------------------------------------


def signed(event_data: dict, *, signed_at: datetime, key: str = SIGNING_KEY) -> bytes:
    timestamp = str(int(signed_at.timestamp()))
    token = secrets.token_hex(25)
    signature = hmac.new(key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()
    return json.dumps(
        {
            "signature": {"timestamp": timestamp, "token": token, "signature": signature},
            "event-data": event_data,
        }
    ).encode()


FAILED_PERMANENT = {
    "event": "failed",
    "id": "G9Bn5sl1TC6nu79C8C0bwg",
    "timestamp": 1521233195.375624,
    "log-level": "error",
    "severity": "permanent",
    "reason": "bounce",
    "recipient": "gone@example.org",
    "delivery-status": {
        "code": 550,
        "message": "5.1.1 The email account that you tried to reach does not exist.",
        "description": "",
        "attempt-no": 1,
    },
    "message": {"headers": {"message-id": "20130503182626.18666.16540@mg.careers.example.org"}},
    "user-variables": {"cm_idempotency_key": "delivery-42"},
}


def request_for(body: bytes, now: datetime) -> WebhookRequest:
    return WebhookRequest({"content-type": "application/json"}, body, now)


def test_a_signed_permanent_failure_is_a_permanent_bounce():
    now = datetime.now(UTC)
    [report] = adapter().receive_webhook(request_for(signed(FAILED_PERMANENT, signed_at=now), now))
    assert (report.email, report.kind, report.permanent) == (
        "gone@example.org",
        BounceKind.BOUNCE,
        True,
    )
    assert report.provider_event_id == "G9Bn5sl1TC6nu79C8C0bwg"
    assert "does not exist" in report.reason
    assert "signature" not in report.raw and report.raw["user-variables"]


def test_temporary_failures_and_complaints():
    now = datetime.now(UTC)
    temporary = {**FAILED_PERMANENT, "id": "t1", "severity": "temporary"}
    [soft] = adapter().receive_webhook(request_for(signed(temporary, signed_at=now), now))
    assert soft.permanent is False
    complaint = {
        "event": "complained",
        "id": "c1",
        "timestamp": 1521233195.0,
        "recipient": "angry@example.org",
    }
    [report] = adapter().receive_webhook(request_for(signed(complaint, signed_at=now), now))
    assert report.kind is BounceKind.COMPLAINT and report.permanent
    delivered = {"event": "delivered", "id": "d1", "recipient": "happy@example.org"}
    assert adapter().receive_webhook(request_for(signed(delivered, signed_at=now), now)) == []


def test_a_wrong_signature_is_refused():
    now = datetime.now(UTC)
    body = signed(FAILED_PERMANENT, signed_at=now, key="someone-elses-key")
    with pytest.raises(WebhookRejected, match="does not match"):
        adapter().receive_webhook(request_for(body, now))


def test_an_old_timestamp_is_refused():
    now = datetime.now(UTC)
    body = signed(FAILED_PERMANENT, signed_at=now - timedelta(days=1))
    with pytest.raises(WebhookRejected, match="too old"):
        adapter().receive_webhook(request_for(body, now))


def test_unsigned_payloads_are_refused():
    now = datetime.now(UTC)
    body = json.dumps({"event-data": FAILED_PERMANENT}).encode()
    with pytest.raises(WebhookRejected, match="not signed"):
        adapter().receive_webhook(request_for(body, now))
