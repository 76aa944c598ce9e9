# Contract tests for the Mastodon adapter. Requests and replies follow Mastodon's docs:
# https://docs.joinmastodon.org/methods/statuses/#create
# https://docs.joinmastodon.org/methods/media/ (v2 upload, 202 then GET 206/200)
# https://docs.joinmastodon.org/methods/instance/#v2 (configuration limits)
# https://docs.joinmastodon.org/api/rate-limits/ (X-RateLimit-* headers)
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl

import pytest
import requests
import responses

from campaign_manager.channels.base import (
    ConnectionCheckFailed,
    Failed,
    MediaItem,
    RetryLater,
    Sent,
)
from campaign_manager.channels.mastodon import MastodonAdapter
from tests.channels.adapter_kit import (
    assert_secrets_absent,
    build,
    capture_all_logs,
    image,
    social,
)

BASE = "https://mastodon.example"
TOKEN = "masto-token-ZmFrZS1hY2Nlc3MtdG9rZW4"
KEY = "delivery-42-attempt"
RESET = "X-RateLimit-Reset"

STATUS = {
    "id": "103254962155278888",
    "created_at": "2019-12-05T11:34:47.196Z",
    "content": "<p>test content</p>",
    "application": {"name": "test app", "website": None},
    "media_attachments": [],
}
MEDIA_READY = {
    "id": "22348641",
    "type": "image",
    "url": "https://files.mastodon.social/media_attachments/files/022/348/641/original/e96382f26c72a29c.jpeg",
    "preview_url": "https://files.mastodon.social/media_attachments/files/022/348/641/small/e96382f26c72a29c.jpeg",
    "remote_url": None,
    "text_url": "https://mastodon.social/media/4Zj6ewxzzzDi0g8JnZQ",
    "meta": {"original": {"width": 640, "height": 480, "size": "640x480", "aspect": 1.33}},
    "description": "test uploaded via api",
    "blurhash": "UFBWY:8_0Jxv4mx]t8t64.%M-:IUWGWAt6M}",
}
MEDIA_PROCESSING = {**MEDIA_READY, "url": None}
INSTANCE = {
    "domain": "mastodon.example",
    "title": "Mastodon",
    "version": "4.3.0",
    "configuration": {
        "urls": {"streaming": "wss://mastodon.example"},
        "accounts": {"max_featured_tags": 10, "max_pinned_statuses": 4},
        "statuses": {
            "max_characters": 120,
            "max_media_attachments": 2,
            "characters_reserved_per_url": 23,
        },
        "media_attachments": {
            "supported_mime_types": ["image/jpeg", "image/png", "video/mp4"],
            "description_limit": 1500,
            "image_size_limit": 10485760,
            "image_matrix_limit": 16777216,
            "video_size_limit": 41943040,
            "video_frame_rate_limit": 60,
            "video_matrix_limit": 2304000,
        },
    },
}


@pytest.fixture
def mastodon():
    built = build(
        MastodonAdapter,
        {"instance_url": BASE + "/", "visibility": "unlisted", "language": "en"},
        {"access_token": TOKEN},
    )
    built.adapter.media_poll_interval_seconds = 0
    yield built.adapter
    built.adapter.close()


@pytest.fixture
def api():
    with responses.RequestsMock() as mock:
        yield mock


def form_of(call) -> list[tuple[str, str]]:
    return parse_qsl(call.request.body)


def test_posts_a_status_with_the_idempotency_key_and_the_account_settings(mastodon, api):
    api.post(f"{BASE}/api/v1/statuses", json=STATUS)

    outcome = mastodon.send(
        social("Apply for the scholarship", link="https://careers.example/apply"),
        idempotency_key=KEY,
    )

    assert outcome == Sent("103254962155278888")
    request = api.calls[0].request
    assert request.headers["Idempotency-Key"] == KEY
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert form_of(api.calls[0]) == [
        ("status", "Apply for the scholarship\n\nhttps://careers.example/apply"),
        ("visibility", "unlisted"),
        ("language", "en"),
    ]
    assert request.req_kwargs["timeout"] == 7.5


