"""Landing pages: sanitised, live only once published, carrying UTM parameters onwards."""

from datetime import timedelta

import pytest

from campaign_manager.core.db import utcnow
from creatives.content import PageLink, WebContent
from creatives.editing import save_variant
from creatives.errors import CreativeError, RenderError, ValidationFailed
from creatives.landing import publish_landing_page, render_landing_page, unpublish_landing_page
from creatives.versions import create_creative

UTM = {"utm_source": "instagram", "utm_medium": "social", "utm_campaign": "spring", "other": "x"}


def page_content(**changes) -> WebContent:
    values = {
        "title": "Collision careers",
        "headline": "Turn a passion for cars into a career",
        "body_html": '<p onclick="steal()">Real <b>jobs</b><script>alert(1)</script>'
        '<a href="javascript:alert(1)">bad</a></p>',
        "cta_label": "Find scholarships",
        "cta_url": "https://scholarships.example.org/apply",
        "links": [
            PageLink("Browse the careers job board", "https://jobs.example.org/?q=collision")
        ],
    }
    values.update(changes)
    return WebContent(**values)


@pytest.fixture
def page(db):
    creative = create_creative(db, "Landing", "web", slug="collision-careers")
    save_variant(db, creative.id, "", page_content())
    db.commit()
    return creative


def test_user_html_is_sanitised_when_saved_and_rendered(db, page):
    stored = page.current_version.variant("").content["body_html"]
    assert "<script" not in stored and "onclick" not in stored and "javascript:" not in stored
    html = render_landing_page(db, page.current_version.id, {})
    assert "Real <b>jobs</b>" in html
    assert "<script" not in html and "onclick" not in html and "javascript:" not in html


def test_utm_parameters_are_carried_to_the_outgoing_links(db, page):
    html = render_landing_page(db, page.current_version.id, UTM)
    assert (
        'href="https://scholarships.example.org/apply?utm_source=instagram&amp;utm_medium=social'
        '&amp;utm_campaign=spring"' in html
    )
    assert "https://jobs.example.org/?q=collision&amp;utm_source=instagram" in html
    assert "other=x" not in html


def test_a_page_is_live_only_once_published(db, page):
    with pytest.raises(RenderError, match="No page is published at /p/collision-careers"):
        render_landing_page(db, "collision-careers", {})
    version = publish_landing_page(db, page.id)
    assert version.is_frozen and version.published_at is not None
    assert "Turn a passion for cars" in render_landing_page(db, "collision-careers", {})
    unpublish_landing_page(db, page.id)
    with pytest.raises(RenderError):
        render_landing_page(db, "collision-careers", {})


def test_a_scheduled_publication_goes_live_at_its_time(db, page):
    launch = utcnow() + timedelta(hours=2)
    publish_landing_page(db, page.id, at=launch)
    with pytest.raises(RenderError):
        render_landing_page(db, "collision-careers", {})
    html = render_landing_page(db, "collision-careers", {}, now=launch + timedelta(seconds=1))
    assert "Turn a passion for cars" in html


def test_edits_after_publishing_stay_drafts_until_republished(db, page):
    publish_landing_page(db, page.id)
    draft, _ = save_variant(db, page.id, "", page_content(headline="A brand new headline"))
    assert draft.number == 2
    assert "Turn a passion for cars" in render_landing_page(db, "collision-careers", {})
    publish_landing_page(db, page.id)
    assert "A brand new headline" in render_landing_page(db, "collision-careers", {})


def test_page_validation(db, page):
    with pytest.raises(ValidationFailed) as failure:
        save_variant(
            db, page.id, "", page_content(headline="", cta_url="ftp://x", links=[PageLink("", "x")])
        )
    assert failure.value.for_field("headline") == ["Write a headline."]
    assert failure.value.for_field("cta_url") == [
        "The button link must be a full https:// address."
    ]
    assert failure.value.for_field("links")


def test_slugs_are_checked_and_unique(db, page):
    with pytest.raises(CreativeError, match="already taken"):
        create_creative(db, "Other", "web", slug="collision-careers")
    with pytest.raises(CreativeError, match="lower-case letters"):
        create_creative(db, "Other", "web", slug="../admin")
