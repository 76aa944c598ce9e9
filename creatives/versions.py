"""Creatives and their versions: drafts are edited in place, frozen versions never change.

The delivery engine calls `freeze_current_version` when a campaign is approved and records
the returned version's id on each delivery. Saving an edit afterwards (editing.py) starts a
new draft version, a copy of the frozen one with the edit applied, so what was approved and
sent stays exactly as it was.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaign_manager.core.db import utcnow
from creatives.content import CONTENT_CLASSES, content_from_dict, content_to_dict
from creatives.errors import CreativeError
from creatives.models import BrandKit, Creative, CreativeKind, CreativeVariant, CreativeVersion

_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,98}[a-z0-9])?$")
_VARIANT_KEY = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
# The segment slugs the audiences package creates out of the box; others work too.
BUILT_IN_SEGMENT_SLUGS = ("students", "parents", "educators")


def get_creative(session: Session, creative_id: int) -> Creative:
    creative = session.get(Creative, creative_id)
    if creative is None:
        raise CreativeError(f"There is no creative number {creative_id}.")
    return creative


def get_version(session: Session, version_id: int) -> CreativeVersion:
    version = session.get(CreativeVersion, version_id)
    if version is None:
        raise CreativeError(f"There is no creative version number {version_id}.")
    return version


def check_slug(slug: str) -> str:
    slug = slug.strip().lower()
    if not _SLUG.match(slug):
        raise CreativeError(
            "The page address must be lower-case letters, digits and dashes, "
            "e.g. collision-careers."
        )
    return slug


def check_variant_key(key: str) -> str:
    """A segment slug, or "" for the default variant."""
    key = key.strip().lower()
    if key and not _VARIANT_KEY.match(key):
        raise CreativeError(
            "A variant is named by its segment's slug: lower-case letters, digits, - and _."
        )
    return key


def create_creative(
    session: Session,
    name: str,
    kind: CreativeKind | str,
    *,
    brand_kit_id: int | None = None,
    slug: str | None = None,
    content: Any = None,
) -> Creative:
    """A new creative with a first draft version holding one default variant.

    The content is not validated here: a new creative starts as a blank draft, and every
    later save (editing.save_variant) is validated.
    """
    kind = CreativeKind(kind)
    name = " ".join(name.split())
    if not name:
        raise CreativeError("A creative needs a name.")
    if brand_kit_id is not None and session.get(BrandKit, brand_kit_id) is None:
        raise CreativeError(f"There is no brand kit number {brand_kit_id}.")
    if kind is CreativeKind.WEB:
        slug = check_slug(slug or "")
        if session.scalar(select(Creative.id).where(Creative.slug == slug)):
            raise CreativeError(f"The page address /p/{slug} is already taken.")
    else:
        slug = None
    creative = Creative(name=name, kind=kind, brand_kit_id=brand_kit_id, slug=slug)
    content = content if content is not None else CONTENT_CLASSES[kind]()
    version = CreativeVersion(number=1)
    version.variants = [CreativeVariant(key="", content=content_to_dict(content))]
    creative.versions = [version]
    session.add(creative)
    session.flush()
    return creative


def editable_version(session: Session, creative: Creative) -> CreativeVersion:
    """The draft to write an edit into: the current one, or a new copy of a frozen one."""
    current = creative.current_version
    if not current.is_frozen:
        return current
    draft = CreativeVersion(creative=creative, number=current.number + 1)
    draft.variants = [
        CreativeVariant(
            key=variant.key,
            content=dict(variant.content),
            compiled_html=variant.compiled_html,
            compiled_text=variant.compiled_text,
        )
        for variant in current.variants
    ]
    session.add(draft)
    session.flush()
    return draft


def freeze_current_version(session: Session, creative_id: int) -> CreativeVersion:
    """Freeze the newest version (if it is not already) and return it.

    Called by the delivery engine when a campaign is approved; deliveries then record the
    returned version's id. Freezing twice returns the same version.
    """
    creative = get_creative(session, creative_id)
    version = creative.current_version
    if not version.is_frozen:
        if creative.kind is CreativeKind.EMAIL:
            from creatives.email import ensure_compiled

            for variant in version.variants:
                ensure_compiled(variant)
        version.frozen_at = utcnow()
        session.flush()
    return version


def variant_content(version: CreativeVersion, key: str = "") -> Any:
    """The kind's content dataclass of a variant (falling back to the default variant)."""
    return content_from_dict(version.creative.kind, version.variant(key).content)


def version_summary(session: Session, creative_id: int) -> list[Mapping[str, Any]]:
    """Numbers, dates and states of a creative's versions, newest first, for the UI."""
    versions = session.scalars(
        select(CreativeVersion)
        .where(CreativeVersion.creative_id == creative_id)
        .order_by(CreativeVersion.number.desc())
    )
    return [
        {
            "id": v.id,
            "number": v.number,
            "frozen_at": v.frozen_at,
            "published_at": v.published_at,
            "updated_at": v.updated_at,
            "variants": [variant.key for variant in v.variants],
        }
        for v in versions
    ]


def find_creatives(
    session: Session, *, kind: CreativeKind | None = None, text: str = ""
) -> list[Creative]:
    query = select(Creative).order_by(Creative.updated_at.desc(), Creative.id.desc())
    if kind is not None:
        query = query.where(Creative.kind == kind)
    for word in text.split():
        query = query.where(func.lower(Creative.name).like(f"%{word.lower()}%"))
    return list(session.scalars(query))


def live_version_for_slug(
    session: Session, slug: str, now: datetime | None = None
) -> CreativeVersion | None:
    """The published version of the landing page at /p/<slug> at `now`, if any."""
    now = now or utcnow()
    return session.scalar(
        select(CreativeVersion)
        .join(Creative)
        .where(
            Creative.slug == slug,
            Creative.kind == CreativeKind.WEB,
            CreativeVersion.published_at.is_not(None),
            CreativeVersion.published_at <= now,
        )
        .order_by(CreativeVersion.number.desc())
        .limit(1)
    )
