# Contract tests for the X adapter. Requests and replies follow X's docs:
# https://docs.x.com/x-api/posts/create-post (201 {"data": {"id", "text"}}, problem details)
# https://docs.x.com/x-api/media/upload-media and .../create-media-metadata (alt text)
# https://docs.x.com/fundamentals/authentication/oauth-2-0/authorization-code (refresh grant,
#   Basic auth for confidential clients, rotating refresh tokens)
# https://docs.x.com/x-api/fundamentals/rate-limits (x-rate-limit-*, 24-hour limit headers)
from __future__ import annotations

import base64
import json
import time
from urllib.parse import parse_qsl

import pytest
import requests
import responses

from campaign_manager.channels.base import ConnectionCheckFailed, Failed, RetryLater, Sent
from campaign_manager.channels.x import XAdapter
from tests.channels.adapter_kit import (
    assert_secrets_absent,
    build,
    capture_all_logs,
    image,
    social,
)

API = "https://api.x.com"
ACCESS = "x-access-VGhpcyBpcyBhbiBhY2Nlc3M"
REFRESH = "x-refresh-bWVtb3J5IGxhbmU"
CLIENT_SECRET = "x-client-secret-c2VjcmV0"
NEW_ACCESS = "x-access-bmV3IGFjY2Vzcw"
NEW_REFRESH = "x-refresh-cm90YXRlZA"
SECRETS = [ACCESS, REFRESH, CLIENT_SECRET, NEW_ACCESS, NEW_REFRESH]
CREATED = {"data": {"id": "1445880548472328192", "text": "Hello world!"}}
UNAUTHORIZED = {
    "title": "Unauthorized",
    "type": "about:blank",
    "status": 401,
    "detail": "Unauthorized",
}


@pytest.fixture
def x():
    built = build(
        XAdapter,
        {"client_id": "M1M5R3BMVy13QmpScXkzTUt5OE46MTpjaQ"},
        {"access_token": ACCESS, "refresh_token": REFRESH, "client_secret": CLIENT_SECRET},
    )
    yield built
    built.adapter.close()


@pytest.fixture
def api():
    with responses.RequestsMock() as mock:
        yield mock


def test_posts_the_text_with_the_link(x, api):
    api.post(f"{API}/2/tweets", json=CREATED, status=201)

    outcome = x.adapter.send(
        social("Scholarships open now", link="https://careers.example/s"), idempotency_key="k"
    )

    assert outcome == Sent("1445880548472328192")
    request = api.calls[0].request
    assert request.headers["Authorization"] == f"Bearer {ACCESS}"
    assert json.loads(request.body) == {
        "text": "Scholarships open now\n\nhttps://careers.example/s"
    }
    assert request.req_kwargs["timeout"] == 7.5


def test_images_are_uploaded_described_then_attached(x, api):
    api.post(
        f"{API}/2/media/upload",
        json={
            "data": {
                "id": "1146654567674912769",
                "media_key": "3_1146654567674912769",
                "size": 70,
                "expires_after_secs": 86400,
            }
        },
    )
    api.post(
        f"{API}/2/media/metadata",
        json={"data": {"id": "1146654567674912769", "associated_metadata": {}}},
    )
    api.post(f"{API}/2/tweets", json=CREATED, status=201)

    x.adapter.send(social("Open day", media=(image(),)), idempotency_key="k")

    upload = api.calls[0].request.body
    assert b'name="media"; filename="poster.png"' in upload
    assert b'name="media_category"\r\n\r\ntweet_image' in upload
    assert json.loads(api.calls[1].request.body) == {
        "id": "1146654567674912769",
        "metadata": {"alt_text": {"text": "Two technicians repairing a bumper"}},
    }
    assert json.loads(api.calls[2].request.body) == {
        "text": "Open day",
        "media": {"media_ids": ["1146654567674912769"]},
    }


def test_a_duplicate_403_is_permanent_not_a_retry(x, api):
    api.post(
        f"{API}/2/tweets",
        json={
            "detail": "You are not allowed to create a Tweet with duplicate content.",
            "type": "about:blank",
            "title": "Forbidden",
            "status": 403,
        },
        status=403,
    )

    outcome = x.adapter.send(social("same"), idempotency_key="k")

    assert isinstance(outcome, Failed) and outcome.permanent and not outcome.needs_reconnect
    assert "duplicate content" in outcome.reason


