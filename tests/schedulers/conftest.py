"""Engine fixtures: a running campaign with one step, and a scriptable in-test adapter."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import timedelta

import pytest

from campaign_manager.campaigns.models import (
    Campaign,
    CampaignStatus,
    Delivery,
    DeliveryStatus,
    Step,
    TriggerKind,
)
from campaign_manager.channels.base import (
    ChannelKind,
    RenderedMessage,
    SendResult,
    Sent,
)
from campaign_manager.channels.models import RateLimits
from campaign_manager.core.db import utcnow
from schedulers.worker import RenderError


class ScriptedAdapter:
    """A real adapter object that records every message and answers from a script."""

    name = "scripted"
    kind = ChannelKind.EMAIL
    display_name = "Scripted (tests)"
    fields = ()

    def __init__(self, idempotent: bool = False) -> None:
        self.idempotent = idempotent
        self.sent: list[tuple[str, RenderedMessage]] = []
        self.script: deque[SendResult] = deque()

    def validate(self, message):
        return []

    def send(self, message, *, idempotency_key):
        self.sent.append((idempotency_key, message))
        if self.script:
            return self.script.popleft()
        return Sent(f"ext-{idempotency_key}")

    def check_connection(self):
        return None

    def close(self):
        return None


@dataclass
class Adapters:
    """The AdapterSource the worker asks for adapters and limits."""

    by_account: dict[int, ScriptedAdapter] = field(default_factory=dict)
    limits: dict[int, RateLimits] = field(default_factory=dict)

    def adapter(self, account_id):
        return self.by_account.setdefault(account_id, ScriptedAdapter())

    def rate_limits(self, account_id):
        return self.limits.get(account_id, RateLimits())

    def idempotent_account_ids(self, session):
        return [a for a, adapter in self.by_account.items() if adapter.idempotent]


class PlainRenderer:
    def render(self, session, delivery):
        if delivery.recipient_key == "broken":
            raise RenderError("template error on line 3")
        return RenderedMessage(
            kind=ChannelKind.EMAIL,
            to=delivery.recipient_key,
            subject=f"Hello {delivery.id}",
            text="Hi",
            headers={"Message-ID": f"<cm-delivery-{delivery.id}@example.org>"},
        )


@pytest.fixture
def adapters():
    return Adapters()


@pytest.fixture
def renderer():
    return PlainRenderer()


@pytest.fixture
def channel_accounts(make_account):
    """Two real (sandbox) channel accounts; the tests call them account 1 and account 2."""
    first = make_account("sandbox_email", name="Engine test email 1")
    second = make_account("sandbox_email", name="Engine test email 2")
    assert (first.id, second.id) == (1, 2), "a fresh database numbers accounts from 1"
    return first, second


@pytest.fixture
def creative(db):
    """A real (blank) creative the engine's steps can point at."""
    from creatives.versions import create_creative

    made = create_creative(db, "Engine test email", "email")
    db.commit()
    return made


@pytest.fixture
def running_step(db, users, channel_accounts, creative):
    campaign = Campaign(
        name="Collision careers", status=CampaignStatus.RUNNING, created_by_id=users["marketer"].id
    )
    step = Step(
        campaign=campaign,
        name="Students email",
        channel_account_id=channel_accounts[0].id,
        channel_kind="email",
        creative_id=creative.id,
        trigger=TriggerKind.AT,
        run_at=utcnow(),
    )
    db.add_all([campaign, step])
    db.commit()
    return step


@pytest.fixture
def add_deliveries(db, running_step):
    def add(count: int, *, account_id: int = 1, due_in: timedelta = timedelta(0), keys=None):
        now = utcnow()
        keys = keys or [f"person{i}@example.org" for i in range(count)]
        rows = [
            Delivery(
                step_id=running_step.id,
                occurrence="0",
                recipient_key=key,
                channel_account_id=account_id,
                status=DeliveryStatus.PENDING,
                next_attempt_at=now + due_in,
            )
            for key in keys
        ]
        db.add_all(rows)
        db.commit()
        return [row.id for row in rows]

    return add
