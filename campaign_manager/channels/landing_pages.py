"""The built-in landing-page publisher: a web step that makes a page live at its time.

The page is served by this app at /p/<slug>; "sending" it records the approved version as
the live one from the step's moment. Publishing the same version again changes nothing,
so the adapter is idempotent.
"""

from __future__ import annotations

from typing import ClassVar

from campaign_manager.channels.base import (
    AdapterConfig,
    ChannelKind,
    ConnectionCheckFailed,
    Failed,
    Problem,
    RenderedMessage,
    SendResult,
    Sent,
    SettingField,
)
from creatives.errors import CreativeError
from creatives.landing import publish_landing_version


class LandingPageAdapter:
    name: ClassVar[str] = "landing_pages"
    kind: ClassVar[ChannelKind] = ChannelKind.WEB
    display_name: ClassVar[str] = "Landing pages on this site (/p/<slug>)"
    fields: ClassVar[tuple[SettingField, ...]] = ()
    idempotent: ClassVar[bool] = True

    def __init__(self, config: AdapterConfig) -> None:
        self.config = config

    def validate(self, message: RenderedMessage) -> list[Problem]:
        if not message.manifest.get("version_id"):
            return [Problem("manifest", "A landing page step names the page version to publish.")]
        return []

    def send(self, message: RenderedMessage, *, idempotency_key: str) -> SendResult:
        problems = self.validate(message)
        if problems:
            return Failed(problems[0].message)
        if self.config.session_factory is None:
            return Failed("the landing-page publisher needs the application database")
        session = self.config.session_factory()
        try:
            version = publish_landing_version(
                session, int(message.manifest["version_id"]), message.publish_at
            )
            slug = version.creative.slug
            session.commit()
        except CreativeError as exc:
            session.rollback()
            return Failed(str(exc))
        finally:
            session.close()
        return Sent(f"/p/{slug}")

    def check_connection(self) -> None:
        if self.config.session_factory is None:
            raise ConnectionCheckFailed("the landing-page publisher needs the application database")

    def close(self) -> None:
        return None