def test_an_invalid_request_is_permanent(x, api):
    api.post(
        f"{API}/2/tweets",
        json={
            "errors": [
                {"parameters": {"text": ["x" * 10]}, "message": "Requested text is too long"}
            ],
            "title": "Invalid Request",
            "detail": "One or more parameters to your request was invalid.",
            "type": "https://api.twitter.com/2/problems/invalid-request",
        },
        status=400,
    )

    outcome = x.adapter.send(social("x"), idempotency_key="k")

    assert isinstance(outcome, Failed) and "Requested text is too long" in outcome.reason


def test_401_refreshes_with_basic_auth_stores_the_rotated_token_and_repeats(x, api, caplog):
    capture_all_logs(caplog)
    api.post(f"{API}/2/tweets", json=UNAUTHORIZED, status=401)
    api.post(
        f"{API}/2/oauth2/token",
        json={
            "token_type": "bearer",
            "expires_in": 7200,
            "access_token": NEW_ACCESS,
            "scope": "tweet.write users.read tweet.read offline.access",
            "refresh_token": NEW_REFRESH,
        },
    )
    api.post(f"{API}/2/tweets", json=CREATED, status=201)

    outcome = x.adapter.send(social("hello"), idempotency_key="k")

    assert outcome == Sent("1445880548472328192")
    token_request = api.calls[1].request
    credentials = f"M1M5R3BMVy13QmpScXkzTUt5OE46MTpjaQ:{CLIENT_SECRET}".encode()
    assert (
        token_request.headers["Authorization"] == "Basic " + base64.b64encode(credentials).decode()
    )
    assert token_request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert parse_qsl(token_request.body) == [
        ("grant_type", "refresh_token"),
        ("refresh_token", REFRESH),
    ]
    assert api.calls[2].request.headers["Authorization"] == f"Bearer {NEW_ACCESS}"
    (saved,) = x.saved
    assert saved["access_token"] == NEW_ACCESS and saved["refresh_token"] == NEW_REFRESH
    assert abs(int(saved["access_token_expires_at"]) - (time.time() + 7200)) < 60
    assert_secrets_absent(SECRETS, outcome, caplog)


def test_a_public_client_sends_its_id_in_the_form():
    built = build(
        XAdapter, {"client_id": "public-client"}, {"access_token": ACCESS, "refresh_token": REFRESH}
    )
    with responses.RequestsMock() as api:
        api.post(f"{API}/2/tweets", json=UNAUTHORIZED, status=401)
        api.post(
            f"{API}/2/oauth2/token",
            json={"token_type": "bearer", "expires_in": 7200, "access_token": NEW_ACCESS},
        )
        api.post(f"{API}/2/tweets", json=CREATED, status=201)

        built.adapter.send(social("hello"), idempotency_key="k")

        token_request = api.calls[1].request
        assert "Authorization" not in token_request.headers
        assert ("client_id", "public-client") in parse_qsl(token_request.body)


def test_a_revoked_refresh_token_needs_reconnect(x, api, caplog):
    capture_all_logs(caplog)
    api.post(f"{API}/2/tweets", json=UNAUTHORIZED, status=401)
    api.post(
        f"{API}/2/oauth2/token",
        json={
            "error": "invalid_request",
            "error_description": "Value passed for the token was invalid.",
        },
        status=400,
    )

    outcome = x.adapter.send(social("hello"), idempotency_key="k")

    assert isinstance(outcome, Failed) and outcome.needs_reconnect
    assert "Value passed for the token was invalid." in outcome.reason
    assert x.saved == []
    assert_secrets_absent(SECRETS, outcome, caplog)


def test_429_honours_x_rate_limit_reset(x, api):
    reset = int(time.time()) + 600
    api.post(
        f"{API}/2/tweets",
        json={
            "title": "Too Many Requests",
            "detail": "Too Many Requests",
            "type": "about:blank",
            "status": 429,
        },
        status=429,
        headers={
            "x-rate-limit-limit": "100",
            "x-rate-limit-remaining": "0",
            "x-rate-limit-reset": str(reset),
        },
    )

    outcome = x.adapter.send(social("hello"), idempotency_key="k")

    assert isinstance(outcome, RetryLater) and 570 < outcome.after_seconds <= 600


