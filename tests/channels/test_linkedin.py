# Contract tests for the LinkedIn adapter. Requests and replies follow LinkedIn's docs:
# https://learn.microsoft.com/en-us/linkedin/marketing/community-management/shares/posts-api
#   (201 + x-restli-id, versioned headers, little-text commentary, media/multiImage/article)
# https://learn.microsoft.com/en-us/linkedin/marketing/community-management/shares/images-api
#   (initializeUpload, PUT to uploadUrl, GET status)
# https://learn.microsoft.com/en-us/linkedin/shared/authentication/programmatic-refresh-tokens
# https://learn.microsoft.com/en-us/linkedin/shared/authentication/token-introspection
# https://learn.microsoft.com/en-us/linkedin/shared/api-guide/concepts/rate-limits
from __future__ import annotations

import json
import time
from dataclasses import replace
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
from campaign_manager.channels.linkedin import LinkedInAdapter, little_text
from tests.channels.adapter_kit import (
    PNG_BYTES,
    assert_secrets_absent,
    build,
    capture_all_logs,
    image,
    social,
)

API = "https://api.linkedin.com"
TOKEN_URL = "https://www.linkedin.com/oauth/v2/accessToken"
ORG = "urn:li:organization:5515715"
SHARE = "urn:li:share:6844785523593134080"
IMAGE_URN = "urn:li:image:C4E10AQFoyyAjHPMQuQ"
UPLOAD_URL = (
    "https://www.linkedin.com/dms-uploads/C4E10AQFoyyAjHPMQuQ/uploaded-image/0"
    "?ca=vector_ads&cn=uploads&m=AQJbrN86Zm265gAAAWemyz2pxPSgONtBiZdchrgG872QltnfYjnMdb2j3A"
    "&app=1953784&sync=0&v=beta&ut=2H-IhpbfXrRow1"
)
ACCESS = "AQV-linkedin-access-token-8f7e6d"
REFRESH = "AQX-linkedin-refresh-token-1a2b3c"
SECRET = "li-client-secret-9z8y"
SECRETS = [ACCESS, REFRESH, SECRET, "AQV-new-access-token-5555"]


def make(**credentials):
    return build(
        LinkedInAdapter,
        {"author_urn": ORG, "api_version": "202601", "client_id": "86abc123"},
        {"access_token": ACCESS, "client_secret": SECRET, **credentials},
    )


@pytest.fixture
def linkedin():
    built = make(refresh_token=REFRESH)
    built.adapter.image_poll_interval_seconds = 0
    yield built
    built.adapter.close()


@pytest.fixture
def api():
    with responses.RequestsMock() as mock:
        yield mock


def created(api):
    api.post(f"{API}/rest/posts", body="", status=201, headers={"x-restli-id": SHARE})


def test_posts_with_versioned_headers_and_reads_the_urn_from_x_restli_id(linkedin, api):
    created(api)

    outcome = linkedin.adapter.send(
        social("Scholarships (up to $5,000) for #CollisionRepair students @ local colleges"),
        idempotency_key="k",
    )

    assert outcome == Sent(SHARE)
    request = api.calls[0].request
    assert request.headers["LinkedIn-Version"] == "202601"
    assert request.headers["X-Restli-Protocol-Version"] == "2.0.0"
    assert request.headers["Authorization"] == f"Bearer {ACCESS}"
    assert request.req_kwargs["timeout"] == 7.5
    assert json.loads(request.body) == {
        "author": ORG,
        "commentary": "Scholarships \\(up to $5,000\\) for {hashtag|\\#|CollisionRepair} "
        "students \\@ local colleges",
        "visibility": "PUBLIC",
        "distribution": {
            "feedDistribution": "MAIN_FEED",
            "targetEntities": [],
            "thirdPartyDistributionChannels": [],
        },
        "lifecycleState": "PUBLISHED",
        "isReshareDisabledByAuthor": False,
    }


def test_little_text_escapes_every_reserved_character():
    assert little_text(r"a\b|c{d}e@f[g]h(i)j<k>l*m_n~o #tag C#") == (
        r"a\\b\|c\{d\}e\@f\[g\]h\(i\)j\<k\>l\*m\_n\~o {hashtag|\#|tag} C\#"
    )


def test_a_link_without_images_becomes_an_article(linkedin, api):
    created(api)
    message = replace(
        social("Find your training program", link="https://careers.example/training"),
        title="Training programs near you",
    )

    linkedin.adapter.send(message, idempotency_key="k")

    body = json.loads(api.calls[0].request.body)
    assert body["commentary"] == "Find your training program"
    assert body["content"] == {
        "article": {
            "source": "https://careers.example/training",
            "title": "Training programs near you",
        }
    }


