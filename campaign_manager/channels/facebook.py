"""A Facebook Page: posts through the Graph API `feed` and `photos` edges.

API reference: https://developers.facebook.com/docs/pages-api/posts,
https://developers.facebook.com/docs/graph-api/reference/page/photos,
https://developers.facebook.com/docs/graph-api/guides/error-handling and
https://developers.facebook.com/docs/graph-api/overview/rate-limiting.

- The Graph API version is pinned (GRAPH_VERSION) so a Meta default change cannot alter
  what we send; move it forward deliberately.
- Text and link: `POST /{page-id}/feed`. One image: `POST /{page-id}/photos` with the file,
  the text and the alt text. Several images: each uploaded unpublished, then one feed post
  with `attached_media`.
- Errors come as {"error": {"code", "error_subcode", "message", ...}}: code 190 (and 102,
  10, 200-299) means the Page token or its permissions are gone; 4, 17, 32, 613, 80001 and
  friends are throttling, retried after the time X-Business-Use-Case-Usage estimates;
  506 is a duplicate post; 368 a temporary block for a policy violation.
- The Page token travels in the Authorization header, never in a URL that could be logged.
"""

from __future__ import annotations

import json
import re
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
    HttpAdapter,
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

GRAPH_VERSION = "v25.0"
GRAPH = f"https://graph.facebook.com/{GRAPH_VERSION}"
IMAGE_RULES = MediaRules(
    network="Facebook",
    # Our own cap on attached_media; Facebook recommends photos under 4 MB.
    max_count=10,
    mime_types=(
        "image/jpeg",
        "image/png",
        "image/gif",
        "image/bmp",
        "image/tiff",
        "image/heif",
        "image/webp",
    ),
    max_image_bytes=4_000_000,
)

# Error codes from the Graph API error-handling and rate-limiting guides.
RECONNECT_CODES = {102, 190, 10} | set(range(200, 300))
THROTTLING_CODES = {4, 17, 32, 341, 613, 80001}
TRANSIENT_CODES = {1, 2}
POLICY_BLOCK_CODE = 368
DUPLICATE_POST_CODE = 506
TOKEN_SUBCODES = {
    458: "the app is no longer installed for this user",
    459: "the user must log in to Facebook to fix their account",
    460: "the password changed",
    463: "the access token expired",
    464: "the user's account is unconfirmed",
    467: "the access token is invalid",
    492: "the user is no longer an admin of the Page",
}
# Without an estimate from the headers: the limits work on a rolling one-hour window.
THROTTLE_WAIT_SECONDS = 300.0
POLICY_BLOCK_WAIT_SECONDS = 3600.0


def _usage_header(response: requests.Response, name: str) -> Any:
    value = response.headers.get(name)
    if not value:
        return None
    try:
        return json.loads(value)
    except ValueError:
        return None


def _throttle_wait(response: requests.Response) -> float | None:
    """The longest `estimated_time_to_regain_access` (minutes) of the BUC usage header."""
    usage = _usage_header(response, "X-Business-Use-Case-Usage")
    minutes = [
        entry.get("estimated_time_to_regain_access")
        for entries in (usage.values() if isinstance(usage, dict) else [])
        if isinstance(entries, list)
        for entry in entries
        if isinstance(entry, dict)
    ]
    known = [m for m in minutes if isinstance(m, int | float) and m > 0]
    return max(known) * 60.0 if known else None


def _usage_summary(response: requests.Response) -> str:
    """The highest usage percentage the app or Page headers report, for the reason."""
    shares: list[float] = []
    for name in ("X-App-Usage", "X-Page-Usage"):
        usage = _usage_header(response, name)
        if isinstance(usage, dict):
            shares += [v for v in usage.values() if isinstance(v, int | float)]
    business = _usage_header(response, "X-Business-Use-Case-Usage")
    if isinstance(business, dict):
        for entries in business.values():
            for entry in entries if isinstance(entries, list) else []:
                if isinstance(entry, dict):
                    shares += [
                        entry[key]
                        for key in ("call_count", "total_cputime", "total_time")
                        if isinstance(entry.get(key), int | float)
                    ]
    return f"; usage at {max(shares):.0f}% of the limit" if shares else ""


