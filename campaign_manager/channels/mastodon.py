"""Mastodon: statuses with an Idempotency-Key, media through /api/v2/media.

API reference: https://docs.joinmastodon.org/methods/statuses/#create,
https://docs.joinmastodon.org/methods/media/, https://docs.joinmastodon.org/methods/instance/#v2
and https://docs.joinmastodon.org/api/rate-limits/.

- The status is posted with `Idempotency-Key: <delivery key>`; the server keeps keys for an
  hour and answers a repeat with the status it already created, so a retry cannot post twice.
- Media are uploaded first (`POST /api/v2/media`, alt text as `description`). A 202 means
  the server is still processing the file: `GET /api/v1/media/:id` answers 206 until it is
  ready, then 200. We poll a bounded number of times, then retry the delivery later.
- The character limit and media limits come from the instance (`GET /api/v2/instance`),
  read once per adapter and used by `validate`.
- X-RateLimit-Remaining/Reset (Reset is an ISO 8601 time) are honoured on 429, and a
  spent budget seen on a success makes the next send wait without calling the server.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import urlsplit

import requests

from campaign_manager.channels.base import (
    ChannelKind,
    ConnectionCheckFailed,
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
    HttpAdapter,
    StopSending,
    connection_check_failed,
    json_or_none,
    outcome_for_status,
    rate_limited,
)
from campaign_manager.channels.social import (
    MediaRules,
    empty_post_problem,
    media_problems,
    post_text,
)
from creatives.social_rules import DEFAULT_LIMITS, Network, length_problem

RESET_HEADER = "X-RateLimit-Reset"
REMAINING_HEADER = "X-RateLimit-Remaining"


@dataclass(frozen=True)
class InstanceLimits:
    """An instance's configuration; the defaults are Mastodon's own."""

    max_characters: int = DEFAULT_LIMITS[Network.MASTODON]
    max_media_attachments: int = 4
    supported_mime_types: frozenset[str] = field(
        default_factory=lambda: frozenset(
            {"image/jpeg", "image/png", "image/gif", "image/webp", "video/mp4", "video/webm"}
        )
    )
    image_size_limit: int = 16 * 1024 * 1024
    video_size_limit: int = 99 * 1024 * 1024
    description_limit: int = 1500
    # False when the instance could not be asked and these are the defaults.
    from_instance: bool = False

    @classmethod
    def from_configuration(cls, configuration: dict[str, Any]) -> InstanceLimits:
        statuses = configuration.get("statuses") or {}
        media = configuration.get("media_attachments") or {}
        defaults = cls()

        def number(section: dict[str, Any], key: str, default: int) -> int:
            value = section.get(key)
            return value if isinstance(value, int) and value > 0 else default

        mime_types = media.get("supported_mime_types")
        return cls(
            max_characters=number(statuses, "max_characters", defaults.max_characters),
            max_media_attachments=number(
                statuses, "max_media_attachments", defaults.max_media_attachments
            ),
            supported_mime_types=frozenset(mime_types)
            if isinstance(mime_types, list) and mime_types
            else defaults.supported_mime_types,
            image_size_limit=number(media, "image_size_limit", defaults.image_size_limit),
            video_size_limit=number(media, "video_size_limit", defaults.video_size_limit),
            description_limit=number(media, "description_limit", defaults.description_limit),
            from_instance=True,
        )


class MastodonAdapter(HttpAdapter):
    name: ClassVar[str] = "mastodon"
    kind: ClassVar[ChannelKind] = ChannelKind.SOCIAL
    display_name: ClassVar[str] = "Mastodon"
    fields: ClassVar[tuple[SettingField, ...]] = (
        SettingField(
            "instance_url",
            "Instance address",
            help="The https address of the server the account lives on, e.g. "
            "https://mastodon.social.",
        ),
        SettingField(
            "visibility",
            "Visibility",
            input_type="choice",
            choices=("public", "unlisted", "private"),
            default="public",
            required=False,
        ),
        SettingField(
            "language",
            "Language",
            required=False,
            help="ISO 639-1 code of the posts, e.g. en. Leave empty to let the server guess.",
        ),
        SettingField(
            "access_token",
            "Access token",
            secret=True,
            input_type="password",
            help="From Preferences → Development → New application, with the "
            "write:statuses and write:media scopes (and read:accounts for the connection test).",
        ),
    )
    # The Idempotency-Key makes a repeated POST return the first status (for an hour).
    idempotent: ClassVar[bool] = True

    # Polling for media still being processed: bounded, so a stuck file delays the delivery
    # instead of holding the worker.
    media_poll_attempts: int = 10
    media_poll_interval_seconds: float = 2.0

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self._limits: InstanceLimits | None = None

    # --- helpers -----------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return self.setting("instance_url").rstrip("/")

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.credentials.get('access_token', '')}"}

    def _error(self, response: requests.Response, action: str) -> SendResult:
        body = json_or_none(response)
        detail = body.get("error") if isinstance(body, dict) else None
        reason = f"Mastodon refused to {action}: HTTP {response.status_code}"
        if detail:
            reason += f" ({self.reason(str(detail))})"
        if response.status_code == 429:
            return rate_limited(response, reason, reset_header=RESET_HEADER)
        if response.status_code == 401:
            return Failed(reason + "; reconnect the account", needs_reconnect=True)
        return outcome_for_status(response, reason)

    def instance_limits(self) -> InstanceLimits:
        """The instance's limits, asked once; Mastodon's defaults if it cannot be asked."""
        if self._limits is None:
            try:
                response = self.request("GET", f"{self.base_url}/api/v2/instance")
            except StopSending:
                return InstanceLimits()
            body = json_or_none(response)
            if response.status_code == 200 and isinstance(body, dict):
                self._limits = InstanceLimits.from_configuration(body.get("configuration") or {})
            else:
                return InstanceLimits()
        return self._limits

    # --- protocol ------------------------------------------------------------------------

    def validate(self, message: RenderedMessage) -> list[Problem]:
        problems = _instance_url_problems(self.base_url)
        if problems:
            return problems
        problems = empty_post_problem(message)
        limits = self.instance_limits()
        too_long = length_problem(Network.MASTODON, post_text(message), limits.max_characters)
        if too_long:
            problems.append(Problem("text", too_long))
        problems.extend(
            media_problems(
                message,
                MediaRules(
                    network="This Mastodon server",
                    max_count=limits.max_media_attachments,
                    mime_types=limits.supported_mime_types,
                    max_image_bytes=limits.image_size_limit,
                    max_video_bytes=limits.video_size_limit,
                    max_alt_text=limits.description_limit,
                ),
            )
        )
        return problems

    def send(self, message: RenderedMessage, *, idempotency_key: str) -> SendResult:
        held = self.rate_limit_hold()
        if held:
            return held
        try:
            media_ids = [self._upload(item) for item in message.media]
            return self._post_status(message, media_ids, idempotency_key)
        except StopSending as stop:
            return stop.outcome

    def check_connection(self) -> None:
        problems = _instance_url_problems(self.base_url)
        if problems:
            raise ConnectionCheckFailed(problems[0].message)
        try:
            response = self.request(
                "GET", f"{self.base_url}/api/v1/accounts/verify_credentials", headers=self._auth()
            )
        except StopSending as stop:
            raise connection_check_failed(stop.outcome) from None
        body = json_or_none(response)
        if response.status_code != 200 or not isinstance(body, dict):
            raise connection_check_failed(self._error(response, "confirm the account"))
        self._limits = None
        self.instance_limits()

    # --- steps ------------------------------------------------------------------------------

    def _upload(self, item: MediaItem) -> str:
        response = self.request(
            "POST",
            f"{self.base_url}/api/v2/media",
            headers=self._auth(),
            files={"file": (item.filename, item.data, item.content_type)},
            data={"description": item.alt_text} if item.alt_text else None,
        )
        body = json_or_none(response)
        if response.status_code not in (200, 202):
            raise StopSending(self._error(response, f"accept {item.filename}"))
        if not isinstance(body, dict) or not body.get("id"):
            raise StopSending(
                RetryLater(DEFAULT_RETRY_SECONDS, "Mastodon sent an unreadable media answer")
            )
        media_id = str(body["id"])
        if response.status_code == 202:
            self._wait_until_processed(media_id, item.filename)
        return media_id

    def _wait_until_processed(self, media_id: str, filename: str) -> None:
        for _attempt in range(self.media_poll_attempts):
            time.sleep(self.media_poll_interval_seconds)
            response = self.request(
                "GET", f"{self.base_url}/api/v1/media/{media_id}", headers=self._auth()
            )
            if response.status_code == 200:
                return
            if response.status_code != 206:
                raise StopSending(self._error(response, f"process {filename}"))
        raise StopSending(
            RetryLater(
                DEFAULT_RETRY_SECONDS, f"Mastodon is still processing {filename}; trying later"
            )
        )

    def _post_status(
        self, message: RenderedMessage, media_ids: list[str], idempotency_key: str
    ) -> SendResult:
        form: list[tuple[str, str]] = [("status", post_text(message))]
        form += [("media_ids[]", media_id) for media_id in media_ids]
        form.append(("visibility", self.setting("visibility", "public")))
        if self.setting("language"):
            form.append(("language", self.setting("language")))
        response = self.request(
            "POST",
            f"{self.base_url}/api/v1/statuses",
            headers={**self._auth(), "Idempotency-Key": idempotency_key},
            data=form,
            publishes=True,
        )
        if response.status_code != 200:
            return self._error(response, "publish the post")
        self.note_rate_limit(response, (REMAINING_HEADER, RESET_HEADER))
        body = json_or_none(response)
        if not isinstance(body, dict) or not body.get("id"):
            # The status probably exists; the Idempotency-Key makes the retry find it.
            return RetryLater(
                DEFAULT_RETRY_SECONDS,
                "Mastodon accepted the post but its answer was unreadable",
                maybe_delivered=True,
            )
        return Sent(str(body["id"]))


def _instance_url_problems(url: str) -> list[Problem]:
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.netloc:
        return [
            Problem(
                "instance_url",
                "The instance address must start with https://, e.g. https://mastodon.social.",
            )
        ]
    return []
