"""WordPress: web creatives published as posts through the REST API.

API reference: https://developer.wordpress.org/rest-api/reference/posts/#create-a-post,
https://developer.wordpress.org/rest-api/reference/media/#create-a-media-item,
https://developer.wordpress.org/rest-api/using-the-rest-api/authentication/ (application
passwords) and https://developer.wordpress.org/rest-api/using-the-rest-api/global-parameters/.

- Authentication is HTTP Basic with the user's application password (WordPress 5.6+),
  which WordPress accepts over HTTPS only.
- A message with `publish_at` in the future becomes `status=future` with `date_gmt`;
  without one the post is published at once (or saved as a draft, per the account).
- The first image is uploaded as raw bytes to `POST /wp/v2/media` (file name in
  Content-Disposition), given its alt text, and set as the post's `featured_media`.
- WordPress errors are {"code", "message", "data": {"status"}}; the code is kept in the
  reason so a person can look it up.
"""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import quote, urlsplit

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
    HttpAdapter,
    StopSending,
    connection_check_failed,
    json_or_none,
    outcome_for_status,
    rate_limited,
)
from campaign_manager.channels.social import MediaRules, media_problems

IMAGE_RULES = MediaRules(
    network="WordPress (featured image)",
    max_count=1,
    mime_types=("image/jpeg", "image/png", "image/gif", "image/webp"),
    max_image_bytes=0,
)
# Error codes meaning the user or its application password cannot do this any more.
RECONNECT_CODES = ("incorrect_password", "invalid_username", "rest_cannot", "rest_forbidden")


def content_disposition(filename: str) -> str:
    """`attachment` with an ASCII file name, plus the UTF-8 one (RFC 6266) when they differ."""
    # é becomes e (decomposed, accent dropped) rather than disappearing.
    decomposed = unicodedata.normalize("NFKD", filename)
    ascii_name = decomposed.encode("ascii", "ignore").decode().replace('"', "").replace("\\", "")
    ascii_name = ascii_name.strip() or "upload"
    header = f'attachment; filename="{ascii_name}"'
    if ascii_name != filename:
        header += f"; filename*=UTF-8''{quote(filename)}"
    return header


