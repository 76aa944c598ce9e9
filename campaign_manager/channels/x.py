"""X: posts through API v2 with an OAuth 2.0 user-context token.

API reference: https://docs.x.com/x-api/posts/create-post,
https://docs.x.com/x-api/media/upload-media (one-request image upload),
https://docs.x.com/x-api/media/create-media-metadata (alt text),
https://docs.x.com/fundamentals/authentication/oauth-2-0/authorization-code (refresh) and
https://docs.x.com/x-api/fundamentals/rate-limits.

- `POST /2/tweets` with {"text", "media": {"media_ids"}}; X answers 201 {"data": {"id"}}.
- Images are uploaded with `POST /2/media/upload` (media_category tweet_image) and given
  their alt text with `POST /2/media/metadata` before the post.
- Access tokens live two hours; the refresh token (scope offline.access) gets a new one
  at `POST /2/oauth2/token`, and X rotates the refresh token each time, so the new one is
  stored at once.
- A 403 for duplicate content is permanent: the same text will be refused again.
- 429 waits for x-rate-limit-reset, or the 24-hour user/app reset when that budget is out.
"""

from __future__ import annotations

from typing import Any, ClassVar

import requests

from campaign_manager.channels.base import (
    ChannelKind,
    Failed,
    MediaItem,
    Problem,
    RenderedMessage,
    RetryLater,
    SendResult,
    Sent,
    SettingField,
)
from campaign_manager.channels.http import (
    DEFAULT_RETRY_SECONDS,
    OAuth2Adapter,
    StopSending,
    connection_check_failed,
    json_or_none,
    outcome_for_status,
    parse_retry_after,
    rate_limit_wait,
    seconds_until_epoch,
)
from campaign_manager.channels.social import (
    MediaRules,
    empty_post_problem,
    media_problems,
    post_text,
)
from creatives.social_rules import Network, length_problem

API = "https://api.x.com"
TOKEN_URL = f"{API}/2/oauth2/token"
IMAGE_RULES = MediaRules(
    network="X",
    max_count=4,
    mime_types=("image/jpeg", "image/png", "image/webp", "image/gif"),
    max_image_bytes=5 * 1024 * 1024,
    max_alt_text=1000,
)
# Each budget X reports: (remaining header, reset header).
RATE_LIMIT_HEADERS = (
    ("x-rate-limit-remaining", "x-rate-limit-reset"),
    ("x-user-limit-24hour-remaining", "x-user-limit-24hour-reset"),
    ("x-app-limit-24hour-remaining", "x-app-limit-24hour-reset"),
)


def _rate_limit_wait(response: requests.Response) -> float:
    """How long a 429 asks us to wait: Retry-After, else the latest spent budget's reset."""
    wait = parse_retry_after(response.headers.get("Retry-After"))
    if wait is not None:
        return wait
    spent = [
        rate_limit_wait(response, remaining_header=remaining, reset_header=reset)
        for remaining, reset in RATE_LIMIT_HEADERS
    ]
    known = [seconds for seconds in spent if seconds is not None]
    if known:
        return max(known)
    reset = seconds_until_epoch(response.headers.get("x-rate-limit-reset"))
    return reset if reset is not None else DEFAULT_RETRY_SECONDS


