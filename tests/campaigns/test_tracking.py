"""Click redirects (signed only, UTM added, event recorded) and the open pixel."""

from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from campaign_manager.campaigns.models import Event, EventKind
from campaign_manager.campaigns.tracking import (
    PIXEL_GIF,
    UtmContext,
    add_query_parameters,
    click_token,
    merge_utm,
    open_pixel,
    rewrite_links,
)
from campaign_manager.core.security import TokenSigner
from tests.campaigns.conftest import social_step
from tests.conftest import TEST_SECRET

SIGNER = TokenSigner(TEST_SECRET)
BASE = "https://cm.example.org"


def token_of(tracked: str) -> str:
    return tracked.removeprefix(f"{BASE}/c/")


# --- UTM ------------------------------------------------------------------------------------

CONTEXT = UtmContext(
    campaign_name="Collision Careers 2030",
    step_name="Spring wave",
    channel_kind="email",
    source="smtp",
    segment_slug="students",
)


def test_utm_defaults_come_from_campaign_step_channel_and_segment():
    assert merge_utm(CONTEXT, {}, {}) == {
        "utm_source": "smtp",
        "utm_medium": "email",
        "utm_campaign": "collision-careers-2030",
        "utm_content": "students",
    }
    without_segment = UtmContext("Careers", "Monday post", "social", "mastodon")
    assert merge_utm(without_segment, {}, {})["utm_content"] == "monday-post"


def test_step_utm_overrides_campaign_which_overrides_defaults():
    campaign = {"utm_source": "coalition", "utm_campaign": "careers", "utm_term": "jobs"}
    step = {"utm_campaign": "careers-spring", "utm_content": "{segment}-{step}"}
    assert merge_utm(CONTEXT, campaign, step) == {
        "utm_source": "coalition",
        "utm_medium": "email",
        "utm_campaign": "careers-spring",
        "utm_content": "students-spring-wave",
        "utm_term": "jobs",
    }


def test_parameters_already_in_a_link_are_kept():
    url = "https://example.org/apply?utm_source=flyer&x=1#form"
    merged = add_query_parameters(url, {"utm_source": "smtp", "utm_medium": "email"})
    assert merged == "https://example.org/apply?utm_source=flyer&x=1&utm_medium=email#form"
    assert add_query_parameters("https://example.org/", {}) == "https://example.org/"


# --- rewriting links --------------------------------------------------------------------------


def test_every_web_link_goes_through_the_signed_redirect():
    html = (
        '<p><a href="https://example.org/apply?a=1&amp;b=2">Apply</a> '
        "<a class='x' href='http://example.org/old'>Old</a> "
        "<a href=https://example.org/bare>Bare</a> "
        '<area shape="rect" href="https://example.org/map">'
        '<a href="mailto:info@example.org">Mail</a> <a href="#top">Top</a> '
        '<a href="/relative">Relative</a> '
        '<a data-cm-no-track href="https://cm.example.org/u/abc">Unsubscribe</a></p>'
    )
    out = rewrite_links(html, delivery_id=7, signer=SIGNER, base_url=BASE)
    tracked = [part.split('"')[0] for part in out.split(f'href="{BASE}/c/')[1:]]
    payloads = [SIGNER.verify("click", t) for t in tracked]
    assert payloads == [
        {"d": 7, "u": "https://example.org/apply?a=1&b=2"},
        {"d": 7, "u": "http://example.org/old"},
        {"d": 7, "u": "https://example.org/bare"},
        {"d": 7, "u": "https://example.org/map"},
    ]
    for untouched in (
        'href="mailto:info@example.org"',
        'href="#top"',
        'href="/relative"',
        'href="https://cm.example.org/u/abc"',
        "class='x'",
    ):
        assert untouched in out
    # Running it twice changes nothing more.
    assert rewrite_links(out, delivery_id=7, signer=SIGNER, base_url=BASE) == out


def test_open_pixel_only_when_allowed():
    assert open_pixel(SIGNER, BASE, 5, allow_open_tracking=False) == ""
    tag = open_pixel(SIGNER, BASE, 5, allow_open_tracking=True)
    src = tag.split('src="')[1].split('"')[0]
    assert src.startswith(f"{BASE}/o/") and src.endswith(".gif")
    assert SIGNER.verify("open", src.removeprefix(f"{BASE}/o/").removesuffix(".gif")) == {"d": 5}
    assert 'alt=""' in tag and 'width="1"' in tag


# --- the routes -------------------------------------------------------------------------------


@pytest.fixture
def delivery(db, world, make_campaign, add_deliveries):
    campaign = make_campaign(
        steps=[social_step(world, utm={"utm_content": "wave-{segment}"})],
        utm={"utm_source": "coalition"},
    )
    return add_deliveries(campaign.steps[0], ["sent"])[0]


def test_click_records_an_event_and_redirects_with_utm(client, db, delivery):
    token = click_token(SIGNER, delivery.id, "https://example.org/apply?ref=mail")
    response = client.get(f"/c/{token}")
    assert response.status_code == 302
    target = urlsplit(response.headers["Location"])
    assert (target.scheme, target.netloc, target.path) == ("https", "example.org", "/apply")
    assert parse_qs(target.query) == {
        "ref": ["mail"],
        "utm_source": ["coalition"],
        "utm_medium": ["social"],
        "utm_campaign": ["collision-careers"],
        "utm_content": ["wave-students"],
    }
    event = db.scalar(select(Event).where(Event.kind == EventKind.CLICK))
    assert event.delivery_id == delivery.id
    assert event.url == "https://example.org/apply?ref=mail"
    assert (event.step_id, event.channel_kind, event.segment_slug) == (
        delivery.step_id,
        "social",
        "students",
    )
    assert event.campaign_id == delivery.step.campaign_id


def test_unsigned_or_tampered_links_are_not_followed(client, db, delivery):
    good = click_token(SIGNER, delivery.id, "https://example.org/apply")
    forged_url = click_token(
        TokenSigner("another-secret-key-entirely"), delivery.id, "https://evil.example"
    )
    attempts = [
        "https://evil.example",
        "https:%2F%2Fevil.example",
        good[:-2] + ("AA" if not good.endswith("AA") else "BB"),
        forged_url,
        # A valid signature for another purpose is no click token.
        SIGNER.sign("open", {"d": delivery.id, "u": "https://evil.example"}),
        # Even a signed link to a non-web URL is refused.
        click_token(SIGNER, delivery.id, "javascript:alert(1)"),
    ]
    for attempt in attempts:
        response = client.get(f"/c/{attempt}")
        assert response.status_code == 404, attempt
        assert "Location" not in response.headers
    assert db.scalar(select(Event).where(Event.kind == EventKind.CLICK)) is None


def test_pixel_records_an_open(client, db, delivery):
    tag = open_pixel(SIGNER, "", delivery.id, allow_open_tracking=True)
    path = tag.split('src="')[1].split('"')[0]
    response = client.get(path)
    assert response.status_code == 200
    assert response.mimetype == "image/gif"
    assert response.data == PIXEL_GIF
    assert "no-store" in response.headers["Cache-Control"]
    event = db.scalar(select(Event).where(Event.kind == EventKind.OPEN))
    assert event.delivery_id == delivery.id and event.segment_slug == "students"
    assert client.get("/o/not-a-token.gif").status_code == 404