def test_429_on_the_daily_user_cap_waits_for_the_24_hour_reset(x, api):
    now = int(time.time())
    api.post(
        f"{API}/2/tweets",
        json={
            "title": "Too Many Requests",
            "detail": "Too Many Requests",
            "type": "about:blank",
            "status": 429,
        },
        status=429,
        headers={
            "x-rate-limit-remaining": "99",
            "x-rate-limit-reset": str(now + 60),
            "x-user-limit-24hour-limit": "17",
            "x-user-limit-24hour-remaining": "0",
            "x-user-limit-24hour-reset": str(now + 20_000),
        },
    )

    outcome = x.adapter.send(social("hello"), idempotency_key="k")

    assert isinstance(outcome, RetryLater) and 19_900 < outcome.after_seconds <= 20_000


def test_server_error_retries_later(x, api):
    api.post(
        f"{API}/2/tweets",
        json={
            "title": "Service Unavailable",
            "detail": "Service Unavailable",
            "type": "about:blank",
            "status": 503,
        },
        status=503,
    )

    outcome = x.adapter.send(social("hello"), idempotency_key="k")

    assert isinstance(outcome, RetryLater) and not outcome.maybe_delivered


def test_timeout_on_the_post_may_have_posted(x, api):
    api.post(f"{API}/2/tweets", body=requests.ReadTimeout())

    outcome = x.adapter.send(social("hello"), idempotency_key="k")

    assert isinstance(outcome, RetryLater) and outcome.maybe_delivered
    assert not XAdapter.idempotent


def test_malformed_json_after_posting_is_uncertain(x, api):
    api.post(f"{API}/2/tweets", body="<html>", status=201)

    outcome = x.adapter.send(social("hello"), idempotency_key="k")

    assert isinstance(outcome, RetryLater) and outcome.maybe_delivered


def test_validate_uses_weighted_length(x):
    assert x.adapter.validate(social("日" * 140)) == []
    assert x.adapter.validate(social("日" * 141))[0].message.startswith("282 of 280")
    # A link counts 23 whatever its length.
    assert x.adapter.validate(social("a" * 250, link="https://example.org/" + "p" * 200)) == []


def test_check_connection(x, api):
    api.get(
        f"{API}/2/users/me",
        json={"data": {"id": "2244994945", "name": "X Dev", "username": "TwitterDev"}},
    )

    x.adapter.check_connection()

    assert api.calls[0].request.headers["Authorization"] == f"Bearer {ACCESS}"


def test_check_connection_without_a_usable_token():
    built = build(XAdapter, {"client_id": "c"}, {"access_token": ACCESS})
    with responses.RequestsMock() as api:
        api.get(f"{API}/2/users/me", json=UNAUTHORIZED, status=401)
        with pytest.raises(ConnectionCheckFailed) as raised:
            built.adapter.check_connection()
    assert raised.value.needs_reconnect


def test_an_unreadable_token_answer_retries_later_and_keeps_the_stored_tokens(x, api):
    api.post(f"{API}/2/tweets", json=UNAUTHORIZED, status=401)
    api.post(f"{API}/2/oauth2/token", body="<html>maintenance</html>", status=200)

    outcome = x.adapter.send(social("hello"), idempotency_key="k")

    assert isinstance(outcome, RetryLater) and not outcome.maybe_delivered
    assert x.saved == [] and x.adapter.credentials["refresh_token"] == REFRESH


def test_a_spent_budget_on_success_holds_the_next_post_without_calling(x, api):
    api.post(
        f"{API}/2/tweets",
        json=CREATED,
        status=201,
        headers={"x-rate-limit-remaining": "0", "x-rate-limit-reset": str(int(time.time()) + 900)},
    )

    assert x.adapter.send(social("one"), idempotency_key="k1") == Sent("1445880548472328192")
    held = x.adapter.send(social("two"), idempotency_key="k2")

    assert isinstance(held, RetryLater) and 870 < held.after_seconds <= 900
    assert "X rate limit" in held.reason
    assert len(api.calls) == 1
