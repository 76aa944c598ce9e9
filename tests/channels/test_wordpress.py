# Contract tests for the WordPress adapter. Requests and replies follow the REST API handbook:
# https://developer.wordpress.org/rest-api/reference/posts/#create-a-post (201, post object,
#   status=future with date_gmt)
# https://developer.wordpress.org/rest-api/reference/media/#create-a-media-item (raw body,
#   Content-Disposition file name)
# https://developer.wordpress.org/rest-api/using-the-rest-api/authentication/ (application
#   passwords over Basic auth; errors as {"code", "message", "data": {"status"}})
from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
import requests
import responses

from campaign_manager.channels.base import (
    ChannelKind,
    ConnectionCheckFailed,
    Failed,
    RenderedMessage,
    RetryLater,
    Sent,
)
from campaign_manager.channels.wordpress import WordPressAdapter, content_disposition
from tests.channels.adapter_kit import (
    PNG_BYTES,
    assert_secrets_absent,
    build,
    capture_all_logs,
    image,
)

SITE = "https://blog.example.org"
API = f"{SITE}/wp-json/wp/v2"
PASSWORD = "abcd EFGH 1234 ijkl MNOP 6789"
BASIC = "Basic " + base64.b64encode(f"editor:{PASSWORD}".encode()).decode()


def wp_post(post_id=123, status="publish"):
    return {
        "id": post_id,
        "date": "2025-06-10T09:00:00",
        "date_gmt": "2025-06-10T09:00:00",
        "guid": {"rendered": f"{SITE}/?p={post_id}"},
        "slug": "scholarships-open",
        "status": status,
        "type": "post",
        "link": f"{SITE}/scholarships-open/",
        "title": {"rendered": "Scholarships are open"},
        "featured_media": 0,
    }


MEDIA = {
    "id": 456,
    "date": "2025-06-10T09:00:00",
    "slug": "poster",
    "type": "attachment",
    "link": f"{SITE}/poster/",
    "title": {"rendered": "poster"},
    "alt_text": "",
    "media_type": "image",
    "mime_type": "image/png",
    "source_url": f"{SITE}/wp-content/uploads/2025/06/poster.png",
}


def page(**changes) -> RenderedMessage:
    fields = {
        "kind": ChannelKind.WEB,
        "title": "Scholarships are open",
        "html": "<p>Apply by <strong>March 1</strong>.</p>",
        "text": "Apply by March 1.",
        "slug": "scholarships-open",
    }
    fields.update(changes)
    return RenderedMessage(**fields)


@pytest.fixture
def wordpress():
    built = build(
        WordPressAdapter,
        {"site_url": SITE + "/", "username": "editor"},
        {"application_password": PASSWORD},
    )
    yield built.adapter
    built.adapter.close()


@pytest.fixture
def api():
    with responses.RequestsMock() as mock:
        yield mock


def test_without_publish_at_the_post_is_published_now(wordpress, api):
    api.post(f"{API}/posts", json=wp_post(), status=201)

    outcome = wordpress.send(page(), idempotency_key="k")

    assert outcome == Sent("123")
    request = api.calls[0].request
    assert request.headers["Authorization"] == BASIC
    assert request.req_kwargs["timeout"] == 7.5
    assert json.loads(request.body) == {
        "title": "Scholarships are open",
        "content": "<p>Apply by <strong>March 1</strong>.</p>",
        "status": "publish",
        "excerpt": "Apply by March 1.",
        "slug": "scholarships-open",
    }


def test_a_future_publish_at_schedules_the_post_with_date_gmt(wordpress, api):
    api.post(f"{API}/posts", json=wp_post(status="future"), status=201)
    when = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)
    local = when.astimezone(timezone(timedelta(hours=-5)))

    wordpress.send(page(publish_at=local), idempotency_key="k")

    body = json.loads(api.calls[0].request.body)
    assert body["status"] == "future"
    assert body["date_gmt"] == when.replace(tzinfo=None).isoformat()


def test_a_past_publish_at_is_published_now_not_backdated(wordpress, api):
    api.post(f"{API}/posts", json=wp_post(), status=201)

    wordpress.send(page(publish_at=datetime.now(UTC) - timedelta(hours=2)), idempotency_key="k")

    body = json.loads(api.calls[0].request.body)
    assert body["status"] == "publish" and "date_gmt" not in body


def test_the_image_is_uploaded_described_and_featured(wordpress, api):
    api.post(f"{API}/media", json=MEDIA, status=201)
    api.post(f"{API}/media/456", json={**MEDIA, "alt_text": "Two technicians"}, status=200)
    api.post(f"{API}/posts", json=wp_post(), status=201)

    wordpress.send(page(media=(image(),)), idempotency_key="k")

    upload = api.calls[0].request
    assert upload.body == PNG_BYTES
    assert upload.headers["Content-Type"] == "image/png"
    assert upload.headers["Content-Disposition"] == 'attachment; filename="poster.png"'
    assert upload.headers["Authorization"] == BASIC
    assert json.loads(api.calls[1].request.body) == {
        "alt_text": "Two technicians repairing a bumper"
    }
    assert json.loads(api.calls[2].request.body)["featured_media"] == 456


