"""Fixtures for channel tests: accounts in the test database, and a sample email."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from campaign_manager.channels.accounts import create_account
from campaign_manager.channels.base import ChannelKind, RenderedMessage
from campaign_manager.channels.models import ChannelAccount

UNSUBSCRIBE_URL = "https://careers.example.org/unsubscribe/eyJjIjo0Mn0.signed-token"


def sample_email(**overrides: Any) -> RenderedMessage:
    """One campaign email as the engine would render it, non-ASCII on purpose."""
    values: dict[str, Any] = {
        "kind": ChannelKind.EMAIL,
        "to": "jordan.lee@student.example.org",
        "to_name": "Jordan Lée",
        "subject": "Bourses d’été: collision repair scholarships ✓",
        "text": "Hi Jordan,\n\nApply by May 1: https://careers.example.org/scholarships\n",
        "html": (
            "<p>Hi Jordan,</p>"
            '<p><a href="https://careers.example.org/scholarships">Apply by May 1</a></p>'
        ),
        "from_address": "news@careers.example.org",
        "from_name": "Collision Careers Coalition",
        "reply_to": "help@careers.example.org",
        "headers": {
            "Message-ID": "<delivery-42.step-7@careers.example.org>",
            "List-Unsubscribe": f"<{UNSUBSCRIBE_URL}>",
        },
        "tags": {"campaign": "spring-recruiting"},
    }
    values.update(overrides)
    return RenderedMessage(**values)


@pytest.fixture
def instance_path(app: Flask) -> Path:
    return app.extensions["settings"].instance_dir


@pytest.fixture
def make_account(db: Session) -> Callable[..., ChannelAccount]:
    """Create and commit an account through the real service."""

    def make(
        adapter: str,
        settings: dict[str, Any] | None = None,
        credentials: dict[str, Any] | None = None,
        name: str | None = None,
    ) -> ChannelAccount:
        account = create_account(
            db,
            adapter=adapter,
            display_name=name or f"Test {adapter}",
            settings=settings or {},
            credentials=credentials or {},
        )
        db.commit()
        return account

    return make
