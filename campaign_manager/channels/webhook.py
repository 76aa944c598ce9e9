"""A generic webhook: each message POSTed as signed JSON to a URL the account names.

What a receiver gets (documented for people who write receivers):

    POST <url>
    Content-Type: application/json
    Idempotency-Key: <the delivery's key, the same on every retry>
    Campaign-Manager-Signature: t=<unix time>,v1=<hex HMAC-SHA256>

    {"id": "<the same key>", "type": "message", "sent_at": "2025-06-10T09:00:00Z",
     "message": {"kind": "web", "title": ..., "html": ..., "media": [...], ...}}

The signature scheme lives in `campaign_manager.core.security` (`verify_webhook_signature`
checks it): HMAC-SHA256 with the shared secret over `<t>.<raw body>`, and a timestamp more
than five minutes old is rejected, so a captured request cannot be replayed. Media travel
inline, base64-encoded with their SHA-256.

Delivery is at least once: after a crash the same message may arrive again with the same
Idempotency-Key, and the receiver must treat a key it has seen as already done. Any 2xx
is success; 410 Gone retires the hook; 401/403 mean the receiver no longer accepts our
signature; other 4xx are permanent; 408, 429 and 5xx are retried (honouring Retry-After).
Redirects are not followed: a signed POST is not re-sent to another address.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from dataclasses import fields
from datetime import UTC, datetime
from typing import Any, ClassVar

import requests

from campaign_manager.channels.base import (
    ChannelKind,
    Failed,
    MediaItem,
    Problem,
    RenderedMessage,
    SendResult,
    Sent,
    SettingField,
)
from campaign_manager.channels.http import (
    HttpAdapter,
    StopSending,
    connection_check_failed,
    json_or_none,
    outcome_for_status,
    rate_limited,
)
from campaign_manager.core.security import signed_webhook_headers, webhook_url_problem

MIN_SECRET_LENGTH = 16
MAX_BODY_BYTES = 10 * 1024 * 1024


def _media_json(item: MediaItem) -> dict[str, Any]:
    return {
        "filename": item.filename,
        "content_type": item.content_type,
        "size": len(item.data),
        "sha256": hashlib.sha256(item.data).hexdigest(),
        "alt_text": item.alt_text,
        "width": item.width,
        "height": item.height,
        "data_base64": base64.b64encode(item.data).decode("ascii"),
    }


def message_json(message: RenderedMessage) -> dict[str, Any]:
    """Every field of the message as JSON: times in ISO 8601, files inline."""
    result: dict[str, Any] = {}
    for field in fields(message):
        value = getattr(message, field.name)
        if isinstance(value, tuple):
            value = [_media_json(item) for item in value]
        elif isinstance(value, datetime):
            value = value.isoformat()
        elif field.name in ("headers", "manifest", "tags"):
            value = dict(value)
        result[field.name] = value
    return result


def webhook_body(message: RenderedMessage, idempotency_key: str) -> bytes:
    payload = {
        "id": idempotency_key,
        "type": "message",
        "sent_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "message": message_json(message),
    }
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class WebhookAdapter(HttpAdapter):
    name: ClassVar[str] = "webhook"
    kind: ClassVar[ChannelKind] = ChannelKind.WEB
    display_name: ClassVar[str] = "Webhook (signed JSON)"
    fields: ClassVar[tuple[SettingField, ...]] = (
        SettingField("url", "Receiver URL", help="https address that receives each message."),
        SettingField(
            "signing_secret",
            "Signing secret",
            secret=True,
            input_type="password",
            help=f"At least {MIN_SECRET_LENGTH} random characters, shared with the receiver; "
            "it verifies the Campaign-Manager-Signature header.",
        ),
    )
    # Every retry carries the same Idempotency-Key and the receiver contract says a repeated
    # key is already done, so a delivery left in "sending" may be sent again.
    idempotent: ClassVar[bool] = True

    @property
    def url(self) -> str:
        return self.setting("url")

    def _failure(self, response: requests.Response) -> SendResult:
        status = response.status_code
        reason = f"the webhook receiver answered HTTP {status}"
        body = json_or_none(response)
        if isinstance(body, dict) and isinstance(body.get("error"), str):
            reason += f" ({self.reason(body['error'])})"
        if 300 <= status < 400:
            target = self.reason(response.headers.get("Location", "another address"))
            return Failed(f"{reason}: it redirects to {target}; update the receiver URL")
        if status == 429:
            return rate_limited(response, reason)
        if status in (401, 403):
            return Failed(
                reason + "; it rejects our signature: check the signing secret",
                needs_reconnect=True,
            )
        if status == 410:
            return Failed(reason + ": the receiver is gone; update or disable this account")
        return outcome_for_status(response, reason)

    def _post(self, body: bytes, idempotency_key: str) -> requests.Response:
        return self.request(
            "POST",
            self.url,
            data=body,
            headers=signed_webhook_headers(
                self.credentials.get("signing_secret", ""), body, idempotency_key
            ),
            allow_redirects=False,
            publishes=True,
        )

    # --- protocol ------------------------------------------------------------------------

    def validate(self, message: RenderedMessage) -> list[Problem]:
        problems: list[Problem] = []
        url_problem = webhook_url_problem(self.url)
        if url_problem:
            problems.append(Problem("url", url_problem))
        if len(self.credentials.get("signing_secret", "")) < MIN_SECRET_LENGTH:
            problems.append(
                Problem(
                    "signing_secret",
                    f"The signing secret needs at least {MIN_SECRET_LENGTH} characters.",
                )
            )
        size = len(webhook_body(message, "size-check"))
        if size > MAX_BODY_BYTES:
            problems.append(
                Problem(
                    "media",
                    f"The message is {size:,} bytes as JSON; webhooks carry at most "
                    f"{MAX_BODY_BYTES:,}.",
                )
            )
        return problems

    def send(self, message: RenderedMessage, *, idempotency_key: str) -> SendResult:
        try:
            response = self._post(webhook_body(message, idempotency_key), idempotency_key)
        except StopSending as stop:
            return stop.outcome
        if not 200 <= response.status_code < 300:
            return self._failure(response)
        answer = json_or_none(response)
        # A receiver may name what it made; otherwise the key identifies the delivery.
        if isinstance(answer, dict) and isinstance(answer.get("id"), str | int):
            return Sent(str(answer["id"]))
        return Sent(idempotency_key)

    def check_connection(self) -> None:
        """Sends a signed `ping` event; the receiver must answer 2xx."""
        payload = {
            "id": f"ping-{int(time.time())}",
            "type": "ping",
            "sent_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        }
        body = json.dumps(payload, separators=(",", ":")).encode()
        try:
            response = self._post(body, payload["id"])
        except StopSending as stop:
            raise connection_check_failed(stop.outcome) from None
        if not 200 <= response.status_code < 300:
            raise connection_check_failed(self._failure(response))
