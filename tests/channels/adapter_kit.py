"""Building adapters for contract tests, and checks every adapter's tests share."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from campaign_manager.channels.base import AdapterConfig, ChannelKind, MediaItem, RenderedMessage

# The smallest valid PNG (1x1, transparent): real bytes, so uploads carry a real file.
PNG_BYTES = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


@dataclass
class Built:
    adapter: Any
    saved: list[dict[str, str]] = field(default_factory=list)


def build(adapter_class: type, settings: Mapping[str, Any], credentials: Mapping[str, str]):
    """The adapter on a config whose `save_credentials` records what it was given."""
    built = Built(adapter=None)
    config = AdapterConfig(
        settings=dict(settings),
        credentials=dict(credentials),
        save_credentials=lambda new: built.saved.append(dict(new)),
        timeout_seconds=7.5,
        account_label="test account",
    )
    built.adapter = adapter_class(config)
    return built


def image(name: str = "poster.png", alt: str = "Two technicians repairing a bumper") -> MediaItem:
    return MediaItem(
        filename=name, content_type="image/png", data=PNG_BYTES, alt_text=alt, width=1, height=1
    )


def social(text: str, *, link: str = "", media: tuple[MediaItem, ...] = ()) -> RenderedMessage:
    return RenderedMessage(kind=ChannelKind.SOCIAL, text=text, link=link, media=media)


def assert_secrets_absent(secrets: list[str], outcome: Any, caplog: pytest.LogCaptureFixture):
    """No credential in the outcome's reason nor in any log record of the test."""
    text = repr(outcome) + "\n".join(
        record.getMessage() + repr(record.args) for record in caplog.records
    )
    for secret in secrets:
        assert secret not in text


def capture_all_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
