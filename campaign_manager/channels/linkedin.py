"""LinkedIn: organic posts through the versioned Posts API, images through the Images API.

API reference (learn.microsoft.com/linkedin): community-management/shares/posts-api,
community-management/shares/images-api, shared/authentication/programmatic-refresh-tokens,
shared/authentication/token-introspection and shared/api-guide/concepts/rate-limits.

- Every call carries `LinkedIn-Version: YYYYMM` (an account setting, since LinkedIn retires
  versions after about a year) and `X-Restli-Protocol-Version: 2.0.0`.
- A post is `POST /rest/posts`; LinkedIn answers 201 with an empty body and the post URN
  in the `x-restli-id` header.
- `commentary` is LinkedIn's "little text": its reserved characters are escaped (an
  unescaped "(" silently cuts the post there) and hashtags become hashtag templates.
- Images: `POST /rest/images?action=initializeUpload`, `PUT` the bytes to the returned
  upload URL, then wait (bounded) until the image is AVAILABLE; one image is
  `content.media`, several are `content.multiImage`.
- Access tokens are refreshed with the refresh token (apps with programmatic refresh);
  LinkedIn sends no rate-limit headers and resets daily limits at midnight UTC.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import quote

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
)
from campaign_manager.channels.social import (
    MediaRules,
    empty_post_problem,
    media_problems,
    post_text,
)
from creatives.social_rules import Network, length_problem

API = "https://api.linkedin.com"
TOKEN_URL = "https://www.linkedin.com/oauth/v2/accessToken"  # noqa: S105 - an address
INTROSPECT_URL = "https://www.linkedin.com/oauth/v2/introspectToken"
DEFAULT_VERSION = "202601"
AUTHOR_URN = re.compile(r"^urn:li:(person|organization):[A-Za-z0-9_-]+$")
IMAGE_RULES = MediaRules(
    network="LinkedIn",
    max_count=20,
    mime_types=("image/jpeg", "image/png", "image/gif"),
    max_image_bytes=0,
    max_alt_text=4086,
)

# Little text: these characters are markup and must be escaped with a backslash.
_RESERVED = re.compile(r"([\\|{}@\[\]()<>#*_~])")
_HASHTAG = re.compile(r"(?<!\w)#(\w+)")


def little_text(text: str) -> str:
    """Plain text as LinkedIn's `commentary`: reserved characters escaped, #tags linked."""
    parts: list[str] = []
    position = 0
    for match in _HASHTAG.finditer(text):
        parts.append(_RESERVED.sub(r"\\\1", text[position : match.start()]))
        parts.append("{hashtag|\\#|" + match.group(1) + "}")
        position = match.end()
    parts.append(_RESERVED.sub(r"\\\1", text[position:]))
    return "".join(parts)


def _seconds_until_utc_midnight() -> float:
    now = datetime.now(UTC)
    midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return (midnight - now).total_seconds()


