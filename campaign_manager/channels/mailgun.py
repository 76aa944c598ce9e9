"""Mailgun: POST /v3/{domain}/messages, and its HMAC-signed webhooks.

The message goes as multipart/form-data (from, to, subject, text, html, h:<header>,
v:<variable>, o:tag), answered 200 {"id": "<...>", "message": "Queued. Thank you."}.
Errors are {"message": "..."} (400, 402, 404) or a plain "Forbidden" (401). Accounts in
Mailgun's EU region use api.eu.mailgun.net; a US key does not work there and vice versa.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any, ClassVar

import requests

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
from campaign_manager.channels.email_message import (
    email_headers,
    format_address,
    validate_email_message,
)
from campaign_manager.channels.http import (
    error_snippet,
    json_or_none,
    new_session,
    outcome_for_status,
    outcome_for_transport_error,
    requested_wait,
)
from campaign_manager.channels.webhooks import check_timestamp, parse_json, timestamp_to_datetime

BASE_URLS = {"us": "https://api.mailgun.net", "eu": "https://api.eu.mailgun.net"}
# User variables (v:) come back in every webhook event as "user-variables".
IDEMPOTENCY_VARIABLE = "cm_idempotency_key"
MAX_TAGS = 3  # Mailgun's limit of o:tag values per message


class MailgunAdapter:
    name: ClassVar[str] = "mailgun"
    kind: ClassVar[ChannelKind] = ChannelKind.EMAIL
    display_name: ClassVar[str] = "Mailgun"
    idempotent: ClassVar[bool] = False
    fields: ClassVar[tuple[SettingField, ...]] = (
        SettingField("api_key", "API key", secret=True, input_type="password",
                     help="A sending or private API key."),
        SettingField("domain", "Sending domain", help="As listed in Mailgun, e.g. mg.example.org."),
        SettingField("region", "Region", input_type="choice", choices=("us", "eu"), default="us",
                     help="Where the domain was created in Mailgun."),
        SettingField("webhook_signing_key", "Webhook signing key", secret=True, required=False,
                     input_type="password",
                     help="Sending → Webhooks → HTTP webhook signing key. Bounce and complaint "
                     "events are refused until it is set."),
    )  # fmt: skip

    def __init__(self, config: AdapterConfig) -> None:
        self.config = config
        self.base_url = BASE_URLS.get(str(config.settings.get("region") or "us"))
        self.domain = str(config.settings.get("domain") or "")
        self.session = new_session({"Accept": "application/json"})

    def _auth(self) -> tuple[str, str]:
        return ("api", str(self.config.credentials.get("api_key", "")))

    # --- sending ---------------------------------------------------------------------------

    def validate(self, message: RenderedMessage) -> list[Problem]:
        return validate_email_message(message)

    def form_fields(self, message: RenderedMessage, idempotency_key: str) -> list[tuple[str, str]]:
        fields = [
            ("from", format_address(message.from_address, message.from_name)),
            ("to", format_address(message.to, message.to_name)),
            ("subject", message.subject),
        ]
        if message.text.strip():
            fields.append(("text", message.text))
        if message.html.strip():
            fields.append(("html", message.html))
        if message.reply_to:
            fields.append(("h:Reply-To", message.reply_to))
        fields += [(f"h:{name}", value) for name, value in email_headers(message).items()]
        fields.append((f"v:{IDEMPOTENCY_VARIABLE}", idempotency_key))
        fields += [("o:tag", str(value)) for value in list(message.tags.values())[:MAX_TAGS]]
        return fields

    def send(self, message: RenderedMessage, *, idempotency_key: str) -> SendResult:
        form = self.form_fields(message, idempotency_key)
        try:
            response = self.session.post(
                f"{self.base_url}/v3/{self.domain}/messages",
                # (None, value): a plain form field, sent as multipart/form-data as documented.
                files=[(name, (None, value.encode("utf-8"))) for name, value in form],
                auth=self._auth(),
                timeout=self.config.timeout_seconds,
            )
        except requests.RequestException as exc:
            return outcome_for_transport_error(exc)
        return self.outcome(response)

    def outcome(self, response: requests.Response) -> SendResult:
        body = json_or_none(response)
        if response.status_code == 200:
            message_id = body.get("id") if isinstance(body, dict) else None
            if not message_id:
                # Accepted, but we cannot tell which message: it may well be on its way.
                return RetryLater(60.0, "Mailgun's answer has no message id", maybe_delivered=True)
            return Sent(str(message_id).strip("<>"))
        detail = body.get("message") if isinstance(body, dict) else None
        detail = str(detail) if detail else f"(not JSON) {error_snippet(response)}".strip()
        reason = f"Mailgun answered {response.status_code}: {detail}"
        if response.status_code == 429:
            return RetryLater(requested_wait(response, "X-RateLimit-Reset"), reason)
        if response.status_code in (402, 403, 404):
            # Payment required, a sandbox domain's recipient list, an unknown domain: a
            # person must fix the account; the same request will not succeed later.
            return Failed(reason, permanent=True)
        return outcome_for_status(response, reason)

    # --- account check ---------------------------------------------------------------------

    def check_connection(self) -> None:
        try:
            response = self.session.get(
                f"{self.base_url}/v3/domains/{self.domain}",
                auth=self._auth(),
                timeout=self.config.timeout_seconds,
            )
        except requests.RequestException as exc:
            raise ConnectionCheckFailed(f"cannot reach Mailgun: {type(exc).__name__}") from None
        if response.status_code == 401:
            raise ConnectionCheckFailed("Mailgun refused the API key", needs_reconnect=True)
        if response.status_code == 404:
            raise ConnectionCheckFailed(
                f"Mailgun has no domain {self.domain} in this account and region "
                "(check the domain and the US/EU choice)"
            )
        if response.status_code != 200:
            raise ConnectionCheckFailed(f"Mailgun answered {response.status_code}")
        body = json_or_none(response)
        domain = body.get("domain") if isinstance(body, dict) else None
        state = domain.get("state") if isinstance(domain, dict) else None
        if state and state != "active":
            raise ConnectionCheckFailed(f"the domain {self.domain} is {state} in Mailgun")

    def close(self) -> None:
        self.session.close()

    # --- webhooks --------------------------------------------------------------------------

    def verify_signature(self, payload: dict[str, Any], request: WebhookRequest) -> None:
        key = str(self.config.credentials.get("webhook_signing_key") or "")
        if not key:
            raise WebhookRejected("no webhook signing key is configured")
        signature = payload.get("signature")
        if not isinstance(signature, dict):
            raise WebhookRejected("the request is not signed")
        timestamp = str(signature.get("timestamp", ""))
        token = str(signature.get("token", ""))
        given = str(signature.get("signature", ""))
        if not (timestamp and token and given):
            raise WebhookRejected("the request is not signed")
        check_timestamp(timestamp, request.received_at)
        expected = hmac.new(
            key.encode("utf-8"), (timestamp + token).encode("utf-8"), hashlib.sha256
        ).hexdigest()
        if not hmac.compare_digest(expected, given.lower()):
            raise WebhookRejected("the signature does not match")

    def receive_webhook(self, request: WebhookRequest) -> list[BounceReport]:
        payload = parse_json(request.body)
        if not isinstance(payload, dict):
            raise WebhookRejected("expected a JSON object", status=400)
        self.verify_signature(payload, request)
        event = payload.get("event-data")
        if not isinstance(event, dict) or not event.get("recipient"):
            return []
        name = event.get("event")
        if name == "failed":
            kind, permanent = BounceKind.BOUNCE, event.get("severity") == "permanent"
        elif name == "complained":
            kind, permanent = BounceKind.COMPLAINT, True
        else:
            return []
        status = event.get("delivery-status")
        status = status if isinstance(status, dict) else {}
        reason = status.get("description") or status.get("message") or event.get("reason") or ""
        return [
            BounceReport(
                email=str(event["recipient"]),
                kind=kind,
                permanent=permanent,
                provider=self.name,
                provider_event_id=str(event.get("id") or ""),
                occurred_at=timestamp_to_datetime(event.get("timestamp"), request.received_at),
                reason=str(reason),
                # The event only: the signature block is not worth keeping.
                raw=event,
            )
        ]
