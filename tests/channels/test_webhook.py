# Contract tests for the generic webhook adapter. The contract is our own, documented in
# campaign_manager/channels/webhook.py and campaign_manager/core/security.py; the receiver
# below is written the way that documentation tells a receiver to be written.
from __future__ import annotations

import base64
import hashlib
import json
import time
from datetime import UTC, datetime

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
from campaign_manager.channels.webhook import WebhookAdapter
from campaign_manager.core.security import WEBHOOK_SIGNATURE_HEADER, verify_webhook_signature
from tests.channels.adapter_kit import (
    PNG_BYTES,
    assert_secrets_absent,
    build,
    capture_all_logs,
    image,
)

URL = "https://hooks.partner.example/campaign-manager"
SECRET = "whsec-6f1c2d9a8b7e4f30"


class Receiver:
    """A receiver as the documentation describes: verify, reject replays, dedupe by key."""

    def __init__(self, secret: str = SECRET) -> None:
        self.secret = secret
        self.accepted: list[dict] = []
        self.seen_keys: set[str] = set()

    def accepts(self, body: bytes, headers, *, now: float | None = None) -> bool:
        return verify_webhook_signature(
            self.secret, body, headers.get(WEBHOOK_SIGNATURE_HEADER, ""), now=now
        )

    def __call__(self, request):
        body = request.body if isinstance(request.body, bytes) else request.body.encode()
        if not self.accepts(body, request.headers):
            return 401, {}, json.dumps({"error": "bad signature"})
        key = request.headers["Idempotency-Key"]
        if key not in self.seen_keys:
            self.seen_keys.add(key)
            self.accepted.append(json.loads(body))
        return 200, {}, json.dumps({"id": f"evt_{len(self.accepted)}"})


def message(**changes) -> RenderedMessage:
    fields = {
        "kind": ChannelKind.WEB,
        "title": "Scholarships are open",
        "html": "<p>Apply by March 1 — <em>no fee</em>.</p>",
        "slug": "scholarships",
        "publish_at": datetime(2030, 3, 1, 9, 0, tzinfo=UTC),
        "tags": {"campaign": "spring-recruiting"},
        "media": (image(),),
    }
    fields.update(changes)
    return RenderedMessage(**fields)


@pytest.fixture
def hook():
    built = build(WebhookAdapter, {"url": URL}, {"signing_secret": SECRET})
    yield built.adapter
    built.adapter.close()


@pytest.fixture
def api():
    with responses.RequestsMock() as mock:
        yield mock


def test_the_receiver_verifies_the_signed_message(hook, api):
    receiver = Receiver()
    api.add_callback(responses.POST, URL, callback=receiver)

    outcome = hook.send(message(), idempotency_key="delivery-17")

    assert outcome == Sent("evt_1")
    request = api.calls[0].request
    assert request.headers["Idempotency-Key"] == "delivery-17"
    assert request.headers["Content-Type"] == "application/json"
    assert request.req_kwargs["timeout"] == 7.5
    (event,) = receiver.accepted
    assert event["id"] == "delivery-17" and event["type"] == "message"
    sent = event["message"]
    assert sent["kind"] == "web"
    assert sent["title"] == "Scholarships are open"
    assert sent["html"] == "<p>Apply by March 1 — <em>no fee</em>.</p>"
    assert sent["publish_at"] == "2030-03-01T09:00:00+00:00"
    assert sent["tags"] == {"campaign": "spring-recruiting"}
    (media,) = sent["media"]
    assert base64.b64decode(media["data_base64"]) == PNG_BYTES
    assert media["sha256"] == hashlib.sha256(PNG_BYTES).hexdigest()
    assert media["alt_text"] == "Two technicians repairing a bumper"


def test_the_signature_covers_the_timestamp_and_the_exact_body(hook, api):
    api.post(URL, json={})

    hook.send(message(), idempotency_key="k")

    request = api.calls[0].request
    header = request.headers[WEBHOOK_SIGNATURE_HEADER]
    receiver = Receiver()
    assert receiver.accepts(request.body, request.headers)
    tampered = request.body.replace(b"Scholarships", b"Scam")
    assert not receiver.accepts(tampered, request.headers)
    assert not Receiver("another-secret-value").accepts(request.body, request.headers)
    # A replay ten minutes later is refused, even with the untouched body and header.
    timestamp = int(header.split(",")[0].removeprefix("t="))
    assert abs(timestamp - time.time()) < 60
    assert not receiver.accepts(request.body, request.headers, now=timestamp + 600)


