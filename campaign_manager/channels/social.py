"""What the social adapters share: the text they post, and the checks on attached media.

Length rules themselves live in `creatives.social_rules`, so a creative is checked with the
same rules when it is saved as when it is sent.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from campaign_manager.channels.base import MediaItem, Problem, RenderedMessage


def post_text(message: RenderedMessage) -> str:
    """The post as published: the text, then the link on its own line unless already there."""
    text = message.text.strip()
    link = message.link.strip()
    if link and link not in text:
        text = f"{text}\n\n{link}" if text else link
    return text


@dataclass(frozen=True)
class MediaRules:
    """What a network accepts as attachments to one post."""

    network: str
    max_count: int
    mime_types: Collection[str]
    max_image_bytes: int
    max_video_bytes: int = 0
    max_alt_text: int = 1000


def _sizes(size: int, limit: int) -> tuple[str, str]:
    """Both sizes in the same readable unit, or in bytes when they would read the same."""

    def readable(count: int) -> str:
        if count >= 1_000_000:
            return f"{count / 1_000_000:.1f} MB"
        return f"{count / 1000:.0f} KB"

    if readable(size) == readable(limit):
        return f"{size:,} bytes", f"{limit:,} bytes"
    return readable(size), readable(limit)


def media_problems(message: RenderedMessage, rules: MediaRules) -> list[Problem]:
    """Count, type, size and alt text of the attachments, in words a marketer can act on."""
    problems: list[Problem] = []
    if len(message.media) > rules.max_count:
        problems.append(
            Problem(
                "media",
                f"{rules.network} takes at most {rules.max_count} attachment(s) per post; "
                f"this one has {len(message.media)}.",
            )
        )
    for item in message.media:
        problems.extend(_item_problems(item, rules))
    return problems


def _item_problems(item: MediaItem, rules: MediaRules) -> list[Problem]:
    problems: list[Problem] = []
    if item.content_type not in rules.mime_types:
        accepted = ", ".join(sorted(rules.mime_types))
        problems.append(
            Problem(
                "media",
                f"{item.filename}: {rules.network} does not accept {item.content_type or 'this'}"
                f" files (accepted: {accepted}).",
            )
        )
        return problems
    is_video = item.content_type.startswith("video/")
    limit = rules.max_video_bytes if is_video else rules.max_image_bytes
    if limit and len(item.data) > limit:
        size, most = _sizes(len(item.data), limit)
        problems.append(
            Problem("media", f"{item.filename} is {size}; {rules.network} accepts at most {most}.")
        )
    if item.content_type.startswith("image/") and not item.alt_text.strip():
        problems.append(
            Problem(
                "media",
                f"{item.filename} needs alt text: people using screen readers rely on it.",
            )
        )
    if len(item.alt_text) > rules.max_alt_text:
        problems.append(
            Problem(
                "media",
                f"The alt text of {item.filename} has {len(item.alt_text)} characters; "
                f"{rules.network} allows {rules.max_alt_text}.",
            )
        )
    return problems


def empty_post_problem(message: RenderedMessage) -> list[Problem]:
    if post_text(message) or message.media:
        return []
    return [Problem("text", "The post is empty: write some text or attach an image.")]
