"""Social creatives: one post (text, link, images with alt text) validated per network on save.

Length rules live in social_rules.py (shared with the channel adapters). Where a network
has no separate link field (X, Bluesky, Mastodon) the link is appended to the text, so it
is counted the way the network counts it; LinkedIn and Facebook take the link as a link
preview and the text alone is counted.

Media limits (per image):
- X: up to 4 images, JPEG/PNG/GIF/WebP, 5 MB (GIF 15 MB); alt text up to 1,000 characters.
- Bluesky: up to 4 images, each blob at most 1,000,000 bytes (app.bsky.embed.images);
  alt text up to 2,000 characters.
- Mastodon: up to 4 attachments, 16 MB per image (instance default); description up to
  1,500 characters.
- LinkedIn: up to 20 images (multi-image posts), JPEG/PNG/GIF, 5 MB, under 36,152,320 pixels.
- Facebook: up to 10 photos, JPEG/PNG/GIF/WebP, under 4 MB.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from creatives.assets import asset_bytes
from creatives.content import SocialContent
from creatives.errors import CreativeError, Problem, RenderError
from creatives.models import Asset, AssetKind, CreativeKind
from creatives.social_rules import DEFAULT_LIMITS, Network, bluesky_facets, length_problem
from creatives.versions import get_version, variant_content

_JPEG_PNG_GIF_WEBP = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
_MB = 1_000_000


@dataclass(frozen=True)
class MediaLimits:
    max_count: int
    max_bytes: int
    mime_types: frozenset[str]
    max_alt_length: int
    gif_max_bytes: int | None = None
    max_pixels: int | None = None


MEDIA_LIMITS = {
    Network.X: MediaLimits(4, 5 * _MB, _JPEG_PNG_GIF_WEBP, 1000, gif_max_bytes=15 * _MB),
    Network.BLUESKY: MediaLimits(4, 1_000_000, _JPEG_PNG_GIF_WEBP, 2000),
    Network.MASTODON: MediaLimits(4, 16 * _MB, _JPEG_PNG_GIF_WEBP, 1500),
    Network.LINKEDIN: MediaLimits(
        20,
        5 * _MB,
        frozenset({"image/jpeg", "image/png", "image/gif"}),
        4086,
        max_pixels=36_152_320,
    ),
    Network.FACEBOOK: MediaLimits(10, 4 * _MB, _JPEG_PNG_GIF_WEBP, 1000),
}
# Networks with no link field: the link is written into the post text.
LINK_IN_TEXT = frozenset({Network.X, Network.BLUESKY, Network.MASTODON})
NETWORK_LABELS = {
    Network.X: "X",
    Network.BLUESKY: "Bluesky",
    Network.MASTODON: "Mastodon",
    Network.LINKEDIN: "LinkedIn",
    Network.FACEBOOK: "Facebook",
}


@dataclass(frozen=True)
class SocialMedia:
    """One image of a post, ready to upload; fields in the order adapters read them."""

    data: bytes
    mime: str
    alt_text: str
    width: int
    height: int


@dataclass(frozen=True)
class SocialPost:
    """A post for one network: `text` is what to publish (with the link where it belongs)."""

    network: Network
    text: str
    link: str
    media: tuple[SocialMedia, ...]


def parse_network(value: str) -> Network:
    try:
        return Network(value.strip().lower())
    except ValueError:
        names = ", ".join(n.value for n in Network)
        raise CreativeError(f"Unknown network {value!r}; use one of: {names}.") from None


def post_text(network: Network, text: str, link: str) -> str:
    """The text as published on `network`: the link appended where it must be in the text."""
    text = text.strip()
    link = link.strip()
    if link and network in LINK_IN_TEXT and link not in text:
        return f"{text}\n\n{link}" if text else link
    return text


def network_limit(network: Network, content: SocialContent) -> int:
    if network is Network.MASTODON:
        return content.mastodon_max_characters or DEFAULT_LIMITS[Network.MASTODON]
    return DEFAULT_LIMITS[network]


def validate_social(session: Session, content: SocialContent) -> list[Problem]:
    """Every reason the post cannot go to each of its networks, tied to a form field."""
    problems: list[Problem] = []
    if not content.networks:
        problems.append(Problem("networks", "Choose at least one network for this post."))
    if not content.text.strip() and not content.media:
        problems.append(Problem("text", "Write the post (or add an image)."))
    link = content.link.strip()
    if link and not link.startswith(("https://", "http://")):
        problems.append(Problem("link", "The link must be a full https:// address."))
    if content.mastodon_max_characters < 1:
        problems.append(
            Problem("mastodon_max_characters", "The instance limit must be a positive number.")
        )
        return problems
    assets: list[Asset | None] = [session.get(Asset, ref.asset_id) for ref in content.media]
    for position, (ref, asset) in enumerate(zip(content.media, assets, strict=True), start=1):
        if asset is None or asset.kind is not AssetKind.IMAGE:
            problems.append(
                Problem("media", f"Image {position}: choose an image from the library.")
            )
        elif not (ref.alt_text.strip() or asset.alt_text.strip()):
            problems.append(
                Problem(
                    "media",
                    f"Image {position} ({asset.label}) needs alt text describing it for people "
                    "who cannot see it.",
                )
            )
    for name in content.networks:
        try:
            network = parse_network(name)
        except CreativeError as exc:
            problems.append(Problem("networks", str(exc)))
            continue
        label = NETWORK_LABELS[network]
        too_long = length_problem(
            network, post_text(network, content.text, link), network_limit(network, content)
        )
        if too_long:
            problems.append(Problem("text", f"{label}: {too_long}"))
        problems += _media_problems(network, content, assets)
    return problems


def _media_problems(
    network: Network, content: SocialContent, assets: list[Asset | None]
) -> list[Problem]:
    limits = MEDIA_LIMITS[network]
    label = NETWORK_LABELS[network]
    problems = []
    if len(content.media) > limits.max_count:
        problems.append(
            Problem("media", f"{label} takes at most {limits.max_count} images per post.")
        )
    for position, (ref, asset) in enumerate(zip(content.media, assets, strict=True), start=1):
        if asset is None or asset.kind is not AssetKind.IMAGE:
            continue
        where = f"{label}, image {position} ({asset.label})"
        if asset.mime not in limits.mime_types:
            kinds = ", ".join(sorted(m.split("/")[1].upper() for m in limits.mime_types))
            problems.append(Problem("media", f"{where}: {label} accepts only {kinds}."))
        max_bytes = (
            limits.gif_max_bytes
            if asset.mime == "image/gif" and limits.gif_max_bytes
            else limits.max_bytes
        )
        if asset.size_bytes > max_bytes:
            problems.append(
                Problem(
                    "media",
                    f"{where} is {asset.size_bytes / _MB:.1f} MB; {label} accepts at most "
                    f"{max_bytes / _MB:g} MB.",
                )
            )
        if limits.max_pixels and asset.width * asset.height > limits.max_pixels:
            problems.append(Problem("media", f"{where} has too many pixels for {label}."))
        alt = ref.alt_text.strip() or asset.alt_text.strip()
        if len(alt) > limits.max_alt_length:
            problems.append(
                Problem(
                    "media",
                    f"{where}: alt text is {len(alt)} characters; {label} allows "
                    f"{limits.max_alt_length}.",
                )
            )
    return problems


def render_social(session: Session, version_id: int, network: Network | str) -> SocialPost:
    """The post of a social creative version for one network, with its images' bytes."""
    network = network if isinstance(network, Network) else parse_network(network)
    version = get_version(session, version_id)
    if version.creative.kind is not CreativeKind.SOCIAL:
        raise RenderError(f"Creative version {version_id} is not a social post.")
    content: SocialContent = variant_content(version)
    if network.value not in content.networks:
        raise RenderError(
            f"This post was not written for {NETWORK_LABELS[network]} (it is for: "
            f"{', '.join(content.networks) or 'no network'})."
        )
    media = []
    for ref in content.media:
        asset = session.get(Asset, ref.asset_id)
        if asset is None:
            raise RenderError(f"Image asset {ref.asset_id} of this post no longer exists.")
        media.append(
            SocialMedia(
                data=asset_bytes(session, asset),
                mime=asset.mime,
                alt_text=ref.alt_text.strip() or asset.alt_text.strip(),
                width=asset.width,
                height=asset.height,
            )
        )
    return SocialPost(
        network=network,
        text=post_text(network, content.text, content.link),
        link=content.link.strip(),
        media=tuple(media),
    )


@dataclass(frozen=True)
class NetworkPreview:
    network: Network
    label: str
    text: str
    length: int
    limit: int
    problems: list[str]
    facets: list


def preview_social(session: Session, content: SocialContent) -> list[NetworkPreview]:
    """Per chosen network: the text as published, its counted length and its problems."""
    from creatives.social_rules import post_length

    problems = validate_social(session, content)
    previews = []
    for name in content.networks:
        try:
            network = parse_network(name)
        except CreativeError:
            continue
        label = NETWORK_LABELS[network]
        text = post_text(network, content.text, content.link)
        previews.append(
            NetworkPreview(
                network=network,
                label=label,
                text=text,
                length=post_length(network, text),
                limit=network_limit(network, content),
                problems=[p.message for p in problems if p.message.startswith(label + ":")]
                + [p.message for p in problems if p.message.startswith(label + ", ")],
                facets=bluesky_facets(text) if network is Network.BLUESKY else [],
            )
        )
    return previews
