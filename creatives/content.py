"""What each kind of creative holds, as dataclasses; stored as JSON in a variant's `content`.

`content_from_dict` is forgiving about missing keys (older rows, partial forms) and strict
about nothing else: validation lives in the kind's own module (email.py, social.py, ...).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from creatives.models import CreativeKind


@dataclass
class EmailContent:
    subject: str = ""
    # The hidden first line inboxes show after the subject.
    preheader: str = ""
    mjml: str = ""
    # Plain-text part written by the editor; "" means generate it from the HTML.
    text: str = ""


@dataclass
class MediaRef:
    asset_id: int
    # Overrides the asset's own alt text for this post; "" uses the asset's.
    alt_text: str = ""


@dataclass
class SocialContent:
    text: str = ""
    link: str = ""
    media: list[MediaRef] = field(default_factory=list)
    # The networks this post is written for; each is validated on save.
    networks: list[str] = field(default_factory=list)
    # A Mastodon instance's configuration.statuses.max_characters (500 by default).
    mastodon_max_characters: int = 500


@dataclass
class PageLink:
    label: str
    url: str


@dataclass
class WebContent:
    title: str = ""
    description: str = ""
    headline: str = ""
    # Editor-supplied HTML; sanitised with nh3 when saved and again when rendered.
    body_html: str = ""
    hero_asset_id: int | None = None
    cta_label: str = ""
    cta_url: str = ""
    links: list[PageLink] = field(default_factory=list)


@dataclass
class PrintContent:
    # The print profile the piece is designed for (print_profiles.py).
    profile: str = "letter-flyer"
    headline: str = ""
    subheadline: str = ""
    body: str = ""
    call_to_action: str = ""
    hero_asset_id: int | None = None
    # Where the QR code points; each co-brand variant adds its own UTM parameters.
    qr_url: str = ""
    footer_note: str = ""


CONTENT_CLASSES: dict[CreativeKind, type] = {
    CreativeKind.EMAIL: EmailContent,
    CreativeKind.SOCIAL: SocialContent,
    CreativeKind.WEB: WebContent,
    CreativeKind.PRINT: PrintContent,
}

Content = EmailContent | SocialContent | WebContent | PrintContent


def content_from_dict(kind: CreativeKind, data: dict[str, Any] | None) -> Any:
    cls = CONTENT_CLASSES[kind]
    data = dict(data or {})
    known = {f.name for f in dataclasses.fields(cls)}
    values = {key: value for key, value in data.items() if key in known}
    if cls is SocialContent:
        values["media"] = [
            item if isinstance(item, MediaRef) else MediaRef(**item)
            for item in values.get("media", [])
        ]
    if cls is WebContent:
        values["links"] = [
            item if isinstance(item, PageLink) else PageLink(**item)
            for item in values.get("links", [])
        ]
    return cls(**values)


def content_to_dict(content: Any) -> dict[str, Any]:
    return dataclasses.asdict(content)