def test_a_retry_carries_the_same_key_and_the_receiver_keeps_one(hook, api):
    receiver = Receiver()
    api.add_callback(responses.POST, URL, callback=receiver)

    hook.send(message(), idempotency_key="delivery-17")
    hook.send(message(), idempotency_key="delivery-17")

    assert len(api.calls) == 2 and len(receiver.accepted) == 1
    assert WebhookAdapter.idempotent


def test_a_rejected_signature_needs_the_secret_fixed(hook, api, caplog):
    capture_all_logs(caplog)
    api.add_callback(responses.POST, URL, callback=Receiver("the-receiver-has-another"))

    outcome = hook.send(message(), idempotency_key="k")

    assert isinstance(outcome, Failed) and outcome.needs_reconnect
    assert "bad signature" in outcome.reason
    assert_secrets_absent([SECRET], outcome, caplog)


def test_a_validation_error_from_the_receiver_is_permanent(hook, api):
    api.post(URL, json={"error": "unknown slug"}, status=422)

    outcome = hook.send(message(), idempotency_key="k")

    assert isinstance(outcome, Failed) and outcome.permanent and not outcome.needs_reconnect
    assert "unknown slug" in outcome.reason


def test_gone_retires_the_hook(hook, api):
    api.post(URL, body="", status=410)

    outcome = hook.send(message(), idempotency_key="k")

    assert isinstance(outcome, Failed) and "the receiver is gone" in outcome.reason


def test_a_redirect_is_not_followed(hook, api):
    api.post(URL, body="", status=301, headers={"Location": "https://elsewhere.example/hook"})

    outcome = hook.send(message(), idempotency_key="k")

    assert isinstance(outcome, Failed) and "elsewhere.example" in outcome.reason
    assert len(api.calls) == 1


def test_429_honours_retry_after(hook, api):
    api.post(URL, body="slow down", status=429, headers={"Retry-After": "45"})

    outcome = hook.send(message(), idempotency_key="k")

    assert isinstance(outcome, RetryLater) and outcome.after_seconds == 45


def test_server_error_retries_later(hook, api):
    api.post(URL, body="<h1>502 Bad Gateway</h1>", status=502)

    outcome = hook.send(message(), idempotency_key="k")

    assert isinstance(outcome, RetryLater) and not outcome.maybe_delivered


def test_a_read_timeout_may_have_delivered(hook, api):
    api.post(URL, body=requests.ReadTimeout())

    outcome = hook.send(message(), idempotency_key="k")

    assert isinstance(outcome, RetryLater) and outcome.maybe_delivered


def test_a_2xx_with_a_malformed_body_is_still_delivered(hook, api):
    api.post(URL, body="OK!", status=202)

    assert hook.send(message(), idempotency_key="delivery-9") == Sent("delivery-9")


def test_validate(hook):
    weak = build(WebhookAdapter, {"url": "http://hooks.example"}, {"signing_secret": "short"})

    assert [p.field for p in weak.adapter.validate(message())] == ["url", "signing_secret"]
    local = build(WebhookAdapter, {"url": "http://localhost:8080/h"}, {"signing_secret": SECRET})
    assert local.adapter.validate(message()) == []
    assert hook.validate(message()) == []


def test_check_connection_sends_a_signed_ping(hook, api):
    receiver = Receiver()
    api.add_callback(responses.POST, URL, callback=receiver)

    hook.check_connection()

    assert receiver.accepted[0]["type"] == "ping"


def test_check_connection_reports_a_wrong_secret(hook, api):
    api.add_callback(responses.POST, URL, callback=Receiver("not-the-same-secret"))

    with pytest.raises(ConnectionCheckFailed) as raised:
        hook.check_connection()

    assert raised.value.needs_reconnect
