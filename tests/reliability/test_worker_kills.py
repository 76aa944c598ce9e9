"""Workers killed with SIGKILL mid-batch, again and again, on PostgreSQL with real processes.

Two schedulers and two workers send a campaign to an SMTP sink; one worker is killed
several times while it sends. Afterwards every delivery is terminal and the sink saw each
Message-ID at most once.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import pytest

from campaign_manager.campaigns.models import DeliveryStatus
from campaign_manager.core.db import utcnow
from tests.channels.smtp_server import Handler, SmtpServer
from tests.reliability.engine import (
    EngineProcesses,
    assert_finished_once_each,
    message_ids,
    unfinished,
    wait_until,
    write_config,
)
from tests.schedulers.campaign_kit import add_contact, email_campaign

pytestmark = [pytest.mark.postgresql_only, pytest.mark.slow, pytest.mark.reliability]

RECIPIENTS = 300
KILLS = 4


class SlowHandler(Handler):
    """A sink that takes a little time per message, so kills land mid-batch."""

    async def handle_DATA(self, server, session, envelope):
        await asyncio.sleep(0.01)
        return await super().handle_DATA(server, session, envelope)


def test_killed_workers_lose_nothing_and_send_nothing_twice(db, users, database_url, tmp_path):
    sink = SmtpServer()
    sink.handler = sink.controller.handler = SlowHandler()
    sink.start()
    email_campaign(
        db,
        created_by_id=users["marketer"].id,
        smtp_port=sink.port,
        run_at=utcnow() + timedelta(seconds=2),
    )
    for index in range(RECIPIENTS):
        add_contact(db, f"student{index}@example.org", first_name=f"S{index}")
    db.commit()

    engine = EngineProcesses(write_config(tmp_path, database_url), tmp_path / "engine.log")
    engine.start("scheduler")
    engine.start("scheduler")
    engine.start("worker")
    victim = engine.start("worker")
    try:
        # Wait until sending has started, then kill one worker mid-run, several times.
        assert wait_until(lambda: sink.handler.messages, 30), "nothing was sent: " + (
            engine.output()
        )
        for _ in range(KILLS):
            time.sleep(0.4)
            engine.kill(victim)
            victim = engine.start("worker")
        wait_until(lambda: not unfinished(db), 60, step=0.2)
    finally:
        engine.stop_all()
        sink.stop()

    output = engine.output(100_000)
    figures = assert_finished_once_each(
        db, message_ids(m.data for m in sink.handler.messages), expected_total=RECIPIENTS
    )
    assert set(figures["statuses"]) <= {DeliveryStatus.SENT.value, DeliveryStatus.UNCERTAIN.value}
    # Two schedulers were started: one ran, the other waited for the lock.
    assert "another scheduler" in output and "is running; waiting" in output