class WordPressAdapter(HttpAdapter):
    name: ClassVar[str] = "wordpress"
    kind: ClassVar[ChannelKind] = ChannelKind.WEB
    display_name: ClassVar[str] = "WordPress"
    fields: ClassVar[tuple[SettingField, ...]] = (
        SettingField("site_url", "Site address", help="e.g. https://blog.example.org"),
        SettingField("username", "User name", help="A user allowed to publish posts."),
        SettingField(
            "status",
            "New posts are",
            input_type="choice",
            choices=("publish", "draft", "pending"),
            default="publish",
            required=False,
            help="publish: live at the message's time; draft or pending: an editor publishes.",
        ),
        SettingField(
            "application_password",
            "Application password",
            secret=True,
            input_type="password",
            help="Users → Profile → Application Passwords in WordPress (not the login password).",
        ),
    )
    # The posts endpoint has no idempotency key: a repeated call creates a second post.
    idempotent: ClassVar[bool] = False

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self.session.auth = (
            self.setting("username"),
            self.credentials.get("application_password", ""),
        )

    def _api(self, path: str) -> str:
        return f"{self.setting('site_url').rstrip('/')}/wp-json/wp/v2/{path}"

    def _failure(self, response: requests.Response, action: str) -> SendResult:
        body = json_or_none(response)
        code = message = ""
        if isinstance(body, dict):
            code = str(body.get("code") or "")
            message = str(body.get("message") or "")
        reason = f"WordPress refused to {action}: HTTP {response.status_code}"
        detail = ": ".join(part for part in (code, self.reason(message)) if part)
        if detail:
            reason += f" ({detail})"
        if response.status_code == 429:
            return rate_limited(response, reason)
        if response.status_code == 401 or code.startswith(RECONNECT_CODES):
            return Failed(reason + "; reconnect the account", needs_reconnect=True)
        return outcome_for_status(response, reason)

    # --- protocol ------------------------------------------------------------------------

    def validate(self, message: RenderedMessage) -> list[Problem]:
        problems: list[Problem] = []
        site = urlsplit(self.setting("site_url"))
        if site.scheme != "https" or not site.netloc:
            problems.append(
                Problem(
                    "site_url",
                    "The site address must start with https:// (WordPress only accepts "
                    "application passwords over HTTPS).",
                )
            )
        if not message.title.strip():
            problems.append(Problem("title", "A WordPress post needs a title."))
        if not (message.html.strip() or message.text.strip()):
            problems.append(Problem("html", "The post has no content."))
        if message.publish_at is not None and message.publish_at.tzinfo is None:
            problems.append(Problem("publish_at", "The publication time must carry its time zone."))
        problems.extend(media_problems(message, IMAGE_RULES))
        return problems

    def send(self, message: RenderedMessage, *, idempotency_key: str) -> SendResult:
        try:
            body = self._post_body(message)
            if message.media:
                body["featured_media"] = self._upload(message.media[0])
            response = self.request("POST", self._api("posts"), json=body, publishes=True)
        except StopSending as stop:
            return stop.outcome
        if response.status_code != 201:
            return self._failure(response, "create the post")
        post = json_or_none(response)
        if not isinstance(post, dict) or not post.get("id"):
            return RetryLater(
                DEFAULT_RETRY_SECONDS,
                "WordPress created the post but its answer was unreadable",
                maybe_delivered=True,
            )
        return Sent(str(post["id"]))

    def check_connection(self) -> None:
        try:
            response = self.request("GET", self._api("users/me"), params={"context": "edit"})
        except StopSending as stop:
            raise connection_check_failed(stop.outcome) from None
        user = json_or_none(response)
        if response.status_code != 200 or not isinstance(user, dict):
            raise connection_check_failed(self._failure(response, "sign in"))
        capabilities = user.get("capabilities")
        if isinstance(capabilities, dict) and not capabilities.get("publish_posts"):
            raise connection_check_failed(
                Failed(
                    f"the WordPress user {user.get('slug') or ''} may not publish posts; "
                    "use an Author, Editor or Administrator",
                    needs_reconnect=True,
                )
            )

    # --- steps ---------------------------------------------------------------------------

    def _post_body(self, message: RenderedMessage) -> dict[str, Any]:
        body: dict[str, Any] = {
            "title": message.title,
            "content": message.html or message.text,
            "status": self.setting("status", "publish"),
        }
        if message.text and message.html:
            body["excerpt"] = message.text
        if message.slug:
            body["slug"] = message.slug
        when = message.publish_at
        if when is not None and when.tzinfo is None:
            raise StopSending(Failed("the publication time carries no time zone"))
        if when is not None and when > datetime.now(UTC):
            # WordPress publishes a "future" post itself at date_gmt (UTC, no offset). A
            # time already past is left out: a late delivery is published now, not backdated.
            body["date_gmt"] = (
                when.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="seconds")
            )
            if body["status"] == "publish":
                body["status"] = "future"
        return body

    def _upload(self, item: MediaItem) -> int:
        response = self.request(
            "POST",
            self._api("media"),
            data=item.data,
            headers={
                "Content-Type": item.content_type,
                "Content-Disposition": content_disposition(item.filename),
            },
        )
        media = json_or_none(response)
        if response.status_code != 201:
            raise StopSending(self._failure(response, f"accept {item.filename}"))
        if not isinstance(media, dict) or not isinstance(media.get("id"), int):
            raise StopSending(
                RetryLater(DEFAULT_RETRY_SECONDS, "WordPress sent an unreadable media answer")
            )
        media_id = int(media["id"])
        if item.alt_text:
            described = self.request(
                "POST", self._api(f"media/{media_id}"), json={"alt_text": item.alt_text}
            )
            if described.status_code != 200:
                raise StopSending(self._failure(described, f"take the alt text of {item.filename}"))
        return media_id
