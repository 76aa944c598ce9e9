# Contract tests for the Facebook Page adapter. Requests and replies follow Meta's docs:
# https://developers.facebook.com/docs/pages-api/posts (feed: {"id": "{page-id}_{post-id}"},
#   photos: {"id": "{photo-id}", "post_id": "{page-post-id}"}, attached_media)
# https://developers.facebook.com/docs/graph-api/guides/error-handling (error object, codes)
# https://developers.facebook.com/docs/graph-api/overview/rate-limiting (X-App-Usage,
#   X-Business-Use-Case-Usage with estimated_time_to_regain_access in minutes)
from __future__ import annotations

import json
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
from campaign_manager.channels.facebook import GRAPH, FacebookPageAdapter
from tests.channels.adapter_kit import (
    assert_secrets_absent,
    build,
    capture_all_logs,
    image,
    social,
)

PAGE = "104726345618273"
TOKEN = "EAAGm0PX4ZCpsBAPageToken9XyZ"
FEED = f"{GRAPH}/{PAGE}/feed"
PHOTOS = f"{GRAPH}/{PAGE}/photos"


def graph_error(code, message, *, subcode=None, error_type="OAuthException", **extra):
    error = {"message": message, "type": error_type, "code": code, "fbtrace_id": "EJplcsCHuLu"}
    if subcode:
        error["error_subcode"] = subcode
    error.update(extra)
    return {"error": error}


@pytest.fixture
def page():
    built = build(FacebookPageAdapter, {"page_id": PAGE}, {"access_token": TOKEN})
    yield built.adapter
    built.adapter.close()


@pytest.fixture
def api():
    with responses.RequestsMock() as mock:
        yield mock


def test_a_text_post_goes_to_the_feed_with_its_link(page, api):
    api.post(FEED, json={"id": f"{PAGE}_1234567890"})

    outcome = page.send(
        social("Meet employers at the career fair", link="https://careers.example/fair"),
        idempotency_key="k",
    )

    assert outcome == Sent(f"{PAGE}_1234567890")
    request = api.calls[0].request
    assert request.url == f"https://graph.facebook.com/v25.0/{PAGE}/feed"
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert TOKEN not in request.url and TOKEN not in request.body
    assert parse_qsl(request.body) == [
        ("message", "Meet employers at the career fair"),
        ("link", "https://careers.example/fair"),
    ]
    assert request.req_kwargs["timeout"] == 7.5


def test_one_image_is_a_photo_post_with_alt_text(page, api):
    api.post(PHOTOS, json={"id": "987654321", "post_id": f"{PAGE}_555"})

    outcome = page.send(social("Shop open day", media=(image(),)), idempotency_key="k")

    assert outcome == Sent(f"{PAGE}_555")
    body = api.calls[0].request.body
    assert b'name="source"; filename="poster.png"' in body
    assert b'name="message"\r\n\r\nShop open day' in body
    assert b'name="alt_text_custom"\r\n\r\nTwo technicians repairing a bumper' in body


def test_several_images_are_uploaded_unpublished_then_attached_to_one_post(page, api):
    api.post(PHOTOS, json={"id": "111"})
    api.post(PHOTOS, json={"id": "222"})
    api.post(FEED, json={"id": f"{PAGE}_777"})

    outcome = page.send(
        social("Two photos", media=(image("a.png"), image("b.png"))), idempotency_key="k"
    )

    assert outcome == Sent(f"{PAGE}_777")
    assert b'name="published"\r\n\r\nfalse' in api.calls[0].request.body
    assert parse_qsl(api.calls[2].request.body) == [
        ("message", "Two photos"),
        ("attached_media[0]", json.dumps({"media_fbid": "111"})),
        ("attached_media[1]", json.dumps({"media_fbid": "222"})),
    ]


def test_an_expired_token_needs_reconnect(page, api, caplog):
    capture_all_logs(caplog)
    api.post(
        FEED,
        json=graph_error(
            190,
            "Error validating access token: Session has expired on Tuesday, 10-Jun-25.",
            subcode=463,
        ),
        status=400,
    )

    outcome = page.send(social("x"), idempotency_key="k")

    assert isinstance(outcome, Failed) and outcome.needs_reconnect
    assert "code 190/463" in outcome.reason and "the access token expired" in outcome.reason
    assert_secrets_absent([TOKEN], outcome, caplog)


def test_a_missing_permission_needs_reconnect(page, api):
    api.post(
        FEED,
        json=graph_error(
            200, "(#200) The user hasn't authorized the application to perform this action"
        ),
        status=403,
    )

    outcome = page.send(social("x"), idempotency_key="k")

    assert isinstance(outcome, Failed) and outcome.needs_reconnect


