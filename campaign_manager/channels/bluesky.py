"""Bluesky (AT Protocol): app.bsky.feed.post records with rich-text facets and images.

API reference: https://docs.bsky.app/docs/advanced-guides/posts,
https://docs.bsky.app/docs/advanced-guides/post-richtext,
https://docs.bsky.app/docs/api/com-atproto-server-create-session and
https://docs.bsky.app/docs/advanced-guides/rate-limits.

- A session is created once with the account's app password (createSession is limited to
  30 per 5 minutes and 300 a day); its tokens are kept with `save_credentials`. When the
  server answers `ExpiredToken` the session is refreshed with the refresh token and the
  call is repeated once; if the refresh token is spent too, a new session is created.
- Links, mentions and hashtags become facets at UTF-8 byte offsets (rules shared with the
  creatives in `creatives.social_rules`); a mention's handle is resolved to its DID and
  left as plain text when it does not resolve.
- Images are uploaded as blobs and embedded with their alt text (app.bsky.embed.images).
- RateLimit-Remaining/RateLimit-Reset (a Unix time) are honoured.
"""

from __future__ import annotations

from datetime import UTC, datetime
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
    rate_limited,
)
from campaign_manager.channels.social import (
    MediaRules,
    empty_post_problem,
    media_problems,
    post_text,
)
from creatives.social_rules import FacetKind, Network, bluesky_facets, length_problem

DEFAULT_SERVICE = "https://bsky.social"
RESET_HEADER = "RateLimit-Reset"
REMAINING_HEADER = "RateLimit-Remaining"
# From the app.bsky.embed.images lexicon: four images of at most 1,000,000 bytes each.
IMAGE_RULES = MediaRules(
    network="Bluesky",
    max_count=4,
    mime_types=("image/jpeg", "image/png", "image/webp", "image/gif"),
    max_image_bytes=1_000_000,
    max_alt_text=2000,
)
SESSION_ERRORS = ("ExpiredToken", "InvalidToken")


def _error_name(response: requests.Response) -> str:
    body = json_or_none(response)
    return str(body.get("error") or "") if isinstance(body, dict) else ""


