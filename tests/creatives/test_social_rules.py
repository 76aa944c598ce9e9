import pytest

from creatives.social_rules import (
    FacetKind,
    Network,
    bluesky_facets,
    grapheme_length,
    length_problem,
    mastodon_length,
    x_weighted_length,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hello", 5),
        ("a" * 280, 280),
        ("日本語", 6),  # CJK weighs 2
        ("😀", 2),  # one emoji, two units
        ("👨‍👩‍👧‍👦", 2),  # a ZWJ family sequence is one emoji
        ("🇺🇸", 2),  # a flag is two regional indicators, one emoji
        ("👍🏽", 2),  # skin tone modifier stays within the emoji
        ("café", 4),
        ("cafe\u0301", 4),  # NFC joins e + combining acute into é
        ("see https://example.org/a/very/long/path?with=query", 4 + 23),
        ("www.example.org and more", 23 + 9),
        # Curly quotes and the en dash (U+2010-U+201F) weigh 1; the ellipsis U+2026 weighs 2.
        ("“quotes” – dash …", 18),
    ],
)
def test_x_weighted_length(text, expected):
    assert x_weighted_length(text) == expected


def test_x_limit_message():
    assert length_problem(Network.X, "a" * 280) is None
    message = length_problem(Network.X, "日" * 141)
    assert message.startswith("282 of 280") and "shorten by 2" in message


def test_bluesky_counts_graphemes():
    assert grapheme_length("👨‍👩‍👧‍👦 e\u0301") == 3
    assert length_problem(Network.BLUESKY, "é" * 300) is None
    assert length_problem(Network.BLUESKY, "😀" * 301).startswith("301 of 300")


def test_bluesky_facets_use_utf8_byte_offsets():
    text = (
        "✨ Apply now https://careers.example.org/apply #CollisionCareers "
        "with @coalition.bsky.social!"
    )
    facets = bluesky_facets(text)
    data = text.encode()
    kinds = [(f.kind, data[f.byte_start : f.byte_end].decode(), f.value) for f in facets]
    assert kinds == [
        (FacetKind.LINK, "https://careers.example.org/apply", "https://careers.example.org/apply"),
        (FacetKind.TAG, "#CollisionCareers", "CollisionCareers"),
        (FacetKind.MENTION, "@coalition.bsky.social", "coalition.bsky.social"),
    ]
    # The sparkle is 3 bytes, so the link starts at byte 14, not character 12.
    assert facets[0].byte_start == 14


def test_bluesky_tags_skip_numbers_and_trailing_punctuation():
    values = [f.value for f in bluesky_facets("#2026 is the year. #SkilledTrades, #go!")]
    assert values == ["SkilledTrades", "go"]


def test_mastodon_counts_links_as_23_and_mentions_by_local_part():
    text = "Hi @coalition@mastodon.example.org see https://example.org/" + "x" * 100
    assert mastodon_length(text) == len("Hi @coalition see ") + 23
    assert length_problem(Network.MASTODON, "a" * 501) is not None
    assert length_problem(Network.MASTODON, "a" * 501, limit=1000) is None
