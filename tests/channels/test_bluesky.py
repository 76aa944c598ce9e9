# Contract tests for the Bluesky adapter. Requests and replies follow Bluesky's docs:
# https://docs.bsky.app/docs/advanced-guides/posts (createRecord, uploadBlob, images embed)
# https://docs.bsky.app/docs/advanced-guides/post-richtext (facets at UTF-8 byte offsets)
# https://docs.bsky.app/docs/api/com-atproto-server-create-session (session, errors)
# https://docs.bsky.app/docs/advanced-guides/rate-limits (RateLimit-* headers, 429)
# ExpiredToken answers are 400 {"error": "ExpiredToken", ...}, as @atproto/api handles them.
from __future__ import annotations

import json
import time

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
from campaign_manager.channels.bluesky import BlueskyAdapter
from tests.channels.adapter_kit import (
    PNG_BYTES,
    assert_secrets_absent,
    build,
    capture_all_logs,
    image,
    social,
)

PDS = "https://pds.example"
XRPC = f"{PDS}/xrpc"
APP_PASSWORD = "abcd-efgh-ijkl-mnop"
DID = "did:plc:u5cwb2mwiv2bfq53cjufe6yn"
SESSION = {
    "accessJwt": "access.jwt.one",
    "refreshJwt": "refresh.jwt.one",
    "handle": "coalition.bsky.social",
    "did": DID,
    "email": "team@coalition.example",
    "emailConfirmed": True,
}
REFRESHED = {**SESSION, "accessJwt": "access.jwt.two", "refreshJwt": "refresh.jwt.two"}
CREATED = {
    "uri": f"at://{DID}/app.bsky.feed.post/3k4duaz5vfs2b",
    "cid": "bafyreibjifzpqj6o6wcq3hejh7y4z4z2vmiklkvykc57tw3pcbx3kxifpm",
}
BLOB = {
    "$type": "blob",
    "ref": {"$link": "bafkreibabalobzn6cd366ukcsjycp4yymjymgfxcv6xczmlgpemzkz3cfa"},
    "mimeType": "image/png",
    "size": len(PNG_BYTES),
}
EXPIRED = {"error": "ExpiredToken", "message": "Token has expired"}
SECRETS = [APP_PASSWORD, "access.jwt.one", "refresh.jwt.one", "access.jwt.two", "refresh.jwt.two"]


def make(credentials=None):
    return build(
        BlueskyAdapter,
        {"handle": "@coalition.bsky.social", "service_url": PDS, "language": "en"},
        {"app_password": APP_PASSWORD, **(credentials or {})},
    )


@pytest.fixture
def fresh():
    """An account whose session was never created."""
    built = make()
    yield built
    built.adapter.close()


@pytest.fixture
def signed_in():
    """An account with a stored session."""
    built = make({"access_jwt": "access.jwt.one", "refresh_jwt": "refresh.jwt.one", "did": DID})
    yield built
    built.adapter.close()


@pytest.fixture
def api():
    with responses.RequestsMock() as mock:
        yield mock


def body_of(call) -> dict:
    return json.loads(call.request.body)


def test_first_post_creates_the_session_once_and_keeps_its_tokens(fresh, api):
    api.post(f"{XRPC}/com.atproto.server.createSession", json=SESSION)
    api.post(f"{XRPC}/com.atproto.repo.createRecord", json=CREATED)

    first = fresh.adapter.send(social("Hello"), idempotency_key="k1")
    second = fresh.adapter.send(social("Again"), idempotency_key="k2")

    assert first == second == Sent(CREATED["uri"])
    urls = [call.request.url for call in api.calls]
    assert urls.count(f"{XRPC}/com.atproto.server.createSession") == 1
    assert body_of(api.calls[0]) == {
        "identifier": "coalition.bsky.social",
        "password": APP_PASSWORD,
    }
    assert fresh.saved == [
        {"access_jwt": "access.jwt.one", "refresh_jwt": "refresh.jwt.one", "did": DID}
    ]
    post = api.calls[1].request
    assert post.headers["Authorization"] == "Bearer access.jwt.one"
    assert post.req_kwargs["timeout"] == 7.5
    body = body_of(api.calls[1])
    assert body["repo"] == DID and body["collection"] == "app.bsky.feed.post"
    assert body["record"]["$type"] == "app.bsky.feed.post"
    assert body["record"]["text"] == "Hello"
    assert body["record"]["langs"] == ["en"]
    assert body["record"]["createdAt"].endswith("Z")


