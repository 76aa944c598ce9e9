"""Workers killed with SIGKILL mid-batch, again and again, on PostgreSQL with real processes.

Two schedulers and two workers send a campaign to an SMTP sink; one worker is killed
several times while it sends. Afterwards every delivery is terminal and the sink saw each
Message-ID at most once.
"""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from campaign_manager.campaigns.models import DeliveryStatus
from campaign_manager.core.db import utcnow
from tests.reliability.engine import (
    PATIENCE_SECONDS,
    EngineProcesses,
    add_students,
    assert_finished_once_each,
    message_ids,
    record_figures,
    slow_sink,
    unfinished,
    wait_until,
    write_config,
)
from tests.schedulers.campaign_kit import email_campaign

pytestmark = [pytest.mark.postgresql_only, pytest.mark.slow, pytest.mark.reliability]

RECIPIENTS = 300
KILLS = 4


def test_killed_workers_lose_nothing_and_send_nothing_twice(db, users, database_url, tmp_path):
    sink = slow_sink()
    email_campaign(
        db,
        created_by_id=users["marketer"].id,
        smtp_port=sink.port,
        run_at=utcnow() + timedelta(seconds=2),
    )
    add_students(db, RECIPIENTS)

    engine = EngineProcesses(write_config(tmp_path, database_url), tmp_path / "engine.log")
    engine.start("scheduler")
    engine.start("scheduler")
    engine.start("worker")
    victim = engine.start("worker")
    try:
        # Wait until sending has started, then kill one worker mid-run, several times.
        assert wait_until(lambda: sink.handler.messages, PATIENCE_SECONDS), "nothing was sent: " + (
            engine.output()
        )
        for _ in range(KILLS):
            time.sleep(0.4)
            engine.kill(victim)
            victim = engine.start("worker")
        wait_until(lambda: not unfinished(db), PATIENCE_SECONDS, step=0.2)
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
    record_figures("worker-sigkill", {**figures, "kills": KILLS})
