"""Fixtures for the outgoing webhook tests: a live receiver (tests/webhook_receiver.py),
the sender, and subscriptions to the receiver."""

from __future__ import annotations

import pytest

# Engine fixtures (a running campaign with a step, scripted adapters) shared with the
# delivery tests, so delivery events come from the real worker.
from tests.schedulers.conftest import (  # noqa: F401
    adapters,
    add_deliveries,
    channel_accounts,
    creative,
    renderer,
    running_step,
)
from tests.webhook_receiver import clock, make_sender, receiver  # noqa: F401


@pytest.fixture
def subscribe(db, receiver):  # noqa: F811 - the fixture imported above
    """A subscription to `receiver` for the given event types; the receiver learns the secret."""
    from campaign_manager.core.webhooks import create_subscription

    def make(*event_types: str, url: str | None = None):
        subscription, secret = create_subscription(
            db, url=url or receiver.url, event_types=list(event_types), description="Partner CRM"
        )
        db.commit()
        receiver.secret = secret
        return subscription

    return make
