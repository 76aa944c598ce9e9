"""Saving edits: validate for the creative's kind, then write into the editable version.

One entry point for the UI, the API and the demo: `save_variant`. It refuses content with
errors (ValidationFailed, nothing written); otherwise it writes into the draft, or into a
new draft when the current version is frozen (versions.py).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from creatives.content import (
    CONTENT_CLASSES,
    EmailContent,
    PrintContent,
    SocialContent,
    WebContent,
    content_to_dict,
)
from creatives.email import compile_email
from creatives.errors import CreativeError, Problem, Severity, ValidationFailed, errors_only
from creatives.landing import prepare_web, validate_web
from creatives.models import Asset, Creative, CreativeKind, CreativeVariant, CreativeVersion
from creatives.print_profiles import PROFILES
from creatives.social import validate_social
from creatives.versions import check_variant_key, editable_version, get_creative


def validate_print(session: Session, content: PrintContent) -> list[Problem]:
    problems = []
    if content.profile not in PROFILES:
        problems.append(Problem("profile", "Choose a print format."))
    if not content.headline.strip():
        problems.append(Problem("headline", "Write a headline."))
    if content.qr_url and not content.qr_url.startswith(("https://", "http://")):
        problems.append(Problem("qr_url", "The QR code needs a full https:// address."))
    if content.hero_asset_id is not None:
        asset = session.get(Asset, content.hero_asset_id)
        if asset is None or not asset.mime.startswith("image/"):
            problems.append(Problem("hero_asset_id", "Choose an image from the asset library."))
    return problems


def check_content(session: Session, kind: CreativeKind, content: Any) -> list[Problem]:
    """All problems (errors and warnings) of content for a kind, without saving anything."""
    if not isinstance(content, CONTENT_CLASSES[kind]):
        raise CreativeError(f"A {kind.value} creative cannot hold {type(content).__name__}.")
    if isinstance(content, EmailContent):
        return compile_email(content).problems
    if isinstance(content, SocialContent):
        return validate_social(session, content)
    if isinstance(content, WebContent):
        return validate_web(session, content)
    return validate_print(session, content)


def save_variant(
    session: Session, creative_id: int, key: str, content: Any
) -> tuple[CreativeVersion, list[Problem]]:
    """Save one variant's content; returns the version written and any warnings.

    Raises ValidationFailed (nothing written) when the content has errors.
    """
    creative = get_creative(session, creative_id)
    key = check_variant_key(key)
    if key and creative.kind is not CreativeKind.EMAIL:
        raise CreativeError("Only emails have per-segment variants.")
    compiled = None
    if isinstance(content, EmailContent):
        compiled = compile_email(content)
        problems = compiled.problems
    else:
        problems = check_content(session, creative.kind, content)
    if errors_only(problems):
        raise ValidationFailed(problems)
    if isinstance(content, WebContent):
        content = prepare_web(content)
    version = editable_version(session, creative)
    variant = next((v for v in version.variants if v.key == key), None)
    if variant is None:
        variant = CreativeVariant(key=key, content={})
        version.variants.append(variant)
    variant.content = content_to_dict(content)
    variant.compiled_html = compiled.html if compiled else None
    variant.compiled_text = compiled.text if compiled else None
    _touch(creative, version)
    session.flush()
    return version, [p for p in problems if p.severity is Severity.WARNING]


def add_variant(session: Session, creative_id: int, key: str) -> CreativeVersion:
    """A new segment variant, starting as a copy of the default variant."""
    creative = get_creative(session, creative_id)
    key = check_variant_key(key)
    if not key:
        raise CreativeError("Name the variant after its segment's slug, e.g. parents.")
    if creative.kind is not CreativeKind.EMAIL:
        raise CreativeError("Only emails have per-segment variants.")
    if any(v.key == key for v in creative.current_version.variants):
        raise CreativeError(f"There is already a variant for {key}.")
    version = editable_version(session, creative)
    default = version.variant("")
    version.variants.append(
        CreativeVariant(
            key=key,
            content=dict(default.content),
            compiled_html=default.compiled_html,
            compiled_text=default.compiled_text,
        )
    )
    _touch(creative, version)
    session.flush()
    return version


def remove_variant(session: Session, creative_id: int, key: str) -> CreativeVersion:
    creative = get_creative(session, creative_id)
    if not key:
        raise CreativeError("The default variant cannot be removed.")
    if not any(v.key == key for v in creative.current_version.variants):
        raise CreativeError(f"There is no variant for {key}.")
    version = editable_version(session, creative)
    version.variants = [v for v in version.variants if v.key != key]
    _touch(creative, version)
    session.flush()
    return version


def rename_creative(session: Session, creative_id: int, name: str) -> Creative:
    creative = get_creative(session, creative_id)
    name = " ".join(name.split())
    if not name:
        raise CreativeError("A creative needs a name.")
    creative.name = name
    return creative


def _touch(creative: Creative, version: CreativeVersion) -> None:
    from campaign_manager.core.db import utcnow

    now = utcnow()
    creative.updated_at = now
    version.updated_at = now
