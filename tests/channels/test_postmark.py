"""Postmark contract tests: requests and answers shaped as Postmark's documentation shows.

Sources: Email API reference (POST /email and /email/batch, X-Postmark-Server-Token, the
{To, SubmittedAt, MessageID, ErrorCode, Message} answer), API overview (HTTP codes 401, 422,
429, 500, 503 and the API error codes 10, 300, 406, ...), "Send batch emails" (a 200 with one
answer per message), and the Bounce and Spam Complaint webhook payloads.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

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
    SupportsBatch,
    WebhookRejected,
    WebhookRequest,
)
from campaign_manager.channels.postmark import PostmarkAdapter
from tests.channels.samples import UNSUBSCRIBE_URL, sample_email

TOKEN = "f3b2c0de-9a7e-4d1c-8b6a-2e5f4d3c2b1a"
EMAIL_URL = "https://api.postmarkapp.com/email"
BATCH_URL = "https://api.postmarkapp.com/email/batch"


def adapter() -> PostmarkAdapter:
    return PostmarkAdapter(
        AdapterConfig(
            settings={"message_stream": "broadcast"},
            credentials={"server_token": TOKEN},
            timeout_seconds=7,
        )
    )


def ok_answer(to: str, message_id: str) -> dict:
    return {
        "To": to,
        "SubmittedAt": "2014-02-17T07:25:01.4178645-05:00",
        "MessageID": message_id,
        "ErrorCode": 0,
        "Message": "OK",
    }


def test_success_sends_the_documented_body():
    with responses.RequestsMock() as mock:
        mock.post(
            EMAIL_URL,
            json=ok_answer(
                "jordan.lee@student.example.org", "0a129aee-e1cd-480d-b08d-4f48548ff48d"
            ),
        )
        result = adapter().send(sample_email(), idempotency_key="delivery-42")
        request = mock.calls[0].request

    assert result == Sent("0a129aee-e1cd-480d-b08d-4f48548ff48d")
    assert request.url == EMAIL_URL
    assert request.headers["X-Postmark-Server-Token"] == TOKEN
    assert request.headers["Accept"] == "application/json"
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.body) == {
        "From": "Collision Careers Coalition <news@careers.example.org>",
        "To": "Jordan Lée <jordan.lee@student.example.org>",
        "Subject": "Bourses d’été: collision repair scholarships ✓",
        "TextBody": sample_email().text,
        "HtmlBody": sample_email().html,
        "ReplyTo": "help@careers.example.org",
        "Headers": [
            {"Name": "Message-ID", "Value": "<delivery-42.step-7@careers.example.org>"},
            {"Name": "List-Unsubscribe", "Value": f"<{UNSUBSCRIBE_URL}>"},
            {"Name": "List-Unsubscribe-Post", "Value": "List-Unsubscribe=One-Click"},
        ],
        "MessageStream": "broadcast",
        "Metadata": {"cm_idempotency_key": "delivery-42", "campaign": "spring-recruiting"},
        "Tag": "spring-recruiting",
    }


def test_422_invalid_request_is_permanent():
    with responses.RequestsMock() as mock:
        mock.post(
            EMAIL_URL,
            status=422,
            json={"ErrorCode": 300, "Message": "Invalid 'From' address: 'news@careers'."},
        )
        result = adapter().send(sample_email(), idempotency_key="k")
    assert isinstance(result, Failed) and result.permanent and not result.needs_reconnect
    assert result.reason == "Postmark error 300: Invalid 'From' address: 'news@careers'."


def test_422_inactive_recipient_is_permanent():
    with responses.RequestsMock() as mock:
        mock.post(
            EMAIL_URL,
            status=422,
            json={
                "ErrorCode": 406,
                "Message": "You tried to send to recipient(s) that have been marked as inactive. "
                "Found inactive addresses: jordan.lee@student.example.org. Inactive recipients "
                "are ones that have generated a hard bounce, a spam complaint, or a manual "
                "suppression.",
            },
        )
        result = adapter().send(sample_email(), idempotency_key="k")
    assert isinstance(result, Failed) and result.permanent and "406" in result.reason


def test_401_bad_token_needs_reconnecting():
    with responses.RequestsMock() as mock:
        mock.post(
            EMAIL_URL,
            status=401,
            json={
                "ErrorCode": 10,
                "Message": "The Server Token you provided in the X-Postmark-Server-Token request "
                "header was invalid. Please verify that you are using a valid token.",
            },
        )
        result = adapter().send(sample_email(), idempotency_key="k")
    assert isinstance(result, Failed) and result.needs_reconnect
    assert TOKEN not in result.reason


def test_429_rate_limit_is_retried_after_the_asked_wait():
    with responses.RequestsMock() as mock:
        mock.post(
            EMAIL_URL,
            status=429,
            json={"ErrorCode": 429, "Message": "Rate limit exceeded"},
            headers={"Retry-After": "20"},
        )
        result = adapter().send(sample_email(), idempotency_key="k")
    assert result == RetryLater(20.0, "Postmark error 429: Rate limit exceeded")


def test_429_without_a_header_waits_the_default():
    with responses.RequestsMock() as mock:
        mock.post(EMAIL_URL, status=429, json={"ErrorCode": 429, "Message": "Rate limit exceeded"})
        result = adapter().send(sample_email(), idempotency_key="k")
    assert isinstance(result, RetryLater) and result.after_seconds == 60.0


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (500, "<html><body><h1>500 Internal Server Error</h1></body></html>"),
        (503, json.dumps({"ErrorCode": 100, "Message": "Maintenance"})),
    ],
)
def test_server_errors_are_retried(status, body):
    with responses.RequestsMock() as mock:
        mock.post(EMAIL_URL, status=status, body=body)
        result = adapter().send(sample_email(), idempotency_key="k")
    assert isinstance(result, RetryLater) and not result.maybe_delivered


def test_timeout_may_have_delivered():
    with responses.RequestsMock() as mock:
        mock.post(EMAIL_URL, body=requests.ReadTimeout())
        result = adapter().send(sample_email(), idempotency_key="k")
    assert isinstance(result, RetryLater) and result.maybe_delivered


def test_malformed_json_in_a_200_is_uncertain_not_failed():
    with responses.RequestsMock() as mock:
        mock.post(EMAIL_URL, body='{"To": "jordan", "MessageID": ', content_type="application/json")
        result = adapter().send(sample_email(), idempotency_key="k")
    assert isinstance(result, RetryLater) and result.maybe_delivered


# --- batch ------------------------------------------------------------------------------


def test_batch_maps_each_per_message_error_code_inside_the_200():
    messages = [
        sample_email(to="one@example.org", headers={"Message-ID": "<d-1@careers.example.org>"}),
        sample_email(
            to="inactive@example.org", headers={"Message-ID": "<d-2@careers.example.org>"}
        ),
        sample_email(to="three@example.org", headers={"Message-ID": "<d-3@careers.example.org>"}),
        sample_email(to="four@example.org", headers={"Message-ID": "<d-4@careers.example.org>"}),
    ]
    answers = [
        ok_answer("one@example.org", "b7bc2f4a-e38e-4336-af7d-e6c392c2f817"),
        {
            "ErrorCode": 406,
            "Message": "You tried to send to a recipient that has been marked as inactive. "
            "Found inactive addresses: inactive@example.org.",
            "To": "inactive@example.org",
        },
        {"ErrorCode": 429, "Message": "Rate limit exceeded", "To": "three@example.org"},
        ok_answer("four@example.org", "e2ecbbfc-fe12-463d-b933-9fe22915106d"),
    ]
    postmark = adapter()
    assert isinstance(postmark, SupportsBatch)
    with responses.RequestsMock() as mock:
        mock.post(BATCH_URL, json=answers)
        results = postmark.send_batch(messages, ["d-1", "d-2", "d-3", "d-4"])
        request = mock.calls[0].request

    assert results[0] == Sent("b7bc2f4a-e38e-4336-af7d-e6c392c2f817")
    assert isinstance(results[1], Failed) and results[1].permanent and "406" in results[1].reason
    assert isinstance(results[2], RetryLater)
    assert results[3] == Sent("e2ecbbfc-fe12-463d-b933-9fe22915106d")
    sent = json.loads(request.body)
    assert [m["To"] for m in sent] == [
        "Jordan Lée <one@example.org>",
        "Jordan Lée <inactive@example.org>",
        "Jordan Lée <three@example.org>",
        "Jordan Lée <four@example.org>",
    ]
    assert [m["Metadata"]["cm_idempotency_key"] for m in sent] == ["d-1", "d-2", "d-3", "d-4"]
    assert request.headers["X-Postmark-Server-Token"] == TOKEN


def test_batch_that_fails_as_a_whole_gives_every_message_that_outcome():
    with responses.RequestsMock() as mock:
        mock.post(BATCH_URL, status=401, json={"ErrorCode": 10, "Message": "Bad or missing token"})
        results = adapter().send_batch([sample_email(), sample_email()], ["a", "b"])
    assert all(isinstance(r, Failed) and r.needs_reconnect for r in results) and len(results) == 2


def test_batch_answer_that_does_not_match_is_uncertain():
    with responses.RequestsMock() as mock:
        mock.post(BATCH_URL, json=[ok_answer("one@example.org", "x")])
        results = adapter().send_batch([sample_email(), sample_email()], ["a", "b"])
    assert all(isinstance(r, RetryLater) and r.maybe_delivered for r in results)


def test_large_batches_are_split_at_500():
    messages = [sample_email(to=f"s{n}@example.org") for n in range(501)]
    keys = [f"k{n}" for n in range(501)]
    with responses.RequestsMock() as mock:
        mock.post(BATCH_URL, json=[ok_answer("x", f"id-{n}") for n in range(500)])
        mock.post(BATCH_URL, json=[ok_answer("x", "id-500")])
        results = adapter().send_batch(messages, keys)
        sizes = [len(json.loads(call.request.body)) for call in mock.calls]
    assert sizes == [500, 1]
    assert results[-1] == Sent("id-500") and len(results) == 501


def test_check_connection():
    with responses.RequestsMock() as mock:
        mock.get("https://api.postmarkapp.com/server", json={"ID": 1, "Name": "Campaigns"})
        adapter().check_connection()
        assert mock.calls[0].request.headers["X-Postmark-Server-Token"] == TOKEN
    with responses.RequestsMock() as mock:
        mock.get(
            "https://api.postmarkapp.com/server",
            status=401,
            json={"ErrorCode": 10, "Message": "Bad or missing Server API token."},
        )
        with pytest.raises(ConnectionCheckFailed) as refused:
            adapter().check_connection()
    assert refused.value.needs_reconnect


# --- webhooks ---------------------------------------------------------------------------

BOUNCE = {
    "RecordType": "Bounce",
    "MessageStream": "broadcast",
    "ID": 4323372036854775807,
    "Type": "HardBounce",
    "TypeCode": 1,
    "Name": "Hard bounce",
    "Tag": "spring-recruiting",
    "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
    "Metadata": {"cm_idempotency_key": "delivery-42"},
    "ServerID": 23,
    "Description": "The server was unable to deliver your message (ex: unknown user, "
    "mailbox not found).",
    "Details": "Test bounce details",
    "Email": "gone@example.org",
    "From": "news@careers.example.org",
    "BouncedAt": "2019-11-05T16:33:54.9070259Z",
    "DumpAvailable": True,
    "Inactive": True,
    "CanActivate": True,
    "Subject": "Scholarships",
    "Content": "Return-Path: <>\r\n... the full bounce message, unsubscribe link included ...",
}


def webhook(payload: dict) -> WebhookRequest:
    return WebhookRequest(
        {"content-type": "application/json"}, json.dumps(payload).encode(), datetime.now(UTC)
    )


def test_hard_bounce():
    [report] = adapter().receive_webhook(webhook(BOUNCE))
    assert (report.email, report.kind, report.permanent) == (
        "gone@example.org",
        BounceKind.BOUNCE,
        True,
    )
    assert report.provider_event_id == "Bounce:4323372036854775807"
    assert report.occurred_at == datetime(2019, 11, 5, 16, 33, 54, 907025, UTC)
    assert "Content" not in report.raw and report.raw["MessageID"]


def test_soft_bounce_is_not_permanent():
    soft = {**BOUNCE, "ID": 7, "Type": "SoftBounce", "TypeCode": 4096, "Inactive": False}
    [report] = adapter().receive_webhook(webhook(soft))
    assert report.kind is BounceKind.BOUNCE and report.permanent is False


def test_spam_complaint():
    complaint = {
        **BOUNCE,
        "RecordType": "SpamComplaint",
        "ID": 42,
        "Type": "SpamComplaint",
        "TypeCode": 512,
        "Name": "Spam complaint",
        "Email": "angry@example.org",
        "CanActivate": False,
    }
    [report] = adapter().receive_webhook(webhook(complaint))
    assert report.kind is BounceKind.COMPLAINT and report.permanent
    assert report.provider_event_id == "SpamComplaint:42"


def test_other_record_types_are_ignored_and_garbage_is_refused():
    assert adapter().receive_webhook(webhook({"RecordType": "Delivery", "Recipient": "x"})) == []
    with pytest.raises(WebhookRejected) as refused:
        adapter().receive_webhook(WebhookRequest({}, b"<xml/>", datetime.now(UTC)))
    assert refused.value.status == 400