def test_link_mention_and_tag_facets_at_utf8_byte_offsets(signed_in, api):
    text = "✨ Meet @mentor.example.com at https://careers.example.org/apply 👨‍🔧 #CollisionCareers"
    api.get(
        f"{XRPC}/com.atproto.identity.resolveHandle?handle=mentor.example.com",
        json={"did": "did:plc:ewvi7nxzyoun6zhxrhs64oiz"},
    )
    api.post(f"{XRPC}/com.atproto.repo.createRecord", json=CREATED)

    outcome = signed_in.adapter.send(social(text), idempotency_key="k")

    assert outcome == Sent(CREATED["uri"])
    raw = text.encode("utf-8")

    def span(part: str) -> dict:
        start = raw.index(part.encode("utf-8"))
        return {"byteStart": start, "byteEnd": start + len(part.encode("utf-8"))}

    assert body_of(api.calls[1])["record"]["facets"] == [
        {
            "index": span("@mentor.example.com"),
            "features": [
                {
                    "$type": "app.bsky.richtext.facet#mention",
                    "did": "did:plc:ewvi7nxzyoun6zhxrhs64oiz",
                }
            ],
        },
        {
            "index": span("https://careers.example.org/apply"),
            "features": [
                {
                    "$type": "app.bsky.richtext.facet#link",
                    "uri": "https://careers.example.org/apply",
                }
            ],
        },
        {
            "index": span("#CollisionCareers"),
            "features": [{"$type": "app.bsky.richtext.facet#tag", "tag": "CollisionCareers"}],
        },
    ]
    # The emoji before the link make byte offsets differ from character offsets.
    assert span("https://careers.example.org/apply")["byteStart"] != text.index("https://")


def test_an_unresolvable_mention_stays_plain_text(signed_in, api):
    api.get(
        f"{XRPC}/com.atproto.identity.resolveHandle?handle=nobody.example.com",
        json={"error": "InvalidRequest", "message": "Unable to resolve handle"},
        status=400,
    )
    api.post(f"{XRPC}/com.atproto.repo.createRecord", json=CREATED)

    signed_in.adapter.send(social("hi @nobody.example.com"), idempotency_key="k")

    assert "facets" not in body_of(api.calls[1])["record"]


def test_images_are_uploaded_as_blobs_and_embedded_with_alt_text(signed_in, api):
    api.post(f"{XRPC}/com.atproto.repo.uploadBlob", json={"blob": BLOB})
    api.post(f"{XRPC}/com.atproto.repo.createRecord", json=CREATED)

    signed_in.adapter.send(social("Workshop photos", media=(image(),)), idempotency_key="k")

    upload = api.calls[0].request
    assert upload.headers["Content-Type"] == "image/png"
    assert upload.headers["Authorization"] == "Bearer access.jwt.one"
    assert upload.body == PNG_BYTES
    assert body_of(api.calls[1])["record"]["embed"] == {
        "$type": "app.bsky.embed.images",
        "images": [
            {
                "alt": "Two technicians repairing a bumper",
                "image": BLOB,
                "aspectRatio": {"width": 1, "height": 1},
            }
        ],
    }


def test_expired_token_is_refreshed_once_and_the_call_repeated(signed_in, api):
    api.post(f"{XRPC}/com.atproto.repo.createRecord", json=EXPIRED, status=400)
    api.post(f"{XRPC}/com.atproto.server.refreshSession", json=REFRESHED)
    api.post(f"{XRPC}/com.atproto.repo.createRecord", json=CREATED)

    outcome = signed_in.adapter.send(social("Hello"), idempotency_key="k")

    assert outcome == Sent(CREATED["uri"])
    refresh, retry = api.calls[1].request, api.calls[2].request
    assert refresh.headers["Authorization"] == "Bearer refresh.jwt.one"
    assert retry.headers["Authorization"] == "Bearer access.jwt.two"
    assert signed_in.saved == [
        {"access_jwt": "access.jwt.two", "refresh_jwt": "refresh.jwt.two", "did": DID}
    ]
    assert len(api.calls) == 3  # no createSession: refreshing is enough


def test_a_spent_refresh_token_falls_back_to_a_new_session(signed_in, api):
    api.post(f"{XRPC}/com.atproto.repo.createRecord", json=EXPIRED, status=400)
    api.post(f"{XRPC}/com.atproto.server.refreshSession", json=EXPIRED, status=400)
    api.post(f"{XRPC}/com.atproto.server.createSession", json=REFRESHED)
    api.post(f"{XRPC}/com.atproto.repo.createRecord", json=CREATED)

    outcome = signed_in.adapter.send(social("Hello"), idempotency_key="k")

    assert outcome == Sent(CREATED["uri"])
    assert api.calls[3].request.headers["Authorization"] == "Bearer access.jwt.two"


def test_still_expired_after_refreshing_is_not_retried_forever(signed_in, api):
    api.post(f"{XRPC}/com.atproto.repo.createRecord", json=EXPIRED, status=400)
    api.post(f"{XRPC}/com.atproto.server.refreshSession", json=REFRESHED)

    outcome = signed_in.adapter.send(social("Hello"), idempotency_key="k")

    assert isinstance(outcome, Failed) and outcome.needs_reconnect
    assert len(api.calls) == 3


