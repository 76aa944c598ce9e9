"""What every HTTP adapter shares: one requests.Session per account, timeouts on every call,
and the mapping of transport failures and generic status codes to outcomes.

Provider-specific answers (error codes inside a 200, throttling subcodes) are mapped by the
adapter itself before it falls back to `outcome_for_status`.
"""

from __future__ import annotations

import email.utils
import json
from datetime import UTC, datetime
from typing import Any

import requests

from campaign_manager import __version__
from campaign_manager.channels.base import Failed, RetryLater, SendResult

USER_AGENT = f"CampaignManager/{__version__} (+https://github.com/campaign-manager)"
# When a provider says "slow down" without saying for how long.
DEFAULT_RETRY_SECONDS = 60.0
MAX_RETRY_SECONDS = 24 * 3600.0


def new_session(extra_headers: dict[str, str] | None = None) -> requests.Session:
    session = requests.Session()
    session.headers["User-Agent"] = USER_AGENT
    if extra_headers:
        session.headers.update(extra_headers)
    return session


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date (RFC 9110)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), MAX_RETRY_SECONDS)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return min(max(seconds, 0.0), MAX_RETRY_SECONDS)


def seconds_until_epoch(reset: str | None, now: datetime | None = None) -> float | None:
    """Seconds until a rate-limit reset given as a Unix timestamp (X, Mastodon-style headers)."""
    if not reset:
        return None
    try:
        at = float(reset)
    except ValueError:
        # Mastodon sends an ISO 8601 time in X-RateLimit-Reset.
        try:
            when = datetime.fromisoformat(reset.replace("Z", "+00:00"))
        except ValueError:
            return None
        at = when.timestamp()
    seconds = at - (now or datetime.now(UTC)).timestamp()
    return min(max(seconds, 0.0), MAX_RETRY_SECONDS)


def json_or_none(response: requests.Response) -> Any | None:
    """The JSON body, or None when the provider sent something else (an HTML error page)."""
    try:
        return response.json()
    except (ValueError, json.JSONDecodeError):
        return None


def outcome_for_status(response: requests.Response, reason: str) -> SendResult:
    """The generic meaning of an HTTP status, used after provider-specific checks."""
    status = response.status_code
    if status == 429:
        wait = parse_retry_after(response.headers.get("Retry-After"))
        return RetryLater(wait if wait is not None else DEFAULT_RETRY_SECONDS, reason)
    if status == 401:
        return Failed(reason, permanent=True, needs_reconnect=True)
    if status >= 500 or status in (408, 425):
        wait = parse_retry_after(response.headers.get("Retry-After"))
        return RetryLater(wait if wait is not None else DEFAULT_RETRY_SECONDS, reason)
    return Failed(reason, permanent=True)


def outcome_for_transport_error(error: requests.RequestException) -> SendResult:
    """Timeouts and connection failures: the request may not have arrived, so retry later.

    Whether a retry risks a duplicate is the engine's call (it knows if the adapter is
    idempotent); the adapter only reports what happened, including `maybe_delivered`.
    """
    if isinstance(error, requests.ConnectTimeout | requests.ConnectionError) and not isinstance(
        error, requests.ReadTimeout
    ):
        return RetryLater(DEFAULT_RETRY_SECONDS, "could not connect to the provider")
    if isinstance(error, requests.Timeout):
        # The request went out; the provider may have acted on it before we gave up.
        return RetryLater(
            DEFAULT_RETRY_SECONDS, "the provider did not answer in time", maybe_delivered=True
        )
    return Failed(f"request failed: {type(error).__name__}", permanent=False)


def requested_wait(
    response: requests.Response, reset_header: str | None = None, now: datetime | None = None
) -> float:
    """Seconds the provider asked us to wait before the next call.

    Retry-After first; then, for providers that announce a rate-limit window instead, the
    reset time in `reset_header` (a Unix timestamp or ISO time); else the default wait.
    """
    wait = parse_retry_after(response.headers.get("Retry-After"), now)
    if wait is None and reset_header:
        wait = seconds_until_epoch(response.headers.get(reset_header), now)
    return DEFAULT_RETRY_SECONDS if wait is None else wait


def error_snippet(response: requests.Response, limit: int = 200) -> str:
    """The start of a non-JSON error body, on one line, for a readable failure reason."""
    text = " ".join(response.text.split())
    return text[:limit] + ("…" if len(text) > limit else "")