def test_uploads_media_with_alt_text_then_polls_until_processed(mastodon, api):
    api.post(f"{BASE}/api/v2/media", json=MEDIA_PROCESSING, status=202)
    api.get(f"{BASE}/api/v1/media/22348641", body="", status=206)
    api.get(f"{BASE}/api/v1/media/22348641", json=MEDIA_READY, status=200)
    api.post(f"{BASE}/api/v1/statuses", json=STATUS)

    outcome = mastodon.send(social("Open day", media=(image(),)), idempotency_key=KEY)

    assert outcome == Sent("103254962155278888")
    upload = api.calls[0].request
    assert b'name="file"; filename="poster.png"' in upload.body
    assert b"Content-Type: image/png" in upload.body
    assert b'name="description"' in upload.body
    assert b"Two technicians repairing a bumper" in upload.body
    assert [call.request.method for call in api.calls] == ["POST", "GET", "GET", "POST"]
    assert ("media_ids[]", "22348641") in form_of(api.calls[3])


def test_media_still_processing_after_the_bounded_polls_retries_later(mastodon, api):
    mastodon.media_poll_attempts = 3
    api.post(f"{BASE}/api/v2/media", json=MEDIA_PROCESSING, status=202)
    api.get(f"{BASE}/api/v1/media/22348641", body="", status=206)

    outcome = mastodon.send(social("Open day", media=(image(),)), idempotency_key=KEY)

    assert isinstance(outcome, RetryLater)
    assert "still processing poster.png" in outcome.reason
    assert not outcome.maybe_delivered
    assert len(api.calls) == 4  # one upload, three polls, no status


def test_validation_error_is_permanent_and_quotes_the_server(mastodon, api):
    api.post(
        f"{BASE}/api/v1/statuses",
        json={"error": "Validation failed: Text can't be blank"},
        status=422,
    )

    outcome = mastodon.send(social("x"), idempotency_key=KEY)

    assert isinstance(outcome, Failed) and outcome.permanent and not outcome.needs_reconnect
    assert "Text can't be blank" in outcome.reason


def test_unsupported_media_is_a_permanent_failure(mastodon, api):
    api.post(
        f"{BASE}/api/v2/media",
        json={"error": "Validation failed: File content type is invalid, File is invalid"},
        status=422,
    )

    outcome = mastodon.send(social("x", media=(image(),)), idempotency_key=KEY)

    assert isinstance(outcome, Failed) and outcome.permanent
    assert "File content type is invalid" in outcome.reason
    assert len(api.calls) == 1


def test_invalid_token_needs_reconnect(mastodon, api, caplog):
    capture_all_logs(caplog)
    api.post(f"{BASE}/api/v1/statuses", json={"error": "The access token is invalid"}, status=401)

    outcome = mastodon.send(social("x"), idempotency_key=KEY)

    assert isinstance(outcome, Failed) and outcome.needs_reconnect
    assert "access token is invalid" in outcome.reason
    assert_secrets_absent([TOKEN], outcome, caplog)


def test_429_waits_until_the_rate_limit_reset(mastodon, api):
    reset = (datetime.now(UTC) + timedelta(minutes=4)).isoformat().replace("+00:00", "Z")
    api.post(
        f"{BASE}/api/v1/statuses",
        json={"error": "Too many requests"},
        status=429,
        headers={"X-RateLimit-Limit": "300", "X-RateLimit-Remaining": "0", RESET: reset},
    )

    outcome = mastodon.send(social("x"), idempotency_key=KEY)

    assert isinstance(outcome, RetryLater)
    assert 200 < outcome.after_seconds <= 240


def test_a_spent_budget_on_success_holds_the_next_send_without_calling(mastodon, api):
    reset = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
    api.post(
        f"{BASE}/api/v1/statuses",
        json=STATUS,
        headers={"X-RateLimit-Remaining": "0", RESET: reset},
    )

    first = mastodon.send(social("one"), idempotency_key=KEY)
    second = mastodon.send(social("two"), idempotency_key="another-key")

    assert first == Sent("103254962155278888")
    assert isinstance(second, RetryLater) and 250 < second.after_seconds <= 300
    assert len(api.calls) == 1


