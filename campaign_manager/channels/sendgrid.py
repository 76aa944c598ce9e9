"""SendGrid: the v3 Mail Send API, and the signed Event Webhook for bounces and complaints.

Mail Send answers 202 with the message id in the X-Message-Id header and no body. Errors
carry {"errors": [{"field", "message"}]}; rate limits come as 429 with X-RateLimit-Reset
(a Unix time). Mail Send has no idempotency key, so a timed-out send may have gone out.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any, ClassVar

import requests
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from campaign_manager.channels.base import (
    AdapterConfig,
    BounceKind,
    BounceReport,
    ChannelKind,
    ConnectionCheckFailed,
    Failed,
    Problem,
    RenderedMessage,
    RetryLater,
    SendResult,
    Sent,
    SettingField,
    WebhookRejected,
    WebhookRequest,
)
from campaign_manager.channels.email_message import email_headers, validate_email_message
from campaign_manager.channels.http import (
    error_snippet,
    json_or_none,
    new_session,
    outcome_for_status,
    outcome_for_transport_error,
    requested_wait,
)
from campaign_manager.channels.webhooks import check_timestamp, parse_json, timestamp_to_datetime

BASE_URLS = {"global": "https://api.sendgrid.com", "eu": "https://api.eu.sendgrid.com"}
SIGNATURE_HEADER = "x-twilio-email-event-webhook-signature"
TIMESTAMP_HEADER = "x-twilio-email-event-webhook-timestamp"
# custom_args come back in every webhook event, which ties an event to our delivery.
IDEMPOTENCY_ARG = "cm_idempotency_key"


class SendGridAdapter:
    name: ClassVar[str] = "sendgrid"
    kind: ClassVar[ChannelKind] = ChannelKind.EMAIL
    display_name: ClassVar[str] = "SendGrid"
    idempotent: ClassVar[bool] = False
    fields: ClassVar[tuple[SettingField, ...]] = (
        SettingField(
            "api_key", "API key", secret=True, input_type="password",
            help="A key with the Mail Send permission (Settings → API Keys).",
        ),
        SettingField(
            "region", "Region", input_type="choice", choices=("global", "eu"), default="global",
            help="'eu' for subusers in SendGrid's EU region.",
        ),
        SettingField(
            "webhook_public_key", "Event Webhook verification key", required=False,
            input_type="textarea",
            help="Settings → Mail Settings → Event Webhook → Signature Verification. "
            "Bounce and complaint events are refused until it is set.",
        ),
    )  # fmt: skip

    def __init__(self, config: AdapterConfig) -> None:
        self.config = config
        self.base_url = BASE_URLS.get(str(config.settings.get("region") or "global"))
        self.session = new_session({"Accept": "application/json"})

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.config.credentials.get('api_key', '')}"}

    # --- sending ---------------------------------------------------------------------------

    def validate(self, message: RenderedMessage) -> list[Problem]:
        return validate_email_message(message)

    def request_body(self, message: RenderedMessage, idempotency_key: str) -> dict[str, Any]:
        recipient: dict[str, str] = {"email": message.to}
        if message.to_name:
            recipient["name"] = message.to_name
        sender: dict[str, str] = {"email": message.from_address}
        if message.from_name:
            sender["name"] = message.from_name
        content = []
        if message.text.strip():
            content.append({"type": "text/plain", "value": message.text})
        if message.html.strip():
            content.append({"type": "text/html", "value": message.html})
        body: dict[str, Any] = {
            "personalizations": [
                {
                    "to": [recipient],
                    "custom_args": {IDEMPOTENCY_ARG: idempotency_key, **dict(message.tags)},
                }
            ],
            "from": sender,
            "subject": message.subject,
            "content": content,
            "headers": email_headers(message),
        }
        if message.reply_to:
            body["reply_to"] = {"email": message.reply_to}
        if message.tags:
            # Categories group the statistics in SendGrid's own reports (at most 10).
            body["categories"] = [str(v)[:255] for v in list(message.tags.values())[:10]]
        return body

    def send(self, message: RenderedMessage, *, idempotency_key: str) -> SendResult:
        try:
            response = self.session.post(
                f"{self.base_url}/v3/mail/send",
                json=self.request_body(message, idempotency_key),
                headers=self._auth(),
                timeout=self.config.timeout_seconds,
            )
        except requests.RequestException as exc:
            return outcome_for_transport_error(exc)
        return self.outcome(response)

    def outcome(self, response: requests.Response) -> SendResult:
        if response.status_code in (200, 202):
            message_id = response.headers.get("X-Message-Id", "")
            if not message_id:
                return RetryLater(
                    60.0,
                    "SendGrid accepted the message without a message id",
                    maybe_delivered=True,
                )
            return Sent(message_id)
        reason = f"SendGrid answered {response.status_code}: {self._error_text(response)}"
        if response.status_code == 429:
            return RetryLater(requested_wait(response, "X-RateLimit-Reset"), reason)
        if response.status_code == 403:
            # An unverified sender identity, or a temporary block after bad requests:
            # either way a person must look; retrying the same request will not help.
            return Failed(reason, permanent=True)
        return outcome_for_status(response, reason)

    @staticmethod
    def _error_text(response: requests.Response) -> str:
        body = json_or_none(response)
        errors = body.get("errors") if isinstance(body, dict) else None
        if isinstance(errors, list) and errors:
            parts = []
            for error in errors:
                if isinstance(error, dict):
                    field = error.get("field")
                    text = str(error.get("message", "")).strip()
                    parts.append(f"{field}: {text}" if field else text)
            return "; ".join(p for p in parts if p) or "no details"
        if body is None:
            return f"(not JSON) {error_snippet(response)}".strip()
        return "no details"

    # --- account check ---------------------------------------------------------------------

    def check_connection(self) -> None:
        try:
            response = self.session.get(
                f"{self.base_url}/v3/scopes",
                headers=self._auth(),
                timeout=self.config.timeout_seconds,
            )
        except requests.RequestException as exc:
            raise ConnectionCheckFailed(f"cannot reach SendGrid: {type(exc).__name__}") from None
        if response.status_code == 401:
            raise ConnectionCheckFailed(
                "SendGrid refused the API key (invalid, deleted or revoked)", needs_reconnect=True
            )
        if response.status_code != 200:
            raise ConnectionCheckFailed(
                f"SendGrid answered {response.status_code}: {self._error_text(response)}"
            )
        body = json_or_none(response)
        scopes = body.get("scopes") if isinstance(body, dict) else None
        if not isinstance(scopes, list):
            raise ConnectionCheckFailed("SendGrid's answer to the scopes request is unreadable")
        if "mail.send" not in scopes:
            raise ConnectionCheckFailed(
                "this API key lacks the Mail Send permission", needs_reconnect=True
            )

    def close(self) -> None:
        self.session.close()

    # --- event webhook ---------------------------------------------------------------------

    def _public_key(self) -> ec.EllipticCurvePublicKey:
        raw = str(self.config.settings.get("webhook_public_key") or "").strip()
        if not raw:
            raise WebhookRejected("no Event Webhook verification key is configured")
        try:
            if raw.startswith("-----BEGIN"):
                key = serialization.load_pem_public_key(raw.encode("ascii"))
            else:
                key = serialization.load_der_public_key(base64.b64decode(raw))
        except (ValueError, binascii.Error):
            raise WebhookRejected("the configured verification key is not a valid key") from None
        if not isinstance(key, ec.EllipticCurvePublicKey):
            raise WebhookRejected("the configured verification key is not an ECDSA key")
        return key

    def verify_signature(self, request: WebhookRequest) -> None:
        signature = request.headers.get(SIGNATURE_HEADER, "")
        timestamp = request.headers.get(TIMESTAMP_HEADER, "")
        if not signature or not timestamp:
            raise WebhookRejected("the request is not signed")
        check_timestamp(timestamp, request.received_at)
        key = self._public_key()
        try:
            key.verify(
                base64.b64decode(signature),
                timestamp.encode("utf-8") + request.body,
                ec.ECDSA(hashes.SHA256()),
            )
        except (InvalidSignature, ValueError, binascii.Error):
            raise WebhookRejected("the signature does not match") from None

    def receive_webhook(self, request: WebhookRequest) -> list[BounceReport]:
        self.verify_signature(request)
        events = parse_json(request.body)
        if not isinstance(events, list):
            raise WebhookRejected("expected a JSON array of events", status=400)
        reports = []
        for event in events:
            if not isinstance(event, dict) or not event.get("email"):
                continue
            kind = event.get("event")
            if kind == "bounce":
                # "blocked" is a temporary refusal by the receiving server; "bounce" is final.
                permanent = event.get("type") != "blocked"
                report_kind = BounceKind.BOUNCE
            elif kind == "spamreport":
                permanent = True
                report_kind = BounceKind.COMPLAINT
            else:
                continue
            reports.append(
                BounceReport(
                    email=str(event["email"]),
                    kind=report_kind,
                    permanent=permanent,
                    provider=self.name,
                    provider_event_id=str(event.get("sg_event_id") or ""),
                    occurred_at=timestamp_to_datetime(event.get("timestamp"), request.received_at),
                    reason=str(event.get("reason") or event.get("status") or ""),
                    raw=event,
                )
            )
        return reports
