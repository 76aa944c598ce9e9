"""How each social network counts a post, and the rich-text facets Bluesky needs.

Creatives validate posts with these rules when they are saved; channel adapters use the
same functions (never their own copy) before sending.

Sources:
- X: twitter-text configuration v3 (maxWeightedTweetLength 280, scale 100, defaultWeight
  200, transformedURLLength 23, weight-100 ranges U+0000-U+10FF, U+2000-U+200D,
  U+2010-U+201F, U+2032-U+2037, emojiParsingEnabled). Text is NFC-normalised first.
- Bluesky: app.bsky.feed.post text is at most 300 graphemes and 3000 UTF-8 bytes; facets
  index UTF-8 byte offsets (app.bsky.richtext.facet), with the link, mention and tag
  patterns from Bluesky's "Links, mentions, and rich text" guide.
- Mastodon: every URL counts as 23 characters and a mention counts only its local
  "@username" part; the limit is the instance's configuration.statuses.max_characters.
"""

from __future__ import annotations

import enum
import unicodedata
from dataclasses import dataclass

import regex

URL_WEIGHT = 23


class Network(enum.StrEnum):
    X = "x"
    BLUESKY = "bluesky"
    MASTODON = "mastodon"
    LINKEDIN = "linkedin"
    FACEBOOK = "facebook"


# Characters allowed per post; Mastodon's is the instance default, replaced by the
# instance's own figure when the adapter has read it from /api/v2/instance.
DEFAULT_LIMITS = {
    Network.X: 280,
    Network.BLUESKY: 300,
    Network.MASTODON: 500,
    Network.LINKEDIN: 3000,
    Network.FACEBOOK: 63206,
}
BLUESKY_MAX_BYTES = 3000

# --- X --------------------------------------------------------------------------------------

_X_LIGHT_RANGES = ((0x0000, 0x10FF), (0x2000, 0x200D), (0x2010, 0x201F), (0x2032, 0x2037))
# http(s) URLs, and bare www. addresses, which X also links and shortens.
_URL = regex.compile(r"(?i)\b(?:https?://|www\.)[^\s<>\"]+[^\s<>\"\.,;:!?\)\]'\u2019]")
_GRAPHEME = regex.compile(r"\X")
_EMOJI = regex.compile(r"\p{Extended_Pictographic}|\p{Regional_Indicator}|\u20E3")


def _is_emoji(cluster: str) -> bool:
    return bool(_EMOJI.search(cluster))


def _code_point_weight(char: str) -> int:
    code = ord(char)
    return 1 if any(start <= code <= end for start, end in _X_LIGHT_RANGES) else 2


def x_weighted_length(text: str) -> int:
    """The length X counts: URLs 23, each emoji sequence 2, CJK and other scripts 2."""
    text = unicodedata.normalize("NFC", text)
    total = 0
    position = 0
    for match in _URL.finditer(text):
        total += _weigh_x_text(text[position : match.start()])
        total += URL_WEIGHT
        position = match.end()
    return total + _weigh_x_text(text[position:])


def _weigh_x_text(text: str) -> int:
    total = 0
    for cluster in _GRAPHEME.findall(text):
        if _is_emoji(cluster):
            total += 2
        else:
            total += sum(_code_point_weight(char) for char in cluster)
    return total


# --- Bluesky ----------------------------------------------------------------------------------


def grapheme_length(text: str) -> int:
    """User-perceived characters (extended grapheme clusters, as Intl.Segmenter counts)."""
    return len(_GRAPHEME.findall(text))