class FacebookPageAdapter(HttpAdapter):
    name: ClassVar[str] = "facebook_page"
    kind: ClassVar[ChannelKind] = ChannelKind.SOCIAL
    display_name: ClassVar[str] = "Facebook Page"
    fields: ClassVar[tuple[SettingField, ...]] = (
        SettingField("page_id", "Page ID", help="The numeric ID of the Facebook Page."),
        SettingField(
            "access_token",
            "Page access token",
            secret=True,
            input_type="password",
            help="A long-lived Page access token with pages_manage_posts and "
            "pages_read_engagement, from a person who can create content on the Page.",
        ),
    )
    # The Graph API takes no idempotency key.
    idempotent: ClassVar[bool] = False

    @property
    def page_id(self) -> str:
        return self.setting("page_id")

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.credentials.get('access_token', '')}"}

    def _failure(self, response: requests.Response, action: str) -> SendResult:
        body = json_or_none(response)
        error = body.get("error") if isinstance(body, dict) else None
        if not isinstance(error, dict):
            return outcome_for_status(
                response, f"Facebook refused to {action}: HTTP {response.status_code}"
            )
        code = error.get("code")
        subcode = error.get("error_subcode")
        message = self.reason(str(error.get("error_user_msg") or error.get("message") or ""))
        label = f"code {code}" + (f"/{subcode}" if subcode else "")
        reason = f"Facebook refused to {action} ({label}: {message})"
        if code in RECONNECT_CODES:
            why = TOKEN_SUBCODES.get(subcode, "the Page token or its permissions are gone")
            return Failed(f"{reason}; {why}: reconnect the account", needs_reconnect=True)
        if code in THROTTLING_CODES or subcode == 2446079:
            wait = _throttle_wait(response)
            if wait is None:
                wait = parse_retry_after(response.headers.get("Retry-After"))
            return RetryLater(
                wait if wait is not None else THROTTLE_WAIT_SECONDS,
                reason + _usage_summary(response),
            )
        if code == POLICY_BLOCK_CODE:
            return RetryLater(POLICY_BLOCK_WAIT_SECONDS, reason)
        if code == DUPLICATE_POST_CODE:
            return Failed(reason + "; change the text before posting it again")
        if code in TRANSIENT_CODES or error.get("is_transient") is True:
            return RetryLater(DEFAULT_RETRY_SECONDS, reason)
        if response.status_code >= 500:
            return outcome_for_status(response, reason)
        return Failed(reason)

    # --- protocol ------------------------------------------------------------------------

    def validate(self, message: RenderedMessage) -> list[Problem]:
        problems: list[Problem] = []
        if not re.fullmatch(r"\d+", self.page_id):
            problems.append(
                Problem("page_id", "The Page ID is the Page's number, e.g. 1234567890.")
            )
        problems.extend(empty_post_problem(message))
        too_long = length_problem(Network.FACEBOOK, post_text(message))
        if too_long:
            problems.append(Problem("text", too_long))
        problems.extend(media_problems(message, IMAGE_RULES))
        return problems

    def send(self, message: RenderedMessage, *, idempotency_key: str) -> SendResult:
        try:
            if len(message.media) == 1:
                return self._photo_post(message, message.media[0])
            if message.media:
                photo_ids = [self._unpublished_photo(item) for item in message.media]
                return self._feed_post(message, photo_ids)
            return self._feed_post(message, [])
        except StopSending as stop:
            return stop.outcome

    def check_connection(self) -> None:
        try:
            response = self.request(
                "GET", f"{GRAPH}/{self.page_id}", params={"fields": "id,name"}, headers=self._auth()
            )
        except StopSending as stop:
            raise connection_check_failed(stop.outcome) from None
        body = json_or_none(response)
        if response.status_code != 200 or not isinstance(body, dict) or not body.get("id"):
            raise connection_check_failed(self._failure(response, "show the Page"))

    # --- steps ---------------------------------------------------------------------------

    def _published(self, response: requests.Response, *keys: str) -> SendResult:
        if response.status_code != 200:
            return self._failure(response, "publish the post")
        body = json_or_none(response)
        for key in keys:
            if isinstance(body, dict) and body.get(key):
                return Sent(str(body[key]))
        return RetryLater(
            DEFAULT_RETRY_SECONDS,
            "Facebook accepted the post but its answer was unreadable",
            maybe_delivered=True,
        )

    def _feed_post(self, message: RenderedMessage, photo_ids: list[str]) -> SendResult:
        if photo_ids:
            form = {"message": post_text(message)}
            for index, photo_id in enumerate(photo_ids):
                form[f"attached_media[{index}]"] = json.dumps({"media_fbid": photo_id})
        else:
            # The link goes in its own field, so Facebook shows its preview card.
            form = {"message": message.text.strip()}
            if message.link:
                form["link"] = message.link
        response = self.request(
            "POST", f"{GRAPH}/{self.page_id}/feed", headers=self._auth(), data=form, publishes=True
        )
        return self._published(response, "id")

    def _photo_post(self, message: RenderedMessage, item: MediaItem) -> SendResult:
        data = {"message": post_text(message)}
        if item.alt_text:
            data["alt_text_custom"] = item.alt_text
        response = self.request(
            "POST",
            f"{GRAPH}/{self.page_id}/photos",
            headers=self._auth(),
            data=data,
            files={"source": (item.filename, item.data, item.content_type)},
            publishes=True,
        )
        return self._published(response, "post_id", "id")

    def _unpublished_photo(self, item: MediaItem) -> str:
        data = {"published": "false"}
        if item.alt_text:
            data["alt_text_custom"] = item.alt_text
        response = self.request(
            "POST",
            f"{GRAPH}/{self.page_id}/photos",
            headers=self._auth(),
            data=data,
            files={"source": (item.filename, item.data, item.content_type)},
        )
        body = json_or_none(response)
        if response.status_code != 200:
            raise StopSending(self._failure(response, f"accept {item.filename}"))
        if not isinstance(body, dict) or not body.get("id"):
            raise StopSending(
                RetryLater(DEFAULT_RETRY_SECONDS, "Facebook sent an unreadable photo answer")
            )
        return str(body["id"])
