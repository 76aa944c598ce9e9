"""Sample messages for channel tests."""

from __future__ import annotations

from typing import Any

from campaign_manager.channels.base import ChannelKind, RenderedMessage

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