# Byte patterns from Bluesky's rich-text guide, applied to the UTF-8 encoding so that the
# offsets are byte offsets, as facets require.
_BSKY_MENTION = regex.compile(
    rb"(?:^|[$|\W])(@(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+[a-zA-Z](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)"
)
_BSKY_URL = regex.compile(
    rb"(?:^|[$|\W])(https?://(?:www\.)?[-a-zA-Z0-9@:%._+~#=]{1,256}\.[a-zA-Z0-9()]{1,6}\b(?:[-a-zA-Z0-9()@:%_+.~#?&/=]*[-a-zA-Z0-9@%_+~#/=])?)"
)
_BSKY_TAG = regex.compile(
    r"(?:^|\s)([#\uff03]((?!\ufe0f)[^\s\u00AD\u2060\u200A\u200B\u200C\u200D\u20e2]*[^\d\s\p{P}\u00AD\u2060\u200A\u200B\u200C\u200D\u20e2]+[^\s\u00AD\u2060\u200A\u200B\u200C\u200D\u20e2]*)?)"
)
_TRAILING_PUNCTUATION = regex.compile(r"\p{P}+$")


class FacetKind(enum.StrEnum):
    LINK = "link"
    MENTION = "mention"
    TAG = "tag"


@dataclass(frozen=True)
class Facet:
    """A span of the post by UTF-8 byte offsets; `value` is the URI, handle or tag.

    A mention's handle still has to be resolved to a DID by whoever posts it.
    """

    kind: FacetKind
    byte_start: int
    byte_end: int
    value: str


def bluesky_facets(text: str) -> list[Facet]:
    """Links, mentions and hashtags in the post, in order of appearance."""
    data = text.encode("utf-8")
    facets: list[Facet] = []
    for match in _BSKY_MENTION.finditer(data):
        handle = match.group(1)[1:].decode()
        facets.append(Facet(FacetKind.MENTION, match.start(1), match.end(1), handle))
    for match in _BSKY_URL.finditer(data):
        uri = match.group(1).decode()
        facets.append(Facet(FacetKind.LINK, match.start(1), match.end(1), uri))
    for match in _BSKY_TAG.finditer(text):
        tag = _TRAILING_PUNCTUATION.sub("", match.group(1))
        body = tag[1:]
        if not body or len(body) > 64:
            continue
        start = len(text[: match.start(1)].encode("utf-8"))
        facets.append(Facet(FacetKind.TAG, start, start + len(tag.encode("utf-8")), body))
    return sorted(facets, key=lambda facet: facet.byte_start)


# --- Mastodon ---------------------------------------------------------------------------------

_MASTODON_MENTION = regex.compile(r"(?<=^|[^\w/])@(\w+)@[\w.-]+\w")


def mastodon_length(text: str) -> int:
    """Characters as Mastodon counts them: URLs 23, remote mentions only their @username."""
    text = _URL.sub("x" * URL_WEIGHT, text)
    text = _MASTODON_MENTION.sub(lambda m: "@" + m.group(1), text)
    return grapheme_length(text)


# --- all networks ----------------------------------------------------------------------------


def post_length(network: Network, text: str) -> int:
    if network is Network.X:
        return x_weighted_length(text)
    if network is Network.BLUESKY:
        return grapheme_length(text)
    if network is Network.MASTODON:
        return mastodon_length(text)
    return len(text)


def length_problem(network: Network, text: str, limit: int | None = None) -> str | None:
    """Why the text is too long for the network, in words a marketer understands, or None."""
    limit = limit or DEFAULT_LIMITS[network]
    length = post_length(network, text)
    if length > limit:
        unit = {
            Network.X: "weighted characters (links count 23, emoji and CJK count 2)",
            Network.BLUESKY: "characters",
            Network.MASTODON: "characters (links count 23)",
        }.get(network, "characters")
        return f"{length} of {limit} {unit}: shorten by {length - limit}."
    size = len(text.encode("utf-8"))
    if network is Network.BLUESKY and size > BLUESKY_MAX_BYTES:
        return (
            f"{size} of {BLUESKY_MAX_BYTES} bytes (emoji take up to 25 bytes each): "
            f"shorten by {size - BLUESKY_MAX_BYTES} bytes."
        )
    return None
