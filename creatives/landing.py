"""Landing pages: built from the brand kit and the editor's text, served at /p/<slug>.

A page is live only once published: `publish_landing_page` freezes the current version
and marks it live from a moment (now, or later for a scheduled launch); the newest version
whose moment has come is the one served. UTM parameters of the visit are carried onto the
page's outgoing links, so the scholarship and careers sites see where visitors came from.
Editor HTML is sanitised with nh3 when saved and again when rendered.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import nh3
from markupsafe import Markup
from sqlalchemy.orm import Session

from campaign_manager.core.db import utcnow
from creatives.content import WebContent
from creatives.errors import CreativeError, Problem, RenderError
from creatives.models import Asset, BrandKit, CreativeKind, CreativeVersion
from creatives.rendering import add_query, media_path, template_env
from creatives.versions import (
    freeze_current_version,
    get_creative,
    get_version,
    live_version_for_slug,
    variant_content,
)

UTM_KEYS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
_URL_SCHEMES = {"http", "https", "mailto", "tel"}


def sanitize_html(value: str) -> str:
    """Editor HTML without scripts, event handlers, styles or javascript: links."""
    return nh3.clean(value, url_schemes=_URL_SCHEMES, link_rel="noopener noreferrer")


def utm_only(params: Mapping[str, str]) -> dict[str, str]:
    return {key: str(params[key])[:200] for key in UTM_KEYS if params.get(key)}


def validate_web(session: Session, content: WebContent) -> list[Problem]:
    problems = []
    if not content.title.strip():
        problems.append(Problem("title", "Give the page a title (shown in the browser tab)."))
    if not content.headline.strip():
        problems.append(Problem("headline", "Write a headline."))
    if content.cta_url and not content.cta_url.startswith(("https://", "http://", "/")):
        problems.append(Problem("cta_url", "The button link must be a full https:// address."))
    if content.cta_url and not content.cta_label.strip():
        problems.append(Problem("cta_label", "Write the button's label."))
    for link in content.links:
        if not link.url.startswith(("https://", "http://", "/")) or not link.label.strip():
            problems.append(
                Problem("links", f"Each link needs a label and a full address ({link.url!r}).")
            )
    if content.hero_asset_id is not None:
        asset = session.get(Asset, content.hero_asset_id)
        if asset is None or not asset.mime.startswith("image/"):
            problems.append(Problem("hero_asset_id", "Choose an image from the asset library."))
        elif not asset.alt_text.strip():
            problems.append(
                Problem("hero_asset_id", f"The image {asset.label} needs alt text in the library.")
            )
    return problems


def prepare_web(content: WebContent) -> WebContent:
    """What is stored: the body HTML sanitised."""
    content.body_html = sanitize_html(content.body_html)
    return content


def render_page_html(
    session: Session, content: WebContent, brand_kit: BrandKit | None, utm: Mapping[str, str]
) -> str:
    utm = utm_only(utm)
    hero = session.get(Asset, content.hero_asset_id) if content.hero_asset_id else None
    logo = brand_kit.logo if brand_kit else None
    return (
        template_env()
        .get_template("landing.html")
        .render(
            content=content,
            body_html=Markup(sanitize_html(content.body_html)),  # noqa: S704 - sanitised by nh3
            cta_url=add_query(content.cta_url, utm) if content.cta_url else "",
            links=[(link.label, add_query(link.url, utm)) for link in content.links],
            hero=hero,
            hero_url=media_path(hero) if hero else "",
            logo=logo,
            logo_url=media_path(logo) if logo else "",
            brand=brand_kit,
        )
    )


def render_landing_page(
    session: Session,
    version_or_slug: int | str,
    utm: Mapping[str, str],
    *,
    now: datetime | None = None,
) -> str:
    """The page's HTML: a version id renders that version (previews); a slug renders the
    live published version, or raises RenderError when the page is not live."""
    if isinstance(version_or_slug, str):
        version = live_version_for_slug(session, version_or_slug, now)
        if version is None:
            raise RenderError(f"No page is published at /p/{version_or_slug}.")
    else:
        version = get_version(session, version_or_slug)
    if version.creative.kind is not CreativeKind.WEB:
        raise RenderError(f"Creative version {version.id} is not a landing page.")
    return render_page_html(session, variant_content(version), version.creative.brand_kit, utm)


def publish_landing_page(
    session: Session, creative_id: int, at: datetime | None = None
) -> CreativeVersion:
    """Freeze the current version and make it the live page from `at` (default: now)."""
    version = freeze_current_version(session, get_creative(session, creative_id).id)
    return publish_landing_version(session, version.id, at)


def publish_landing_version(
    session: Session, version_id: int, at: datetime | None = None
) -> CreativeVersion:
    """Make one (frozen) version the live page from `at`: what an approved step publishes,
    even if the page was edited again after approval."""
    version = get_version(session, version_id)
    if version.creative.kind is not CreativeKind.WEB:
        raise CreativeError("Only landing pages are published.")
    if not version.is_frozen:
        raise CreativeError("Only a frozen (approved) version of a page can be published.")
    if at is not None and at.tzinfo is None:
        raise CreativeError("Give the publication time with its time zone.")
    problems = validate_web(session, variant_content(version))
    if problems:
        raise CreativeError("Fix the page before publishing: " + problems[0].message)
    version.published_at = at or utcnow()
    session.flush()
    return version


def unpublish_landing_page(session: Session, creative_id: int) -> None:
    creative = get_creative(session, creative_id)
    for version in creative.versions:
        version.published_at = None
    session.flush()