def test_a_wrong_app_password_needs_reconnect(fresh, api, caplog):
    capture_all_logs(caplog)
    api.post(
        f"{XRPC}/com.atproto.server.createSession",
        json={"error": "AuthenticationRequired", "message": "Invalid identifier or password"},
        status=401,
    )

    outcome = fresh.adapter.send(social("Hello"), idempotency_key="k")

    assert isinstance(outcome, Failed) and outcome.needs_reconnect
    assert "Invalid identifier or password" in outcome.reason
    assert_secrets_absent(SECRETS, outcome, caplog)


def test_an_invalid_record_is_a_permanent_failure(signed_in, api):
    api.post(
        f"{XRPC}/com.atproto.repo.createRecord",
        json={
            "error": "InvalidRequest",
            "message": "Invalid app.bsky.feed.post record: Record/text must not be longer "
            "than 300 graphemes",
        },
        status=400,
    )

    outcome = signed_in.adapter.send(social("x"), idempotency_key="k")

    assert isinstance(outcome, Failed) and outcome.permanent and not outcome.needs_reconnect
    assert "300 graphemes" in outcome.reason


def test_429_waits_until_ratelimit_reset(signed_in, api):
    reset = int(time.time()) + 180
    api.post(
        f"{XRPC}/com.atproto.repo.createRecord",
        json={"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"},
        status=429,
        headers={
            "RateLimit-Limit": "5000",
            "RateLimit-Remaining": "0",
            "RateLimit-Reset": str(reset),
            "RateLimit-Policy": "5000;w=3600",
        },
    )

    outcome = signed_in.adapter.send(social("x"), idempotency_key="k")

    assert isinstance(outcome, RetryLater) and 150 < outcome.after_seconds <= 180
    assert "RateLimitExceeded" in outcome.reason


def test_server_error_retries_later(signed_in, api):
    api.post(
        f"{XRPC}/com.atproto.repo.createRecord",
        json={"error": "InternalServerError", "message": "Internal Server Error"},
        status=500,
    )

    outcome = signed_in.adapter.send(social("x"), idempotency_key="k")

    assert isinstance(outcome, RetryLater) and not outcome.maybe_delivered


def test_timeout_on_create_record_may_have_posted(signed_in, api):
    api.post(f"{XRPC}/com.atproto.repo.createRecord", body=requests.ReadTimeout())

    outcome = signed_in.adapter.send(social("x"), idempotency_key="k")

    assert isinstance(outcome, RetryLater) and outcome.maybe_delivered
    assert not BlueskyAdapter.idempotent


def test_timeout_while_signing_in_posted_nothing(fresh, api):
    api.post(f"{XRPC}/com.atproto.server.createSession", body=requests.ReadTimeout())

    outcome = fresh.adapter.send(social("x"), idempotency_key="k")

    assert isinstance(outcome, RetryLater) and not outcome.maybe_delivered


def test_malformed_json_after_posting_is_uncertain(signed_in, api):
    api.post(f"{XRPC}/com.atproto.repo.createRecord", body="<html>oops</html>", status=200)

    outcome = signed_in.adapter.send(social("x"), idempotency_key="k")

    assert isinstance(outcome, RetryLater) and outcome.maybe_delivered


def test_validate_counts_graphemes_and_checks_images(signed_in):
    big = MediaItem("huge.png", "image/png", b"\0" * 1_000_001, alt_text="A big picture")

    problems = signed_in.adapter.validate(social("👨‍👩‍👧‍👦" * 301, media=(big,) * 5))

    messages = [problem.message for problem in problems]
    assert messages[0].startswith("301 of 300 characters")
    assert any("at most 4 attachment" in message for message in messages)
    assert any(
        "huge.png is 1,000,001 bytes; Bluesky accepts at most 1,000,000 bytes" in message
        for message in messages
    )
    assert signed_in.adapter.validate(social("é" * 300)) == []
    # 300 graphemes, but 7,500 bytes: Bluesky also caps the UTF-8 size.
    assert "3000 bytes" in signed_in.adapter.validate(social("👨‍👩‍👧‍👦" * 300))[0].message


def test_check_connection_signs_in(fresh, api):
    api.post(f"{XRPC}/com.atproto.server.createSession", json=SESSION)
    api.get(
        f"{XRPC}/com.atproto.server.getSession",
        json={"handle": "coalition.bsky.social", "did": DID},
    )

    fresh.adapter.check_connection()

    assert api.calls[1].request.headers["Authorization"] == "Bearer access.jwt.one"


def test_check_connection_reports_a_taken_down_account(fresh, api):
    api.post(
        f"{XRPC}/com.atproto.server.createSession",
        json={"error": "AccountTakedown", "message": "Account has been taken down"},
        status=400,
    )

    with pytest.raises(ConnectionCheckFailed) as raised:
        fresh.adapter.check_connection()

    assert raised.value.needs_reconnect