def test_an_image_is_initialized_uploaded_checked_then_posted(linkedin, api):
    api.post(
        f"{API}/rest/images?action=initializeUpload",
        json={
            "value": {
                "uploadUrlExpiresAt": 1650567510704,
                "uploadUrl": UPLOAD_URL,
                "image": IMAGE_URN,
            }
        },
    )
    api.put(UPLOAD_URL, body="", status=201)
    image_status = f"{API}/rest/images/urn%3Ali%3Aimage%3AC4E10AQFoyyAjHPMQuQ"
    api.get(image_status, json={"owner": ORG, "status": "PROCESSING", "id": IMAGE_URN})
    api.get(
        image_status,
        json={
            "owner": ORG,
            "status": "AVAILABLE",
            "downloadUrlExpiresAt": 1650567510704,
            "downloadUrl": "https://media.licdn.com/dms/image/C4E10AQFoyyAjHPMQuQ/image",
            "id": IMAGE_URN,
        },
    )
    created(api)

    outcome = linkedin.adapter.send(social("Shop tour", media=(image(),)), idempotency_key="k")

    assert outcome == Sent(SHARE)
    init, put = api.calls[0].request, api.calls[1].request
    assert json.loads(init.body) == {"initializeUploadRequest": {"owner": ORG}}
    assert init.headers["LinkedIn-Version"] == "202601"
    assert put.body == PNG_BYTES and put.headers["Content-Type"] == "image/png"
    assert put.headers["Authorization"] == f"Bearer {ACCESS}"
    assert json.loads(api.calls[4].request.body)["content"] == {
        "media": {"id": IMAGE_URN, "altText": "Two technicians repairing a bumper"}
    }


def test_a_duplicate_post_is_a_permanent_failure(linkedin, api):
    api.post(
        f"{API}/rest/posts",
        json={
            "errorDetailType": "com.linkedin.common.error.BadRequest",
            "code": "DUPLICATE_POST",
            "message": "Content is a duplicate of urn:li:share:7012345678901234567",
            "errorDetails": {},
            "status": 422,
        },
        status=422,
    )

    outcome = linkedin.adapter.send(social("same again"), idempotency_key="k")

    assert isinstance(outcome, Failed) and outcome.permanent and not outcome.needs_reconnect
    assert "duplicate" in outcome.reason


def test_an_expired_token_is_refreshed_and_the_post_repeated_once(linkedin, api, caplog):
    capture_all_logs(caplog)
    api.post(
        f"{API}/rest/posts",
        json={
            "serviceErrorCode": 65601,
            "code": "REVOKED_ACCESS_TOKEN",
            "message": "The token used in the request has expired",
            "status": 401,
        },
        status=401,
    )
    # LinkedIn's refresh answer may repeat the refresh token or leave it out.
    api.post(
        TOKEN_URL,
        json={"access_token": "AQV-new-access-token-5555", "expires_in": 5184000},
    )
    created(api)

    outcome = linkedin.adapter.send(social("hello"), idempotency_key="k")

    assert outcome == Sent(SHARE)
    assert parse_qsl(api.calls[1].request.body) == [
        ("grant_type", "refresh_token"),
        ("refresh_token", REFRESH),
        ("client_id", "86abc123"),
        ("client_secret", SECRET),
    ]
    assert api.calls[2].request.headers["Authorization"] == "Bearer AQV-new-access-token-5555"
    (saved,) = linkedin.saved
    assert saved["access_token"] == "AQV-new-access-token-5555"
    assert "refresh_token" not in saved  # never replaced with an empty value
    assert int(saved["access_token_expires_at"]) > time.time() + 5_000_000
    assert_secrets_absent(SECRETS, outcome, caplog)


def test_401_without_a_refresh_token_needs_reconnect(api, caplog):
    capture_all_logs(caplog)
    built = make()
    api.post(
        f"{API}/rest/posts",
        json={
            "serviceErrorCode": 65600,
            "code": "INVALID_ACCESS_TOKEN",
            "message": "Invalid access token",
            "status": 401,
        },
        status=401,
    )

    outcome = built.adapter.send(social("hello"), idempotency_key="k")

    assert isinstance(outcome, Failed) and outcome.needs_reconnect
    assert "INVALID_ACCESS_TOKEN" in outcome.reason
    assert_secrets_absent(SECRETS, outcome, caplog)


def test_a_refused_refresh_token_needs_reconnect(linkedin, api, caplog):
    capture_all_logs(caplog)
    api.post(
        f"{API}/rest/posts",
        json={"serviceErrorCode": 65601, "code": "REVOKED_ACCESS_TOKEN", "status": 401},
        status=401,
    )
    api.post(
        TOKEN_URL,
        json={
            "error": "invalid_request",
            "error_description": "The provided authorization grant or refresh token is "
            "invalid, expired or revoked",
        },
        status=400,
    )

    outcome = linkedin.adapter.send(social("hello"), idempotency_key="k")

    assert isinstance(outcome, Failed) and outcome.needs_reconnect
    assert "invalid, expired or revoked" in outcome.reason
    assert_secrets_absent(SECRETS, outcome, caplog)


