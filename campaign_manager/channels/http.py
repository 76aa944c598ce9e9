"""What every HTTP adapter shares: one requests.Session per account, timeouts on every call,
and the mapping of transport failures and generic status codes to outcomes.

Provider-specific answers (error codes inside a 200, throttling subcodes) are mapped by the
adapter itself before it falls back to `outcome_for_status`.
"""

from __future__ import annotations

import email.utils
import json
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import urlsplit

import requests
import urllib3

from campaign_manager import __version__
from campaign_manager.channels.base import (
    AdapterConfig,
    ConnectionCheckFailed,
    Failed,
    RetryLater,
    SendResult,
)

logger = logging.getLogger(__name__)

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
    if _failed_before_sending(error):
        return RetryLater(DEFAULT_RETRY_SECONDS, "could not connect to the provider")
    if isinstance(error, requests.Timeout):
        # The request went out; the provider may have acted on it before we gave up.
        return RetryLater(
            DEFAULT_RETRY_SECONDS, "the provider did not answer in time", maybe_delivered=True
        )
    if isinstance(error, requests.ConnectionError):
        # Connected, and the line dropped (a reset, a hang-up) before the answer: the
        # request may have been acted on, exactly as with a timeout.
        return RetryLater(
            DEFAULT_RETRY_SECONDS,
            "the connection dropped before the provider answered",
            maybe_delivered=True,
        )
    return Failed(f"request failed: {type(error).__name__}", permanent=False)


# What urllib3 raises when no connection was made, so no byte of the request was sent.
_NOT_CONNECTED = (
    urllib3.exceptions.NewConnectionError,  # refused, unreachable, no such host
    urllib3.exceptions.ConnectTimeoutError,
)


def _failed_before_sending(error: requests.RequestException) -> bool:
    if isinstance(error, requests.ConnectTimeout | requests.exceptions.SSLError):
        return True  # TLS fails in the handshake, before the request is written
    if not isinstance(error, requests.ConnectionError):
        return False
    cause = error.args[0] if error.args else None
    # requests wraps urllib3's MaxRetryError, whose reason is the underlying failure.
    reason = getattr(cause, "reason", cause)
    return isinstance(reason, _NOT_CONNECTED)


def rate_limit_wait(
    response: requests.Response, *, remaining_header: str, reset_header: str
) -> float | None:
    """Seconds until the provider's window resets, when its rate-limit headers say the
    budget is spent (remaining 0); None while requests are left or the headers are absent.

    The reset header may be a Unix time or an ISO 8601 time (see `seconds_until_epoch`).
    """
    remaining = response.headers.get(remaining_header)
    if remaining is None or remaining.strip() not in ("0", "0.0"):
        return None
    return seconds_until_epoch(response.headers.get(reset_header))


def rate_limited(response: requests.Response, reason: str, *, reset_header: str = "") -> RetryLater:
    """A throttled answer: wait as long as Retry-After says, else until the provider's own
    reset header, else a default pause."""
    return RetryLater(requested_wait(response, reset_header), reason)