class LinkedInAdapter(OAuth2Adapter):
    name: ClassVar[str] = "linkedin"
    kind: ClassVar[ChannelKind] = ChannelKind.SOCIAL
    display_name: ClassVar[str] = "LinkedIn"
    fields: ClassVar[tuple[SettingField, ...]] = (
        SettingField(
            "author_urn",
            "Post as",
            help="urn:li:organization:<id> for a Page (the token's member must be one of its "
            "admins), or urn:li:person:<id> for a member.",
        ),
        SettingField(
            "api_version",
            "LinkedIn-Version",
            default=DEFAULT_VERSION,
            help="The Posts API version, YYYYMM. LinkedIn retires versions after about a year.",
        ),
        SettingField(
            "visibility",
            "Visibility",
            input_type="choice",
            choices=("PUBLIC", "CONNECTIONS"),
            default="PUBLIC",
            required=False,
        ),
        SettingField("client_id", "Client ID", help="From the LinkedIn developer app."),
        SettingField("client_secret", "Client secret", secret=True, input_type="password"),
        SettingField(
            "access_token",
            "Access token",
            secret=True,
            input_type="password",
            help="With w_organization_social (Pages) or w_member_social (members).",
        ),
        SettingField(
            "refresh_token",
            "Refresh token",
            secret=True,
            input_type="password",
            required=False,
            help="Only apps with programmatic refresh tokens get one; without it, reconnect "
            "the account when the access token expires (60 days).",
        ),
    )
    # The Posts API takes no idempotency key.
    idempotent: ClassVar[bool] = False
    token_url: ClassVar[str] = TOKEN_URL
    client_auth_in_body: ClassVar[bool] = True

    image_poll_attempts: int = 10
    image_poll_interval_seconds: float = 2.0

    def _headers(self) -> dict[str, str]:
        return {
            "LinkedIn-Version": self.setting("api_version", DEFAULT_VERSION),
            "X-Restli-Protocol-Version": "2.0.0",
        }

    def _failure(self, response: requests.Response, action: str) -> SendResult:
        body = json_or_none(response)
        message = code = ""
        if isinstance(body, dict):
            message = str(body.get("message") or "")
            code = str(body.get("code") or body.get("serviceErrorCode") or "")
        reason = f"LinkedIn refused to {action}: HTTP {response.status_code}"
        detail = ": ".join(part for part in (code, self.reason(message)) if part)
        if detail:
            reason += f" ({detail})"
        status = response.status_code
        if status == 429:
            wait = parse_retry_after(response.headers.get("Retry-After"))
            if wait is None:
                # Daily application and member limits reset at midnight UTC; other 429s
                # protect LinkedIn's infrastructure and pass quickly.
                daily = "DAY" in message.upper()
                wait = _seconds_until_utc_midnight() if daily else DEFAULT_RETRY_SECONDS
            return RetryLater(wait, reason)
        if status == 401 or (status == 403 and code == "ACCESS_DENIED"):
            return Failed(reason + "; reconnect the account", needs_reconnect=True)
        if status == 426:
            return Failed(reason + "; set a current LinkedIn-Version in the account settings")
        return outcome_for_status(response, reason)

    # --- protocol ------------------------------------------------------------------------

    def validate(self, message: RenderedMessage) -> list[Problem]:
        problems: list[Problem] = []
        if not AUTHOR_URN.match(self.setting("author_urn")):
            problems.append(
                Problem(
                    "author_urn",
                    "Post as must be urn:li:organization:<id> or urn:li:person:<id>.",
                )
            )
        if not re.fullmatch(
            r"20\d{2}(0[1-9]|1[0-2])", self.setting("api_version", DEFAULT_VERSION)
        ):
            problems.append(Problem("api_version", "LinkedIn-Version must be YYYYMM, e.g. 202601."))
        problems.extend(empty_post_problem(message))
        too_long = length_problem(Network.LINKEDIN, self._commentary_text(message))
        if too_long:
            problems.append(Problem("text", too_long))
        problems.extend(media_problems(message, IMAGE_RULES))
        return problems

    def send(self, message: RenderedMessage, *, idempotency_key: str) -> SendResult:
        try:
            body = self._post_body(message)
            response = self.authorized(
                "POST", f"{API}/rest/posts", headers=self._headers(), json=body, publishes=True
            )
        except StopSending as stop:
            return stop.outcome
        if response.status_code != 201:
            return self._failure(response, "publish the post")
        urn = response.headers.get("x-restli-id", "")
        if not urn:
            return RetryLater(
                DEFAULT_RETRY_SECONDS,
                "LinkedIn accepted the post but did not name it (no x-restli-id)",
                maybe_delivered=True,
            )
        return Sent(urn)

    def check_connection(self) -> None:
        """Token introspection: tells an active token from an expired or revoked one."""
        try:
            if self.can_refresh() and not self.credentials.get("access_token"):
                self.refresh_access_token()
            response = self.request(
                "POST",
                INTROSPECT_URL,
                data={
                    "client_id": self.setting("client_id"),
                    "client_secret": self.credentials.get("client_secret", ""),
                    "token": self.credentials.get("access_token", ""),
                },
            )
        except StopSending as stop:
            raise connection_check_failed(stop.outcome) from None
        body = json_or_none(response)
        if response.status_code != 200 or not isinstance(body, dict):
            raise connection_check_failed(self._failure(response, "check the token"))
        if not body.get("active"):
            raise connection_check_failed(
                Failed(
                    f"the LinkedIn access token is {body.get('status') or 'not active'}; "
                    "reconnect the account",
                    needs_reconnect=True,
                )
            )

    # --- the post ------------------------------------------------------------------------

    def _commentary_text(self, message: RenderedMessage) -> str:
        # A link without images becomes an article card, so the text need not repeat it.
        if message.link and not message.media:
            return message.text.strip()
        return post_text(message)

    def _post_body(self, message: RenderedMessage) -> dict[str, Any]:
        author = self.setting("author_urn")
        body: dict[str, Any] = {
            "author": author,
            "commentary": little_text(self._commentary_text(message)),
            "visibility": self.setting("visibility", "PUBLIC"),
            "distribution": {
                "feedDistribution": "MAIN_FEED",
                "targetEntities": [],
                "thirdPartyDistributionChannels": [],
            },
            "lifecycleState": "PUBLISHED",
            "isReshareDisabledByAuthor": False,
        }
        images = [
            {"id": self._upload_image(author, item), "altText": item.alt_text}
            for item in message.media
        ]
        if len(images) == 1:
            body["content"] = {"media": images[0]}
        elif images:
            body["content"] = {"multiImage": {"images": images}}
        elif message.link:
            body["content"] = {
                "article": {"source": message.link, "title": message.title or message.link}
            }
        return body

    def _upload_image(self, owner: str, item: MediaItem) -> str:
        response = self.authorized(
            "POST",
            f"{API}/rest/images?action=initializeUpload",
            headers=self._headers(),
            json={"initializeUploadRequest": {"owner": owner}},
        )
        body = json_or_none(response)
        if response.status_code != 200:
            raise StopSending(self._failure(response, f"start uploading {item.filename}"))
        value = body.get("value") if isinstance(body, dict) else None
        if not isinstance(value, dict) or not value.get("uploadUrl") or not value.get("image"):
            raise StopSending(
                RetryLater(DEFAULT_RETRY_SECONDS, "LinkedIn sent an unreadable upload answer")
            )
        uploaded = self.authorized(
            "PUT",
            str(value["uploadUrl"]),
            headers={"Content-Type": item.content_type},
            data=item.data,
        )
        if uploaded.status_code not in (200, 201):
            raise StopSending(self._failure(uploaded, f"accept {item.filename}"))
        image_urn = str(value["image"])
        self._wait_until_available(image_urn, item.filename)
        return image_urn

    def _wait_until_available(self, image_urn: str, filename: str) -> None:
        url = f"{API}/rest/images/{quote(image_urn, safe='')}"
        for attempt in range(self.image_poll_attempts):
            if attempt:
                time.sleep(self.image_poll_interval_seconds)
            response = self.authorized("GET", url, headers=self._headers())
            body = json_or_none(response)
            if response.status_code != 200 or not isinstance(body, dict):
                raise StopSending(self._failure(response, f"report on {filename}"))
            status = body.get("status")
            if status == "AVAILABLE":
                return
            if status == "PROCESSING_FAILED":
                raise StopSending(Failed(f"LinkedIn could not process {filename}"))
        raise StopSending(
            RetryLater(
                DEFAULT_RETRY_SECONDS, f"LinkedIn is still processing {filename}; trying later"
            )
        )