class XAdapter(OAuth2Adapter):
    name: ClassVar[str] = "x"
    kind: ClassVar[ChannelKind] = ChannelKind.SOCIAL
    display_name: ClassVar[str] = "X"
    fields: ClassVar[tuple[SettingField, ...]] = (
        SettingField("client_id", "OAuth 2.0 client ID", help="From the X developer portal."),
        SettingField(
            "client_secret",
            "OAuth 2.0 client secret",
            secret=True,
            input_type="password",
            required=False,
            help="Only for confidential clients (web apps); public clients have none.",
        ),
        SettingField(
            "access_token",
            "Access token",
            secret=True,
            input_type="password",
            help="User-context token with tweet.write, tweet.read, users.read, media.write "
            "and offline.access.",
        ),
        SettingField("refresh_token", "Refresh token", secret=True, input_type="password"),
    )
    # POST /2/tweets takes no idempotency key.
    idempotent: ClassVar[bool] = False
    token_url: ClassVar[str] = TOKEN_URL
    # Confidential clients authenticate with HTTP Basic at the token endpoint.
    client_auth_in_body: ClassVar[bool] = False

    def _failure(self, response: requests.Response, action: str) -> SendResult:
        body = json_or_none(response)
        detail = ""
        if isinstance(body, dict):
            detail = str(body.get("detail") or body.get("title") or "")
            errors = body.get("errors")
            if isinstance(errors, list) and errors and isinstance(errors[0], dict):
                detail = str(errors[0].get("message") or detail)
        reason = f"X refused to {action}: HTTP {response.status_code}"
        if detail:
            reason += f" ({self.reason(detail)})"
        if response.status_code == 429:
            return RetryLater(_rate_limit_wait(response), reason)
        if response.status_code == 401:
            return Failed(reason + "; reconnect the account", needs_reconnect=True)
        if response.status_code == 403 and "duplicate" in detail.lower():
            # Not a retry: X refuses the same text from the same account again.
            return Failed(reason + "; change the text before posting it again")
        return outcome_for_status(response, reason)

    # --- protocol ------------------------------------------------------------------------

    def validate(self, message: RenderedMessage) -> list[Problem]:
        problems = empty_post_problem(message)
        too_long = length_problem(Network.X, post_text(message))
        if too_long:
            problems.append(Problem("text", too_long))
        problems.extend(media_problems(message, IMAGE_RULES))
        return problems

    def send(self, message: RenderedMessage, *, idempotency_key: str) -> SendResult:
        held = self.rate_limit_hold()
        if held:
            return held
        try:
            media_ids = [self._upload(item) for item in message.media]
            body: dict[str, Any] = {"text": post_text(message)}
            if media_ids:
                body["media"] = {"media_ids": media_ids}
            response = self.authorized("POST", f"{API}/2/tweets", json=body, publishes=True)
        except StopSending as stop:
            return stop.outcome
        if response.status_code != 201:
            return self._failure(response, "publish the post")
        self.note_rate_limit(response, *RATE_LIMIT_HEADERS)
        answer = json_or_none(response)
        data = answer.get("data") if isinstance(answer, dict) else None
        if not isinstance(data, dict) or not data.get("id"):
            return RetryLater(
                DEFAULT_RETRY_SECONDS,
                "X accepted the post but its answer was unreadable",
                maybe_delivered=True,
            )
        return Sent(str(data["id"]))

    def check_connection(self) -> None:
        try:
            response = self.authorized("GET", f"{API}/2/users/me")
        except StopSending as stop:
            raise connection_check_failed(stop.outcome) from None
        if response.status_code != 200:
            raise connection_check_failed(self._failure(response, "show the account"))

    # --- media ---------------------------------------------------------------------------

    def _upload(self, item: MediaItem) -> str:
        response = self.authorized(
            "POST",
            f"{API}/2/media/upload",
            files={"media": (item.filename, item.data, item.content_type)},
            data={"media_category": "tweet_image"},
        )
        if response.status_code not in (200, 201):
            raise StopSending(self._failure(response, f"accept {item.filename}"))
        answer = json_or_none(response)
        data = answer.get("data") if isinstance(answer, dict) else None
        if not isinstance(data, dict) or not data.get("id"):
            raise StopSending(
                RetryLater(DEFAULT_RETRY_SECONDS, "X sent an unreadable media answer")
            )
        processing = data.get("processing_info") or {}
        if processing.get("state") == "failed":
            raise StopSending(Failed(f"X could not process {item.filename}"))
        if processing.get("state") in ("pending", "in_progress"):
            wait = processing.get("check_after_secs") or DEFAULT_RETRY_SECONDS
            raise StopSending(RetryLater(float(wait), f"X is still processing {item.filename}"))
        media_id = str(data["id"])
        if item.alt_text:
            described = self.authorized(
                "POST",
                f"{API}/2/media/metadata",
                json={"id": media_id, "metadata": {"alt_text": {"text": item.alt_text}}},
            )
            if described.status_code not in (200, 201):
                raise StopSending(self._failure(described, f"take the alt text of {item.filename}"))
        return media_id