REDACTED = "[redacted]"
# Provider messages end up in delivery records and the UI; long HTML error pages do not.
MAX_REASON_LENGTH = 300


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret replaced, shortened to a readable length.

    Provider error messages sometimes echo what they were sent; an outcome's reason must
    never carry a token or password.
    """
    for secret in sorted((s for s in secrets if s and len(s) >= 4), key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    text = " ".join(text.split())
    if len(text) > MAX_REASON_LENGTH:
        text = text[: MAX_REASON_LENGTH - 1] + "…"
    return text


class StopSending(Exception):
    """Ends a multi-step send (upload media, then post) early with its outcome."""

    def __init__(self, outcome: SendResult) -> None:
        super().__init__(getattr(outcome, "reason", "stopped"))
        self.outcome = outcome


def connection_check_failed(outcome: SendResult) -> ConnectionCheckFailed:
    """The `check_connection` form of an outcome that is not `Sent`."""
    reason = getattr(outcome, "reason", "the provider refused the request")
    return ConnectionCheckFailed(reason, needs_reconnect=getattr(outcome, "needs_reconnect", False))


class HttpAdapter:
    """The plumbing an HTTP adapter shares: its one session, timeouts on every call,
    credentials it may refresh, and reasons scrubbed of those credentials.

    Subclasses still declare the protocol's class attributes and implement `validate`,
    `send` and `check_connection`.
    """

    def __init__(self, config: AdapterConfig) -> None:
        self.config = config
        self.settings = config.settings
        # A copy: refreshed tokens replace these in memory and go to `save_credentials`.
        self.credentials: dict[str, str] = dict(config.credentials)
        self.session = new_session()
        # Set when a successful answer said the provider's budget is spent.
        self._held_until = 0.0

    def setting(self, name: str, default: str = "") -> str:
        value = self.settings.get(name)
        return default if value is None or value == "" else str(value).strip()

    def request(
        self, method: str, url: str, *, publishes: bool = False, **kwargs: Any
    ) -> requests.Response:
        """One HTTP call with the account's timeout; a transport failure stops the send.

        `publishes` marks the call that makes the message public: only when it times out
        may the message have gone out (`maybe_delivered`); a lost media upload posts nothing.
        """
        kwargs.setdefault("timeout", self.config.timeout_seconds)
        # Logged without the query string: upload URLs carry signed capabilities in it.
        where = urlsplit(url)._replace(query="", fragment="").geturl()
        try:
            response = self.session.request(method, url, **kwargs)
        except requests.RequestException as error:
            outcome = outcome_for_transport_error(error)
            if isinstance(outcome, RetryLater) and not publishes:
                outcome = RetryLater(outcome.after_seconds, outcome.reason)
            logger.info("%s %s failed: %s", method, where, type(error).__name__)
            raise StopSending(outcome) from None
        logger.debug("%s %s -> HTTP %s", method, where, response.status_code)
        return response

    def note_rate_limit(self, response: requests.Response, *headers: tuple[str, str]) -> None:
        """Remember a spent budget (remaining 0) from (remaining, reset) header pairs, so
        the next send waits for the reset instead of earning a 429."""
        waits = [
            rate_limit_wait(response, remaining_header=remaining, reset_header=reset)
            for remaining, reset in headers
        ]
        longest = max((wait for wait in waits if wait), default=0.0)
        if longest:
            self._held_until = max(self._held_until, time.time() + longest)

    def rate_limit_hold(self) -> RetryLater | None:
        """The wait still owed to a budget `note_rate_limit` saw spent, if any."""
        waiting = self._held_until - time.time()
        if waiting <= 0:
            return None
        provider = getattr(self, "display_name", "the provider")
        return RetryLater(waiting, f"the {provider} rate limit is spent until its reset")

    def reason(self, text: str) -> str:
        return redact(text, self.credentials.values())

    def store_credentials(self, new: Mapping[str, str]) -> None:
        """Keep refreshed credentials, in memory and in the account; empty values never
        replace stored ones (a provider that omits the refresh token keeps the old one)."""
        kept = {name: value for name, value in new.items() if value}
        self.credentials.update(kept)
        if kept:
            self.config.save_credentials(kept)

    def close(self) -> None:
        self.session.close()


@dataclass(frozen=True)
class OAuthTokens:
    access_token: str
    # Empty when the provider did not rotate it: the stored one stays valid.
    refresh_token: str
    expires_at: float | None


def refresh_oauth_token(
    adapter: HttpAdapter,
    token_url: str,
    *,
    refresh_token: str,
    client_id: str,
    client_secret: str = "",
    client_auth_in_body: bool,
) -> OAuthTokens:
    """The OAuth 2.0 refresh-token grant (RFC 6749 section 6).

    Confidential clients authenticate with HTTP Basic (`client_auth_in_body=False`) or with
    client_id/client_secret form fields, as the provider documents. A refused refresh
    token means a person must reconnect the account; the new tokens are stored at once,
    because providers that rotate refresh tokens invalidate the old one.
    """
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    auth = None
    if client_auth_in_body or not client_secret:
        form["client_id"] = client_id
        if client_secret:
            form["client_secret"] = client_secret
    else:
        auth = (client_id, client_secret)
    response = adapter.request("POST", token_url, data=form, auth=auth)
    body = json_or_none(response)
    if response.status_code == 200 and isinstance(body, dict) and body.get("access_token"):
        expires_in = body.get("expires_in")
        tokens = OAuthTokens(
            access_token=str(body["access_token"]),
            refresh_token=str(body.get("refresh_token") or ""),
            expires_at=time.time() + float(expires_in)
            if isinstance(expires_in, int | float)
            else None,
        )
        saved = {"access_token": tokens.access_token, "refresh_token": tokens.refresh_token}
        if tokens.expires_at is not None:
            saved["access_token_expires_at"] = str(int(tokens.expires_at))
        adapter.store_credentials(saved)
        return tokens
    if response.status_code in (400, 401) and isinstance(body, dict):
        # invalid_grant, invalid_request, invalid_client: the grant is gone for good.
        detail = adapter.reason(str(body.get("error_description") or body.get("error") or ""))
        raise StopSending(
            Failed(
                f"the provider refused to refresh the access token ({detail}); "
                "reconnect the account",
                needs_reconnect=True,
            )
        )
    if response.status_code == 200:
        raise StopSending(
            RetryLater(DEFAULT_RETRY_SECONDS, "the provider sent an unreadable token answer")
        )
    raise StopSending(
        outcome_for_status(
            response, f"refreshing the access token failed (HTTP {response.status_code})"
        )
    )


def access_token_expired(credentials: Mapping[str, str], *, margin_seconds: float = 60) -> bool:
    """True when a stored `access_token_expires_at` (Unix time) has passed or nearly so."""
    value = credentials.get("access_token_expires_at", "")
    try:
        return float(value) - margin_seconds <= time.time()
    except ValueError:
        return False


class OAuth2Adapter(HttpAdapter):
    """An HTTP adapter calling with an OAuth 2.0 bearer token it can refresh.

    Credentials: `access_token`, and for refreshing `refresh_token` and `client_secret`
    (with the `client_id` setting). The token is refreshed before a call when its stored
    expiry has passed, and once after a 401 (the refused call did nothing, so repeating
    it is safe). Without a refresh token a 401 means the account must be reconnected.
    """

    token_url: ClassVar[str]
    # How the provider wants confidential clients to authenticate at its token endpoint.
    client_auth_in_body: ClassVar[bool] = True

    def can_refresh(self) -> bool:
        return bool(self.credentials.get("refresh_token") and self.setting("client_id"))

    def refresh_access_token(self) -> None:
        refresh_oauth_token(
            self,
            self.token_url,
            refresh_token=self.credentials["refresh_token"],
            client_id=self.setting("client_id"),
            client_secret=self.credentials.get("client_secret", ""),
            client_auth_in_body=self.client_auth_in_body,
        )

    def authorized(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        publishes: bool = False,
        **kwargs: Any,
    ) -> requests.Response:
        if self.can_refresh() and access_token_expired(self.credentials):
            self.refresh_access_token()

        def attempt() -> requests.Response:
            bearer = {"Authorization": f"Bearer {self.credentials.get('access_token', '')}"}
            return self.request(
                method, url, headers={**(headers or {}), **bearer}, publishes=publishes, **kwargs
            )

        response = attempt()
        if response.status_code == 401 and self.can_refresh():
            self.refresh_access_token()
            response = attempt()
        return response


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