def test_throttling_waits_for_the_business_use_case_estimate(page, api):
    usage = {
        PAGE: [
            {
                "type": "pages",
                "call_count": 100,
                "total_cputime": 12,
                "total_time": 18,
                "estimated_time_to_regain_access": 19,
            }
        ]
    }
    api.post(
        FEED,
        json=graph_error(
            80001,
            "There have been too many calls to this Page account. Wait a bit and try again.",
            error_type="OAuthException",
        ),
        status=400,
        headers={"X-Business-Use-Case-Usage": json.dumps(usage)},
    )

    outcome = page.send(social("x"), idempotency_key="k")

    assert isinstance(outcome, RetryLater) and outcome.after_seconds == 19 * 60
    assert "code 80001" in outcome.reason and "usage at 100%" in outcome.reason


@pytest.mark.parametrize("code", [4, 17, 32, 613])
def test_platform_throttling_codes_retry_later_with_app_usage(page, api, code):
    api.post(
        FEED,
        json=graph_error(
            code, "(#4) Application request limit reached", error_type="OAuthException"
        ),
        status=400,
        headers={
            "X-App-Usage": json.dumps({"call_count": 100, "total_time": 25, "total_cputime": 25})
        },
    )

    outcome = page.send(social("x"), idempotency_key="k")

    assert isinstance(outcome, RetryLater) and outcome.after_seconds == 300
    assert "usage at 100%" in outcome.reason


def test_a_duplicate_post_is_permanent(page, api):
    api.post(
        FEED,
        json=graph_error(506, "Duplicate status message", error_type="OAuthException"),
        status=400,
    )

    outcome = page.send(social("x"), idempotency_key="k")

    assert isinstance(outcome, Failed) and outcome.permanent and not outcome.needs_reconnect
    assert "Duplicate status message" in outcome.reason


def test_an_invalid_parameter_is_permanent(page, api):
    api.post(
        FEED,
        json=graph_error(
            100,
            "Invalid parameter",
            subcode=33,
            error_type="GraphMethodException",
            error_user_msg="The link you entered is not valid.",
        ),
        status=400,
    )

    outcome = page.send(social("x"), idempotency_key="k")

    assert isinstance(outcome, Failed) and outcome.permanent
    assert "The link you entered is not valid." in outcome.reason


def test_a_policy_block_is_retried_much_later(page, api):
    api.post(
        FEED,
        json=graph_error(
            368,
            "The action attempted has been deemed abusive or is otherwise disallowed",
            error_type="OAuthException",
        ),
        status=400,
    )

    outcome = page.send(social("x"), idempotency_key="k")

    assert isinstance(outcome, RetryLater) and outcome.after_seconds == 3600


def test_a_transient_error_retries(page, api):
    api.post(
        FEED,
        json=graph_error(
            2,
            "An unexpected error has occurred. Please retry your request later.",
            is_transient=True,
        ),
        status=500,
    )

    outcome = page.send(social("x"), idempotency_key="k")

    assert isinstance(outcome, RetryLater)


def test_an_html_server_error_retries(page, api):
    api.post(FEED, body="<html>Service Unavailable</html>", status=503)

    outcome = page.send(social("x"), idempotency_key="k")

    assert isinstance(outcome, RetryLater) and not outcome.maybe_delivered


def test_timeout_on_the_feed_post_may_have_posted(page, api):
    api.post(FEED, body=requests.ReadTimeout())

    outcome = page.send(social("x"), idempotency_key="k")

    assert isinstance(outcome, RetryLater) and outcome.maybe_delivered


def test_timeout_on_an_unpublished_photo_posted_nothing(page, api):
    api.post(PHOTOS, body=requests.ReadTimeout())

    outcome = page.send(social("x", media=(image("a.png"), image("b.png"))), idempotency_key="k")

    assert isinstance(outcome, RetryLater) and not outcome.maybe_delivered


def test_malformed_json_after_posting_is_uncertain(page, api):
    api.post(FEED, body="{'id': broken", status=200)

    outcome = page.send(social("x"), idempotency_key="k")

    assert isinstance(outcome, RetryLater) and outcome.maybe_delivered


def test_validate(page):
    built = build(FacebookPageAdapter, {"page_id": "my-page"}, {})
    svg = MediaItem("logo.svg", "image/svg+xml", b"<svg/>", alt_text="Logo")

    assert [p.field for p in built.adapter.validate(social("x", media=(svg,)))] == [
        "page_id",
        "media",
    ]
    assert page.validate(social("a" * 63206)) == []
    assert page.validate(social("a" * 63207))[0].field == "text"


def test_check_connection_reads_the_page(page, api):
    api.get(f"{GRAPH}/{PAGE}?fields=id%2Cname", json={"id": PAGE, "name": "Collision Careers"})

    page.check_connection()

    assert api.calls[0].request.headers["Authorization"] == f"Bearer {TOKEN}"


def test_check_connection_reports_a_changed_password(page, api):
    api.get(
        f"{GRAPH}/{PAGE}?fields=id%2Cname",
        json=graph_error(
            190,
            "Error validating access token: The session has been invalidated "
            "because the user changed their password.",
            subcode=460,
        ),
        status=400,
    )

    with pytest.raises(ConnectionCheckFailed) as raised:
        page.check_connection()

    assert raised.value.needs_reconnect and "the password changed" in str(raised.value)
