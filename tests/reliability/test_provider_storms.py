"""A Mastodon instance answering with storms of 429 and 5xx, with Retry-After.

The fake instance behaves as Mastodon documents it
(https://docs.joinmastodon.org/methods/statuses/#create,
https://docs.joinmastodon.org/api/rate-limits/): 429 with `{"error": "Too many requests"}`,
X-RateLimit-* headers and Retry-After; 503 pages from its proxy with Retry-After; 502
without it; and 504 from a gateway that timed out although the status was created — a
repeat with the same Idempotency-Key then returns that status instead of a second one.

The engine must send every post exactly once, and must not call the instance again
before the time a Retry-After asked for.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import parse_qs

import pytest
import responses

from campaign_manager.campaigns.models import (
    Campaign,
    CampaignStatus,
    Delivery,
    DeliveryStatus,
    Step,
    TriggerKind,
)
from campaign_manager.channels.base import ChannelKind, RenderedMessage
from creatives.versions import create_creative
from tests.channels.test_mastodon import BASE, INSTANCE, STATUS, TOKEN
from tests.reliability.engine import (
    MovableClock,
    account_adapters,
    assert_finished_once_each,
    drain,
    in_process_worker,
    record_figures,
)

pytestmark = pytest.mark.reliability

POSTS = 40
SEED = 429


@dataclass
class StormyInstance:
    """A Mastodon instance under load: which answer each POST gets is drawn from a seed."""

    clock: MovableClock
    rng: random.Random = field(default_factory=lambda: random.Random(SEED))
    # Idempotency-Key -> the status created for it (what Mastodon keeps for an hour).
    statuses: dict[str, dict] = field(default_factory=dict)
    answers: Counter[str] = field(default_factory=Counter)
    # (when, earliest time the instance asked to be called again)
    calls: list[tuple[datetime, datetime | None]] = field(default_factory=list)
    not_before: datetime | None = None

    def post_status(self, request):
        now = self.clock()
        self.calls.append((now, self.not_before))
        key = request.headers["Idempotency-Key"]
        if key in self.statuses:
            self.answers["repeat answered from the Idempotency-Key"] += 1
            return 200, {}, json.dumps(self.statuses[key])
        roll = self.rng.random()
        if roll < 0.25:
            return self._wait(
                now,
                429,
                30,
                json.dumps({"error": "Too many requests"}),
                {
                    "X-RateLimit-Limit": "300",
                    "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Reset": (now + timedelta(seconds=30)).isoformat(),
                },
            )
        if roll < 0.35:
            return self._wait(now, 503, 20, "<html><body>503 Service Unavailable</body></html>")
        if roll < 0.40:
            self.answers["502"] += 1
            return 502, {}, "<html><body>502 Bad Gateway</body></html>"
        text = parse_qs(request.body)["status"][0]
        status = {**STATUS, "id": str(10**17 + len(self.statuses)), "content": f"<p>{text}</p>"}
        self.statuses[key] = status
        if roll < 0.50:
            # The gateway gave up waiting, but the status exists.
            self.answers["504 after creating"] += 1
            return 504, {}, "<html><body>504 Gateway Time-out</body></html>"
        self.answers["200"] += 1
        return 200, {"X-RateLimit-Remaining": "250"}, json.dumps(status)

    def _wait(self, now, code, seconds, body, headers=None):
        self.answers[str(code)] += 1
        self.not_before = max(self.not_before or now, now + timedelta(seconds=seconds))
        return code, {"Retry-After": str(seconds), **(headers or {})}, body


class PostRenderer:
    """Each delivery's post says which delivery it is, so a duplicate shows at the instance."""

    def render(self, session, delivery):
        return RenderedMessage(
            kind=ChannelKind.SOCIAL,
            text=f"Collision repair scholarships are open (post {delivery.recipient_key})",
        )


@pytest.fixture
def social_deliveries(db, users, make_account):
    account = make_account(
        "mastodon", settings={"instance_url": BASE}, credentials={"access_token": TOKEN}
    )
    creative = create_creative(db, "Careers post", "social")
    campaign = Campaign(
        name="Collision careers", status=CampaignStatus.RUNNING, created_by_id=users["marketer"].id
    )
    step = Step(
        campaign=campaign,
        name="Mastodon posts",
        channel_account_id=account.id,
        channel_kind="social",
        creative_id=creative.id,
        trigger=TriggerKind.AT,
    )
    db.add_all([campaign, step])
    db.flush()
    db.add_all(
        Delivery(
            step_id=step.id,
            occurrence="once",
            recipient_key=f"target-{index}",
            channel_account_id=account.id,
            status=DeliveryStatus.PENDING,
            next_attempt_at=campaign.created_at,
        )
        for index in range(POSTS)
    )
    db.commit()


@responses.activate
def test_429_and_5xx_storms_post_everything_once_and_honour_retry_after(
    app, db, social_deliveries, db_backend
):
    clock = MovableClock()
    instance = StormyInstance(clock)
    responses.get(f"{BASE}/api/v2/instance", json=INSTANCE)
    responses.add_callback(responses.POST, f"{BASE}/api/v1/statuses", callback=instance.post_status)
    adapters = account_adapters(app)
    worker = in_process_worker(app, adapters, clock=clock, max_attempts=10, renderer=PostRenderer())
    try:
        drain(worker, db, clock)
    finally:
        adapters.close()

    at_instance = Counter(status["content"] for status in instance.statuses.values())
    figures = assert_finished_once_each(
        db, Counter(s["id"] for s in instance.statuses.values()), expected_total=POSTS
    )
    assert len(at_instance) == POSTS and max(at_instance.values()) == 1
    assert figures["lost"] == 0 and figures["statuses"] == {"sent": POSTS}
    # The storm really happened, and every kind of answer was met.
    assert {"429", "503", "502", "504 after creating"} <= set(instance.answers)
    early = [
        (when, not_before)
        for when, not_before in instance.calls
        if not_before and when < not_before
    ]
    assert not early, f"{len(early)} calls came before the Retry-After time, first {early[0]}"
    record_figures(f"provider-storms-{db_backend}", {**figures, "answers": dict(instance.answers)})
