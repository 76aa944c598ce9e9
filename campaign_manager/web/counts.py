"""Counts the busiest pages show, taken at most every few seconds and shown with their time.

The dashboard, a running campaign's progress and the segment builder's live count each
count up to millions of rows. The plans are already index-only scans: the cost is counting
every row on every request (370 ms to 1 s per page at a million deliveries). So each of
these pages keeps what it counted, with the moment it was counted, for
`[server] counts_max_age_seconds`, and says "as of" that moment.

Why a cache and not a counters table kept in the delivery engine's transactions: a
counters table would make every outcome write contend on one row per step and status,
and every path that changes a delivery's status (worker, retries, reconciliation,
cancellation, erasure, imports) would have to keep it right forever. A cache is one place,
cannot drift (each refresh is an exact count), and a few seconds is well inside the
campaign page's own polling interval. Each process keeps its own; nothing is shared.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from flask import Flask, current_app

from campaign_manager.core.db import utcnow

log = logging.getLogger(__name__)

T = TypeVar("T")
# Entries kept at most; the oldest go first (segment rules being edited make many keys).
MAX_ENTRIES = 256


@dataclass(frozen=True)
class Counted(Generic[T]):
    value: T
    # When the counting ran (UTC): pages show it next to the numbers.
    taken_at: datetime

    @property
    def as_of(self) -> str:
        """The moment, to the second, as pages print it next to the numbers."""
        return self.taken_at.strftime("%Y-%m-%d %H:%M:%S UTC")


class CountsCache:
    """Values by key, each recomputed once it is older than `max_age_seconds` (0: always).

    With `refresh_in_background`, a value past its age but younger than twice that is
    still answered at once (with its own "as of" time) while one background thread per key
    counts again. A page under steady use then never waits for a count: at a million
    contacts the segment builder's one counting request in five seconds was its p95
    (`bench web`). Only counts that need nothing from the request may do this: the
    background thread has an app context and a session of its own, but no request.
    """

    def __init__(self, max_age_seconds: float) -> None:
        self.max_age_seconds = max_age_seconds
        # Seconds that only go forward; tests move it on instead of sleeping.
        self.clock: Callable[[], float] = time.monotonic
        self._entries: dict[Hashable, tuple[float, Counted]] = {}
        self._refreshing: dict[Hashable, threading.Thread] = {}
        self._lock = threading.Lock()

    def get(
        self, key: Hashable, count: Callable[[], T], *, refresh_in_background: bool = False
    ) -> Counted[T]:
        now = self.clock()
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                taken, counted = found
                if now - taken < self.max_age_seconds:
                    return counted
                if refresh_in_background and now - taken < 2 * self.max_age_seconds:
                    self._start_refresh(key, count)
                    return counted
        # Counted outside the lock: two requests may both count at expiry, which is cheaper
        # than making every other page wait on one slow count.
        counted = Counted(count(), utcnow())
        self._store(key, now, counted)
        return counted

    def _start_refresh(self, key: Hashable, count: Callable[[], T]) -> None:
        """One background count per key at a time; the caller holds the lock."""
        if key in self._refreshing:
            return
        thread = threading.Thread(
            target=self._refresh,
            args=(current_app._get_current_object(), key, count),
            name="counts-refresh",
            daemon=True,
        )
        self._refreshing[key] = thread
        thread.start()

    def join_refreshes(self, timeout: float | None = None) -> None:
        """Wait for the background counts under way (tests, and a clean shutdown)."""
        with self._lock:
            threads = list(self._refreshing.values())
        for thread in threads:
            thread.join(timeout)

    def _refresh(self, app: Flask, key: Hashable, count: Callable[[], T]) -> None:
        started = self.clock()
        try:
            with app.app_context():
                counted = Counted(count(), utcnow())
            self._store(key, started, counted)
        except Exception:
            # The stale value stays; the next request after it expires counts in the open.
            log.exception("counting %r in the background failed", key)
        finally:
            with self._lock:
                self._refreshing.pop(key, None)

    def _store(self, key: Hashable, taken: float, counted: Counted) -> None:
        if self.max_age_seconds <= 0:
            return
        with self._lock:
            self._entries[key] = (taken, counted)
            while len(self._entries) > MAX_ENTRIES:
                del self._entries[next(iter(self._entries))]


def counts_cache() -> CountsCache:
    """The running app's cache (one per app, so each test's app starts empty)."""
    cache = current_app.extensions.get("counts_cache")
    if cache is None:
        settings = current_app.extensions["settings"]
        cache = current_app.extensions.setdefault(
            "counts_cache", CountsCache(settings.server.counts_max_age_seconds)
        )
    return cache
