"""Social posts are validated per network when saved, and rendered per network."""

import pytest

from creatives.content import MediaRef, SocialContent
from creatives.editing import save_variant
from creatives.errors import RenderError, ValidationFailed
from creatives.social import render_social, validate_social
from creatives.social_rules import Network
from creatives.versions import create_creative

LINK = "https://careers.example.org/p/collision-careers?utm_source=social"


def problems(db, **values):
    return [(p.field, p.message) for p in validate_social(db, SocialContent(**values))]


def test_a_good_post_for_every_network(db, make_asset):
    image = make_asset(1200, 628, alt_text="Students in a paint booth")
    content = SocialContent(
        text="Turn a passion for cars into a career 🚗 #CollisionCareers",
        link=LINK,
        media=[MediaRef(image.id)],
        networks=[n.value for n in Network],
    )
    assert validate_social(db, content) == []


def test_x_counts_the_link_as_23_and_emoji_as_2(db):
    # 254 + "\n\n" (2) + link (23) = 279 ... one emoji more (2) = 281 > 280.
    text = "a" * 254
    assert problems(db, text=text, link=LINK, networks=["x"]) == []
    found = problems(db, text=text + "🚗", link=LINK, networks=["x"])
    assert found == [
        (
            "text",
            "X: 281 of 280 weighted characters (links count 23, emoji and CJK count 2): "
            "shorten by 1.",
        )
    ]


def test_x_counts_cjk_as_two(db):
    assert problems(db, text="日" * 140, networks=["x"]) == []
    assert problems(db, text="日" * 141, networks=["x"])[0][1].startswith("X: 282 of 280")


def test_bluesky_counts_graphemes_including_the_link(db):
    family = "👨‍👩‍👧‍👦"  # seven code points, one grapheme
    link = "https://ex.org/x"  # 16 graphemes, + 2 for the blank line
    text = family * 10 + "a" * 272
    assert problems(db, text=text, link=link, networks=["bluesky"]) == []
    found = problems(db, text=text + "a", link=link, networks=["bluesky"])
    assert found == [("text", "Bluesky: 301 of 300 characters: shorten by 1.")]


def test_bluesky_also_limits_bytes(db):
    # 120 family emoji are 120 graphemes but 3,000 UTF-8 bytes (25 each): one more is too many.
    assert problems(db, text="👨‍👩‍👧‍👦" * 120, networks=["bluesky"]) == []
    assert problems(db, text="👨‍👩‍👧‍👦" * 121, networks=["bluesky"]) == [
        (
            "text",
            "Bluesky: 3025 of 3000 bytes (emoji take up to 25 bytes each): shorten by 25 bytes.",
        )
    ]


def test_combining_characters_count_once_on_bluesky_and_mastodon(db):
    text = "e\u0301" * 300  # 600 code points, 300 graphemes
    assert problems(db, text=text, networks=["bluesky"]) == []
    assert problems(db, text=text + "!", networks=["bluesky"])[0][1].startswith(
        "Bluesky: 301 of 300"
    )


def test_mastodon_uses_the_instance_limit(db):
    text = "word " * 99  # 495 characters, stripped to 494
    assert problems(db, text=text, networks=["mastodon"]) == []
    found = problems(db, text=text, networks=["mastodon"], mastodon_max_characters=400)
    assert found == [("text", "Mastodon: 494 of 400 characters (links count 23): shorten by 94.")]
    assert problems(db, text="x" * 10, networks=["mastodon"], mastodon_max_characters=0) == [
        ("mastodon_max_characters", "The instance limit must be a positive number.")
    ]


def test_linkedin_and_facebook_limits_and_link_fields(db):
    # The link is a separate preview on LinkedIn and Facebook: it does not count.
    assert problems(db, text="x" * 3000, link=LINK, networks=["linkedin"]) == []
    assert problems(db, text="x" * 3001, networks=["linkedin"])[0][1].startswith(
        "LinkedIn: 3001 of 3000"
    )
    assert problems(db, text="x" * 63206, networks=["facebook"]) == []
    assert problems(db, text="x" * 63207, networks=["facebook"])[0][1].startswith(
        "Facebook: 63207 of 63206"
    )


def test_alt_text_is_required_for_every_image(db, make_asset):
    bare = make_asset(400, 400, alt_text="")
    found = problems(db, text="Hi", media=[MediaRef(bare.id)], networks=["mastodon"])
    assert found == [
        (
            "media",
            "Image 1 (picture.png) needs alt text describing it for people who cannot see it.",
        )
    ]
    assert (
        problems(
            db, text="Hi", media=[MediaRef(bare.id, alt_text="A crest")], networks=["mastodon"]
        )
        == []
    )


def test_media_count_size_and_type_limits(db, make_asset):
    images = [make_asset(100 + i, 100, alt_text=f"Image {i}") for i in range(5)]
    found = problems(
        db, text="Hi", media=[MediaRef(i.id) for i in images], networks=["x", "linkedin"]
    )
    assert ("media", "X takes at most 4 images per post.") in found
    assert not any(m.startswith("LinkedIn takes") for _, m in found)
    webp = make_asset(50, 50, fmt="WEBP", alt_text="A webp")
    assert (
        "media",
        "LinkedIn, image 1 (picture.webp): LinkedIn accepts only GIF, JPEG, PNG.",
    ) in problems(db, text="Hi", media=[MediaRef(webp.id)], networks=["linkedin"])
    big = make_asset(50, 50, alt_text="Big")
    big.size_bytes = (
        1_500_000  # stand-in for a 1.5 MB file: Bluesky's blob limit is 1,000,000 bytes
    )
    found = problems(db, text="Hi", media=[MediaRef(big.id)], networks=["bluesky", "x"])
    assert found == [
        ("media", "Bluesky, image 1 (picture.png) is 1.5 MB; Bluesky accepts at most 1 MB.")
    ]


def test_missing_networks_bad_links_and_empty_posts(db):
    found = problems(db, text="", link="careers.example.org", networks=[])
    assert ("networks", "Choose at least one network for this post.") in found
    assert ("text", "Write the post (or add an image).") in found
    assert ("link", "The link must be a full https:// address.") in found
    assert problems(db, text="hi", networks=["myspace"])[0][1].startswith(
        "Unknown network 'myspace'"
    )


def test_save_refuses_a_post_too_long_for_one_of_its_networks(db):
    creative = create_creative(db, "Post", "social")
    with pytest.raises(ValidationFailed, match="X: 300 of 280"):
        save_variant(db, creative.id, "", SocialContent(text="x" * 300, networks=["x", "linkedin"]))


def test_render_social_gives_text_link_and_media_per_network(db, make_asset):
    image = make_asset(640, 480, alt_text="A car being repaired")
    creative = create_creative(db, "Post", "social")
    version, _ = save_variant(
        db,
        creative.id,
        "",
        SocialContent(
            text="Paid training near you",
            link=LINK,
            media=[MediaRef(image.id, "Override alt")],
            networks=["x", "linkedin"],
        ),
    )
    on_x = render_social(db, version.id, "x")
    assert on_x.text == f"Paid training near you\n\n{LINK}"
    assert on_x.link == LINK
    (media,) = on_x.media
    assert (media.mime, media.alt_text, media.width, media.height) == (
        "image/png",
        "Override alt",
        640,
        480,
    )
    assert media.data.startswith(b"\x89PNG")
    on_linkedin = render_social(db, version.id, Network.LINKEDIN)
    assert on_linkedin.text == "Paid training near you"
    with pytest.raises(RenderError, match="not written for Bluesky"):
        render_social(db, version.id, "bluesky")
