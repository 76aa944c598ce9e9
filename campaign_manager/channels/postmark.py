"""Postmark: POST /email and /email/batch, and the bounce and spam-complaint webhooks.

Every answer carries an ErrorCode: 0 is success, anything else is an API error code, and a
batch answers 200 with one {ErrorCode, Message, MessageID, To} per message, so success and
failure mix inside one 200. Postmark does not sign webhooks: the account's secret webhook
URL (checked before this adapter is called) is what authenticates them.
"""

from __future__ import annotations

from collections.abc import Sequence
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
    DEFAULT_RETRY_SECONDS,
    error_snippet,
    json_or_none,
    new_session,
    outcome_for_status,
    outcome_for_transport_error,
    requested_wait,
)
from campaign_manager.channels.webhooks import parse_json, timestamp_to_datetime

BASE_URL = "https://api.postmarkapp.com"
MAX_BATCH = 500  # Postmark's limit of messages per batch call
IDEMPOTENCY_METADATA = "cm_idempotency_key"

# Postmark API error codes (https://postmarkapp.com/developer/api/overview#error-codes).
BAD_TOKEN = 10
MAINTENANCE = 100
INACTIVE_RECIPIENT = 406
RATE_LIMITED = 429
# The account, not the message, is at fault: sender signature missing or unconfirmed,
# no credits left, account pending or not allowed to send. A person must act; retrying the
# message later is right once they have.
ACCOUNT_PROBLEMS = {400, 401, 405, 412, 413}
ACCOUNT_RETRY_SECONDS = 3600.0
# Postmark deactivates an address after these; Inactive in the payload says so too.
PERMANENT_BOUNCE_TYPES = {"HardBounce", "BadEmailAddress", "ManuallyDeactivated"}


