"""When to try a delivery again: exponential backoff with full jitter, capped attempts."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6
    base_seconds: float = 30.0
    max_seconds: float = 6 * 3600.0

    def delay(
        self, attempts: int, provider_says: float | None = None, rng: random.Random | None = None
    ) -> float:
        """Seconds to wait after `attempts` tries; never sooner than the provider asked.

        Full jitter (a random wait up to the exponential ceiling) spreads retries from many
        workers instead of having them hit the provider together.
        """
        ceiling = min(self.max_seconds, self.base_seconds * (2 ** max(attempts - 1, 0)))
        jittered = (rng or random).uniform(ceiling / 2, ceiling)
        return max(jittered, provider_says or 0.0)

    def next_attempt_at(
        self,
        now: datetime,
        attempts: int,
        provider_says: float | None = None,
        rng: random.Random | None = None,
    ) -> datetime:
        return now + timedelta(seconds=self.delay(attempts, provider_says, rng))

    def exhausted(self, attempts: int) -> bool:
        return attempts >= self.max_attempts

    def retry_at(
        self,
        now: datetime,
        attempts: int,
        provider_says: float | None = None,
        rng: random.Random | None = None,
    ) -> datetime | None:
        """When to try again after `attempts` failed tries, or None when they are used up."""
        if self.exhausted(attempts):
            return None
        return self.next_attempt_at(now, attempts, provider_says, rng)