def test_a_known_expiry_refreshes_before_posting(api):
    built = make(refresh_token=REFRESH, access_token_expires_at=str(int(time.time()) - 10))
    api.post(TOKEN_URL, json={"access_token": "AQV-new-access-token-5555", "expires_in": 60})
    created(api)

    assert built.adapter.send(social("hello"), idempotency_key="k") == Sent(SHARE)
    assert api.calls[1].request.headers["Authorization"] == "Bearer AQV-new-access-token-5555"


def test_429_daily_limit_waits_until_midnight_utc(linkedin, api):
    api.post(
        f"{API}/rest/posts",
        json={
            "status": 429,
            "serviceErrorCode": 101,
            "code": "TOO_MANY_REQUESTS",
            "message": "Resource level throttle APPLICATION DAY limit for calls to this "
            "resource is reached.",
        },
        status=429,
    )

    outcome = linkedin.adapter.send(social("hello"), idempotency_key="k")

    assert isinstance(outcome, RetryLater) and 0 < outcome.after_seconds <= 24 * 3600
    now = time.gmtime()
    seconds_left_today = 24 * 3600 - (now.tm_hour * 3600 + now.tm_min * 60 + now.tm_sec)
    assert abs(outcome.after_seconds - seconds_left_today) < 5


def test_429_with_retry_after_waits_that_long(linkedin, api):
    api.post(
        f"{API}/rest/posts",
        json={"status": 429, "message": "Too many requests"},
        status=429,
        headers={"Retry-After": "30"},
    )

    outcome = linkedin.adapter.send(social("hello"), idempotency_key="k")

    assert isinstance(outcome, RetryLater) and outcome.after_seconds == 30


def test_server_error_retries_later(linkedin, api):
    api.post(
        f"{API}/rest/posts", json={"message": "Internal Server Error", "status": 500}, status=500
    )

    outcome = linkedin.adapter.send(social("hello"), idempotency_key="k")

    assert isinstance(outcome, RetryLater) and not outcome.maybe_delivered


def test_timeout_on_the_post_may_have_posted(linkedin, api):
    api.post(f"{API}/rest/posts", body=requests.ReadTimeout())

    outcome = linkedin.adapter.send(social("hello"), idempotency_key="k")

    assert isinstance(outcome, RetryLater) and outcome.maybe_delivered
    assert not LinkedInAdapter.idempotent


def test_malformed_json_while_starting_an_upload_posts_nothing(linkedin, api):
    api.post(f"{API}/rest/images?action=initializeUpload", body="{oops", status=200)

    outcome = linkedin.adapter.send(social("x", media=(image(),)), idempotency_key="k")

    assert isinstance(outcome, RetryLater) and not outcome.maybe_delivered
    assert len(api.calls) == 1


def test_a_201_without_the_urn_is_uncertain(linkedin, api):
    api.post(f"{API}/rest/posts", body="", status=201)

    outcome = linkedin.adapter.send(social("x"), idempotency_key="k")

    assert isinstance(outcome, RetryLater) and outcome.maybe_delivered


def test_validate_checks_author_version_length_and_images(linkedin):
    built = build(LinkedInAdapter, {"author_urn": "acme", "api_version": "2026-01"}, {})
    tiff = MediaItem("scan.tiff", "image/tiff", b"II*", alt_text="A scan")

    fields = [p.field for p in built.adapter.validate(social("a" * 3001, media=(tiff,)))]

    assert fields == ["author_urn", "api_version", "text", "media"]
    assert linkedin.adapter.validate(social("a" * 3000)) == []


def test_check_connection_introspects_the_token(linkedin, api):
    api.post(
        "https://www.linkedin.com/oauth/v2/introspectToken",
        json={
            "active": True,
            "client_id": "86abc123",
            "authorized_at": 1633324837,
            "created_at": 1633324836,
            "status": "active",
            "expires_at": 1638508837,
            "scope": "w_organization_social",
            "auth_type": "3L",
        },
    )

    linkedin.adapter.check_connection()

    assert parse_qsl(api.calls[0].request.body) == [
        ("client_id", "86abc123"),
        ("client_secret", SECRET),
        ("token", ACCESS),
    ]


def test_check_connection_reports_a_revoked_token(linkedin, api):
    api.post(
        "https://www.linkedin.com/oauth/v2/introspectToken",
        json={"active": False, "status": "revoked"},
    )

    with pytest.raises(ConnectionCheckFailed) as raised:
        linkedin.adapter.check_connection()

    assert raised.value.needs_reconnect and "revoked" in str(raised.value)
