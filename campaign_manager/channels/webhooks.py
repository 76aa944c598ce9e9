"""Checks shared by adapters that receive provider webhooks: freshness and JSON bodies.

Signatures themselves are provider-specific and live in each adapter. A genuine event that
arrives twice (a provider retrying, or someone replaying a captured request) is harmless
anyway: events are stored once per provider event id (see bounces.py).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from campaign_manager.channels.base import WebhookRejected

# A signed request older than this is refused, so a captured one cannot be replayed for long.
# Providers sign when they send, retries included, so an hour leaves room for slow queues.
MAX_AGE = timedelta(hours=1)
# Clocks differ a little; a timestamp further ahead than this is not believable.
MAX_CLOCK_SKEW = timedelta(minutes=5)


def check_timestamp(raw: Any, received_at: datetime) -> datetime:
    """The signed timestamp (Unix seconds) as a datetime, or WebhookRejected if stale."""
    try:
        signed_at = datetime.fromtimestamp(float(raw), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        raise WebhookRejected("the signature timestamp is missing or unreadable") from None
    if signed_at < received_at - MAX_AGE:
        raise WebhookRejected("the signature timestamp is too old; refusing a possible replay")
    if signed_at > received_at + MAX_CLOCK_SKEW:
        raise WebhookRejected("the signature timestamp is in the future")
    return signed_at


def parse_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise WebhookRejected("the body is not JSON", status=400) from None


def timestamp_to_datetime(value: Any, fallback: datetime) -> datetime:
    """A provider's event time (Unix seconds or ISO 8601), or `fallback` if unreadable."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(float(value), UTC)
        except (ValueError, OverflowError, OSError):
            return fallback
    if isinstance(value, str) and value:
        text = value.replace("Z", "+00:00")
        # Some providers send 7 fractional digits (.NET ticks); Python reads up to 6.
        head, dot, rest = text.partition(".")
        if dot:
            digits = "".join(c for c in rest if c.isdigit())
            zone = rest[len(digits) :]
            text = f"{head}.{digits[:6]}{zone}"
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            return fallback
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return fallback