class BlueskyAdapter(HttpAdapter):
    name: ClassVar[str] = "bluesky"
    kind: ClassVar[ChannelKind] = ChannelKind.SOCIAL
    display_name: ClassVar[str] = "Bluesky"
    fields: ClassVar[tuple[SettingField, ...]] = (
        SettingField(
            "handle",
            "Handle",
            help="The account's handle, e.g. collisioncareers.bsky.social.",
        ),
        SettingField(
            "service_url",
            "Server",
            required=False,
            default=DEFAULT_SERVICE,
            help="The account's PDS or entryway; bsky.social for accounts hosted by Bluesky.",
        ),
        SettingField(
            "language",
            "Language",
            required=False,
            help="Language of the posts as a BCP-47 tag, e.g. en.",
        ),
        SettingField(
            "app_password",
            "App password",
            secret=True,
            input_type="password",
            help="Settings → Privacy and security → App passwords. Never the account password.",
        ),
    )
    # createRecord has no idempotency key: a repeated call makes a second post.
    idempotent: ClassVar[bool] = False

    def __init__(self, config: Any) -> None:
        super().__init__(config)

    @property
    def service(self) -> str:
        return self.setting("service_url", DEFAULT_SERVICE).rstrip("/")

    def _url(self, nsid: str) -> str:
        return f"{self.service}/xrpc/{nsid}"

    # --- answers -----------------------------------------------------------------------

    def _failure(self, response: requests.Response, action: str) -> SendResult:
        body = json_or_none(response)
        error = message = ""
        if isinstance(body, dict):
            error = str(body.get("error") or "")
            message = str(body.get("message") or "")
        detail = ": ".join(part for part in (error, message) if part)
        reason = f"Bluesky refused to {action}: HTTP {response.status_code}"
        if detail:
            reason += f" ({self.reason(detail)})"
        if response.status_code == 429:
            return rate_limited(response, reason, reset_header=RESET_HEADER)
        # A session error here survived a renewal (see `_call`): only a person can fix it.
        if response.status_code == 401 or error in (
            *SESSION_ERRORS,
            "AccountTakedown",
            "AuthFactorTokenRequired",
        ):
            return Failed(reason + "; reconnect the account", needs_reconnect=True)
        return outcome_for_status(response, reason)

    # --- session -----------------------------------------------------------------------

    def _keep_session(self, body: Any) -> None:
        if not isinstance(body, dict) or not body.get("accessJwt") or not body.get("did"):
            raise StopSending(
                RetryLater(DEFAULT_RETRY_SECONDS, "Bluesky sent an unreadable session")
            )
        self.store_credentials(
            {
                "access_jwt": str(body["accessJwt"]),
                "refresh_jwt": str(body.get("refreshJwt") or ""),
                "did": str(body["did"]),
            }
        )

    def _create_session(self) -> None:
        response = self.request(
            "POST",
            self._url("com.atproto.server.createSession"),
            json={
                "identifier": self.setting("handle").lstrip("@"),
                "password": self.credentials.get("app_password", ""),
            },
        )
        if response.status_code != 200:
            raise StopSending(self._failure(response, "sign in"))
        self._keep_session(json_or_none(response))

    def _refresh_session(self) -> None:
        """New tokens from the refresh token; a new session when that one is spent too."""
        refresh_jwt = self.credentials.get("refresh_jwt", "")
        if refresh_jwt:
            response = self.request(
                "POST",
                self._url("com.atproto.server.refreshSession"),
                headers={"Authorization": f"Bearer {refresh_jwt}"},
            )
            if response.status_code == 200:
                self._keep_session(json_or_none(response))
                return
            if _error_name(response) not in SESSION_ERRORS:
                raise StopSending(self._failure(response, "refresh the session"))
        self._create_session()

    def _ensure_session(self) -> None:
        if not self.credentials.get("access_jwt") or not self.credentials.get("did"):
            self._create_session()

    def _call(
        self, method: str, nsid: str, *, publishes: bool = False, **kwargs: Any
    ) -> requests.Response:
        """An authenticated XRPC call, renewing the session once if the server asks."""
        self._ensure_session()
        extra_headers = kwargs.pop("headers", {})

        def attempt() -> requests.Response:
            headers = {**extra_headers, "Authorization": f"Bearer {self.credentials['access_jwt']}"}
            return self.request(
                method, self._url(nsid), headers=headers, publishes=publishes, **kwargs
            )

        response = attempt()
        if response.status_code in (400, 401) and _error_name(response) in SESSION_ERRORS:
            # The request was refused before it did anything, so repeating it is safe.
            if _error_name(response) == "ExpiredToken":
                self._refresh_session()
            else:
                self._create_session()
            response = attempt()
        return response

    # --- protocol ------------------------------------------------------------------------

    def validate(self, message: RenderedMessage) -> list[Problem]:
        problems = empty_post_problem(message)
        too_long = length_problem(Network.BLUESKY, post_text(message))
        if too_long:
            problems.append(Problem("text", too_long))
        problems.extend(media_problems(message, IMAGE_RULES))
        if not self.setting("handle"):
            problems.append(Problem("handle", "Set the account's Bluesky handle."))
        return problems

    def send(self, message: RenderedMessage, *, idempotency_key: str) -> SendResult:
        held = self.rate_limit_hold()
        if held:
            return held
        try:
            self._ensure_session()
            record = self._record(message)
            response = self._call(
                "POST",
                "com.atproto.repo.createRecord",
                json={
                    "repo": self.credentials["did"],
                    "collection": "app.bsky.feed.post",
                    "record": record,
                },
                publishes=True,
            )
        except StopSending as stop:
            return stop.outcome
        if response.status_code != 200:
            return self._failure(response, "publish the post")
        self.note_rate_limit(response, (REMAINING_HEADER, RESET_HEADER))
        body = json_or_none(response)
        if not isinstance(body, dict) or not body.get("uri"):
            return RetryLater(
                DEFAULT_RETRY_SECONDS,
                "Bluesky accepted the post but its answer was unreadable",
                maybe_delivered=True,
            )
        return Sent(str(body["uri"]))

    def check_connection(self) -> None:
        try:
            response = self._call("GET", "com.atproto.server.getSession")
        except StopSending as stop:
            raise connection_check_failed(stop.outcome) from None
        if response.status_code != 200:
            raise connection_check_failed(self._failure(response, "confirm the session"))

    # --- the record ----------------------------------------------------------------------

    def _record(self, message: RenderedMessage) -> dict[str, Any]:
        text = post_text(message)
        record: dict[str, Any] = {
            "$type": "app.bsky.feed.post",
            "text": text,
            "createdAt": datetime.now(UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
        }
        facets = self._facets(text)
        if facets:
            record["facets"] = facets
        if self.setting("language"):
            record["langs"] = [self.setting("language")]
        if message.media:
            record["embed"] = {
                "$type": "app.bsky.embed.images",
                "images": [self._image(item) for item in message.media],
            }
        elif message.link:
            record["embed"] = {
                "$type": "app.bsky.embed.external",
                "external": {
                    "uri": message.link,
                    "title": message.title or message.link,
                    "description": message.subject,
                },
            }
        return record

    def _facets(self, text: str) -> list[dict[str, Any]]:
        facets: list[dict[str, Any]] = []
        for facet in bluesky_facets(text):
            if facet.kind is FacetKind.MENTION:
                did = self._resolve_handle(facet.value)
                if did is None:
                    continue
                feature = {"$type": "app.bsky.richtext.facet#mention", "did": did}
            elif facet.kind is FacetKind.LINK:
                feature = {"$type": "app.bsky.richtext.facet#link", "uri": facet.value}
            else:
                feature = {"$type": "app.bsky.richtext.facet#tag", "tag": facet.value}
            facets.append(
                {
                    "index": {"byteStart": facet.byte_start, "byteEnd": facet.byte_end},
                    "features": [feature],
                }
            )
        return facets

    def _resolve_handle(self, handle: str) -> str | None:
        response = self.request(
            "GET", self._url("com.atproto.identity.resolveHandle"), params={"handle": handle}
        )
        body = json_or_none(response)
        if response.status_code == 200 and isinstance(body, dict) and body.get("did"):
            return str(body["did"])
        if response.status_code == 400:
            # Not a handle after all: it stays plain text, as Bluesky's own guide does.
            return None
        raise StopSending(self._failure(response, f"resolve @{handle}"))

    def _image(self, item: MediaItem) -> dict[str, Any]:
        response = self._call(
            "POST",
            "com.atproto.repo.uploadBlob",
            headers={"Content-Type": item.content_type},
            data=item.data,
        )
        body = json_or_none(response)
        if response.status_code != 200:
            raise StopSending(self._failure(response, f"accept {item.filename}"))
        if not isinstance(body, dict) or not isinstance(body.get("blob"), dict):
            raise StopSending(
                RetryLater(DEFAULT_RETRY_SECONDS, "Bluesky sent an unreadable blob answer")
            )
        image: dict[str, Any] = {"alt": item.alt_text, "image": body["blob"]}
        if item.width and item.height:
            image["aspectRatio"] = {"width": item.width, "height": item.height}
        return image