def test_server_error_retries_later(mastodon, api):
    api.post(
        f"{BASE}/api/v1/statuses",
        body="<html><body>We're sorry, but something went wrong</body></html>",
        status=503,
        headers={"Retry-After": "120"},
    )

    outcome = mastodon.send(social("x"), idempotency_key=KEY)

    assert outcome == RetryLater(120.0, "Mastodon refused to publish the post: HTTP 503")


def test_read_timeout_on_the_status_may_have_posted(mastodon, api):
    api.post(f"{BASE}/api/v1/statuses", body=requests.ReadTimeout("read timed out"))

    outcome = mastodon.send(social("x"), idempotency_key=KEY)

    assert isinstance(outcome, RetryLater) and outcome.maybe_delivered


def test_connect_timeout_on_a_media_upload_posted_nothing(mastodon, api):
    api.post(f"{BASE}/api/v2/media", body=requests.ConnectTimeout("connect timed out"))

    outcome = mastodon.send(social("x", media=(image(),)), idempotency_key=KEY)

    assert isinstance(outcome, RetryLater) and not outcome.maybe_delivered


def test_read_timeout_on_a_media_upload_posted_nothing(mastodon, api):
    api.post(f"{BASE}/api/v2/media", body=requests.ReadTimeout("read timed out"))

    outcome = mastodon.send(social("x", media=(image(),)), idempotency_key=KEY)

    assert isinstance(outcome, RetryLater) and not outcome.maybe_delivered


def test_malformed_json_after_posting_is_retried_under_the_same_key(mastodon, api):
    api.post(f"{BASE}/api/v1/statuses", body="{not json", status=200)

    outcome = mastodon.send(social("x"), idempotency_key=KEY)

    assert isinstance(outcome, RetryLater) and outcome.maybe_delivered
    assert MastodonAdapter.idempotent


def test_validate_uses_the_instance_limits(mastodon, api):
    api.get(f"{BASE}/api/v2/instance", json=INSTANCE)
    gif = MediaItem("anim.gif", "image/gif", b"GIF89a", alt_text="A spinning wrench")

    problems = mastodon.validate(social("a" * 121, media=(image(), image("b.png"), gif)))
    again = mastodon.validate(social("fine"))

    messages = [problem.message for problem in problems]
    assert any(message.startswith("121 of 120 characters") for message in messages)
    assert any("at most 2 attachment" in message for message in messages)
    assert any("anim.gif" in message and "image/gif" in message for message in messages)
    assert again == []
    assert len(api.calls) == 1  # the limits are read once


def test_validate_falls_back_to_mastodon_defaults_when_the_instance_is_unreachable(mastodon, api):
    api.get(f"{BASE}/api/v2/instance", body=requests.ConnectionError("down"))

    assert mastodon.validate(social("a" * 500)) == []
    assert mastodon.validate(social("a" * 501))[0].message.startswith("501 of 500")


def test_validate_asks_for_alt_text_and_refuses_an_empty_post(mastodon, api):
    api.get(f"{BASE}/api/v2/instance", json=INSTANCE)

    no_alt = mastodon.validate(social("x", media=(image(alt=""),)))
    empty = mastodon.validate(social("  "))

    assert [p.field for p in no_alt] == ["media"] and "needs alt text" in no_alt[0].message
    assert [p.field for p in empty] == ["text"]


def test_validate_requires_an_https_instance_address():
    built = build(MastodonAdapter, {"instance_url": "http://mastodon.example"}, {})
    assert built.adapter.validate(social("x"))[0].field == "instance_url"


def test_check_connection_verifies_the_token(mastodon, api):
    api.get(
        f"{BASE}/api/v1/accounts/verify_credentials",
        json={"id": "14715", "username": "coalition", "acct": "coalition"},
    )
    api.get(f"{BASE}/api/v2/instance", json=INSTANCE)

    mastodon.check_connection()

    assert api.calls[0].request.headers["Authorization"] == f"Bearer {TOKEN}"


def test_check_connection_reports_a_revoked_token(mastodon, api):
    api.get(
        f"{BASE}/api/v1/accounts/verify_credentials",
        json={"error": "The access token is invalid"},
        status=401,
    )

    with pytest.raises(ConnectionCheckFailed) as raised:
        mastodon.check_connection()

    assert raised.value.needs_reconnect
    assert TOKEN not in str(raised.value)