class PostmarkAdapter:
    name: ClassVar[str] = "postmark"
    kind: ClassVar[ChannelKind] = ChannelKind.EMAIL
    display_name: ClassVar[str] = "Postmark"
    idempotent: ClassVar[bool] = False
    fields: ClassVar[tuple[SettingField, ...]] = (
        SettingField("server_token", "Server API token", secret=True, input_type="password",
                     help="The server's API Tokens tab in Postmark."),
        SettingField("message_stream", "Message stream", default="broadcast", required=False,
                     help="'broadcast' for campaigns, 'outbound' for transactional mail."),
    )  # fmt: skip

    def __init__(self, config: AdapterConfig) -> None:
        self.config = config
        self.session = new_session({"Accept": "application/json"})

    def _auth(self) -> dict[str, str]:
        return {"X-Postmark-Server-Token": str(self.config.credentials.get("server_token", ""))}

    # --- sending ---------------------------------------------------------------------------

    def validate(self, message: RenderedMessage) -> list[Problem]:
        return validate_email_message(message)

    def request_body(self, message: RenderedMessage, idempotency_key: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "From": format_address(message.from_address, message.from_name),
            "To": format_address(message.to, message.to_name),
            "Subject": message.subject,
            "Headers": [{"Name": n, "Value": v} for n, v in email_headers(message).items()],
            "MessageStream": str(self.config.settings.get("message_stream") or "broadcast"),
            "Metadata": {IDEMPOTENCY_METADATA: idempotency_key, **dict(message.tags)},
        }
        if message.text.strip():
            body["TextBody"] = message.text
        if message.html.strip():
            body["HtmlBody"] = message.html
        if message.reply_to:
            body["ReplyTo"] = message.reply_to
        if message.tags:
            body["Tag"] = str(next(iter(message.tags.values())))[:1000]
        return body

    def send(self, message: RenderedMessage, *, idempotency_key: str) -> SendResult:
        try:
            response = self.session.post(
                f"{BASE_URL}/email",
                json=self.request_body(message, idempotency_key),
                headers=self._auth(),
                timeout=self.config.timeout_seconds,
            )
        except requests.RequestException as exc:
            return outcome_for_transport_error(exc)
        if response.status_code == 200:
            body = json_or_none(response)
            if not isinstance(body, dict):
                return RetryLater(
                    DEFAULT_RETRY_SECONDS,
                    "Postmark answered 200 with a body that is not JSON",
                    maybe_delivered=True,
                )
            return self.outcome_for_answer(body)
        return self.outcome_for_error_status(response)

    def send_batch(
        self, messages: Sequence[RenderedMessage], idempotency_keys: Sequence[str]
    ) -> list[SendResult]:
        """One outcome per message, in order, from as few calls as Postmark allows."""
        if len(messages) != len(idempotency_keys):
            raise ValueError("one idempotency key per message")
        results: list[SendResult] = []
        for start in range(0, len(messages), MAX_BATCH):
            chunk = list(zip(messages, idempotency_keys, strict=True))[start : start + MAX_BATCH]
            results += self._send_chunk(chunk)
        return results

    def _send_chunk(self, chunk: list[tuple[RenderedMessage, str]]) -> list[SendResult]:
        try:
            response = self.session.post(
                f"{BASE_URL}/email/batch",
                json=[self.request_body(message, key) for message, key in chunk],
                headers=self._auth(),
                timeout=self.config.timeout_seconds,
            )
        except requests.RequestException as exc:
            return [outcome_for_transport_error(exc)] * len(chunk)
        if response.status_code != 200:
            return [self.outcome_for_error_status(response)] * len(chunk)
        answers = json_or_none(response)
        if not isinstance(answers, list) or len(answers) != len(chunk):
            # Accepted, but we cannot tell which message fared how.
            return [
                RetryLater(
                    DEFAULT_RETRY_SECONDS,
                    "Postmark's batch answer is unreadable or does not match the batch",
                    maybe_delivered=True,
                )
            ] * len(chunk)
        return [
            self.outcome_for_answer(a) if isinstance(a, dict) else Failed("unreadable answer")
            for a in answers
        ]

    def outcome_for_answer(self, answer: dict[str, Any]) -> SendResult:
        """The outcome of one {ErrorCode, Message, MessageID} answer."""
        code = answer.get("ErrorCode")
        text = str(answer.get("Message") or "")
        if code == 0 and answer.get("MessageID"):
            return Sent(str(answer["MessageID"]))
        reason = f"Postmark error {code}: {text}" if code is not None else "Postmark: no ErrorCode"
        if code == 0:
            return RetryLater(DEFAULT_RETRY_SECONDS, "Postmark's answer has no MessageID", True)
        if code == BAD_TOKEN:
            return Failed(reason, permanent=True, needs_reconnect=True)
        if code in (MAINTENANCE, RATE_LIMITED):
            return RetryLater(DEFAULT_RETRY_SECONDS, reason)
        if code in ACCOUNT_PROBLEMS:
            return RetryLater(ACCOUNT_RETRY_SECONDS, reason)
        # 300 invalid request, 406 inactive recipient, 411 forbidden attachment, ...
        return Failed(reason, permanent=True)

    def outcome_for_error_status(self, response: requests.Response) -> SendResult:
        body = json_or_none(response)
        if isinstance(body, dict) and "ErrorCode" in body:
            if response.status_code == 429:
                return RetryLater(
                    requested_wait(response), f"Postmark error 429: {body.get('Message', '')}"
                )
            if response.status_code >= 500:
                return outcome_for_status(response, f"Postmark answered {response.status_code}")
            return self.outcome_for_answer(body)
        reason = f"Postmark answered {response.status_code}: (not JSON) {error_snippet(response)}"
        return outcome_for_status(response, reason.strip())

    # --- account check ---------------------------------------------------------------------

    def check_connection(self) -> None:
        try:
            response = self.session.get(
                f"{BASE_URL}/server", headers=self._auth(), timeout=self.config.timeout_seconds
            )
        except requests.RequestException as exc:
            raise ConnectionCheckFailed(f"cannot reach Postmark: {type(exc).__name__}") from None
        if response.status_code == 401:
            raise ConnectionCheckFailed("Postmark refused the server token", needs_reconnect=True)
        if response.status_code != 200:
            raise ConnectionCheckFailed(f"Postmark answered {response.status_code}")
        body = json_or_none(response)
        if not isinstance(body, dict) or "ID" not in body:
            raise ConnectionCheckFailed("Postmark's answer about the server is unreadable")

    def close(self) -> None:
        self.session.close()

    # --- webhooks --------------------------------------------------------------------------

    def receive_webhook(self, request: WebhookRequest) -> list[BounceReport]:
        payload = parse_json(request.body)
        if not isinstance(payload, dict):
            raise WebhookRejected("expected a JSON object", status=400)
        record_type = payload.get("RecordType")
        email = payload.get("Email")
        if record_type not in ("Bounce", "SpamComplaint") or not email:
            return []
        if record_type == "SpamComplaint":
            kind, permanent = BounceKind.COMPLAINT, True
        else:
            kind = BounceKind.BOUNCE
            permanent = bool(payload.get("Inactive")) or payload.get("Type") in (
                PERMANENT_BOUNCE_TYPES
            )
        # The full bounce dump can quote the original message, unsubscribe link included.
        raw = {key: value for key, value in payload.items() if key != "Content"}
        return [
            BounceReport(
                email=str(email),
                kind=kind,
                permanent=permanent,
                provider=self.name,
                provider_event_id=f"{record_type}:{payload.get('ID', '')}",
                occurred_at=timestamp_to_datetime(payload.get("BouncedAt"), request.received_at),
                reason=str(payload.get("Description") or payload.get("Details") or ""),
                raw=raw,
            )
        ]