def test_content_disposition_keeps_a_non_ascii_name():
    assert content_disposition("affiche-été.png") == (
        "attachment; filename=\"affiche-ete.png\"; filename*=UTF-8''affiche-%C3%A9t%C3%A9.png"
    )


def test_an_invalid_parameter_is_permanent(wordpress, api):
    api.post(
        f"{API}/posts",
        json={
            "code": "rest_invalid_param",
            "message": "Invalid parameter(s): status",
            "data": {"status": 400, "params": {"status": "status is not one of publish, future"}},
        },
        status=400,
    )

    outcome = wordpress.send(page(), idempotency_key="k")

    assert isinstance(outcome, Failed) and outcome.permanent and not outcome.needs_reconnect
    assert "rest_invalid_param" in outcome.reason


def test_a_revoked_application_password_needs_reconnect(wordpress, api, caplog):
    capture_all_logs(caplog)
    api.post(
        f"{API}/posts",
        json={
            "code": "incorrect_password",
            "message": "The provided password is an invalid application password.",
            "data": {"status": 401},
        },
        status=401,
    )

    outcome = wordpress.send(page(), idempotency_key="k")

    assert isinstance(outcome, Failed) and outcome.needs_reconnect
    assert "invalid application password" in outcome.reason
    assert_secrets_absent([PASSWORD, BASIC], outcome, caplog)


def test_a_user_without_the_capability_needs_reconnect(wordpress, api):
    api.post(
        f"{API}/posts",
        json={
            "code": "rest_cannot_create",
            "message": "Sorry, you are not allowed to create posts as this user.",
            "data": {"status": 403},
        },
        status=403,
    )

    outcome = wordpress.send(page(), idempotency_key="k")

    assert isinstance(outcome, Failed) and outcome.needs_reconnect


def test_429_honours_retry_after(wordpress, api):
    api.post(
        f"{API}/posts",
        body="Too Many Requests",
        status=429,
        headers={"Retry-After": "90"},
    )

    outcome = wordpress.send(page(), idempotency_key="k")

    assert isinstance(outcome, RetryLater) and outcome.after_seconds == 90


def test_server_error_retries_later(wordpress, api):
    api.post(
        f"{API}/posts",
        json={
            "code": "internal_server_error",
            "message": "There has been a critical error on this website.",
            "data": {"status": 500},
        },
        status=500,
    )

    outcome = wordpress.send(page(), idempotency_key="k")

    assert isinstance(outcome, RetryLater) and not outcome.maybe_delivered


def test_timeout_on_the_post_may_have_created_it(wordpress, api):
    api.post(f"{API}/posts", body=requests.ReadTimeout())

    outcome = wordpress.send(page(), idempotency_key="k")

    assert isinstance(outcome, RetryLater) and outcome.maybe_delivered
    assert not WordPressAdapter.idempotent


def test_malformed_json_after_creating_is_uncertain(wordpress, api):
    api.post(f"{API}/posts", body="<br />\n<b>Warning</b>: headers already sent", status=201)

    outcome = wordpress.send(page(), idempotency_key="k")

    assert isinstance(outcome, RetryLater) and outcome.maybe_delivered


def test_validate(wordpress):
    insecure = build(WordPressAdapter, {"site_url": "http://blog.example.org"}, {}).adapter
    naive = datetime(2030, 1, 1, 9, 0)

    problems = insecure.validate(
        page(title=" ", html="", text="", publish_at=naive, media=(image("a.png"), image("b.png")))
    )

    assert [p.field for p in problems] == ["site_url", "title", "html", "publish_at", "media"]
    assert wordpress.validate(page()) == []


def test_check_connection_needs_a_user_who_may_publish(wordpress, api):
    api.get(
        f"{API}/users/me?context=edit",
        json={
            "id": 7,
            "name": "Contributor",
            "slug": "contrib",
            "capabilities": {"edit_posts": True},
        },
    )

    with pytest.raises(ConnectionCheckFailed) as raised:
        wordpress.check_connection()

    assert "may not publish posts" in str(raised.value)


def test_check_connection_passes_for_an_editor(wordpress, api):
    api.get(
        f"{API}/users/me?context=edit",
        json={"id": 2, "name": "Editor", "slug": "editor", "capabilities": {"publish_posts": True}},
    )

    wordpress.check_connection()

    assert api.calls[0].request.headers["Authorization"] == BASIC
