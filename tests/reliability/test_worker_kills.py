"""Workers killed with SIGKILL mid-batch, again and again, on PostgreSQL with real processes.

Two schedulers and two workers send a campaign to an SMTP sink; one worker is killed
several times while it sends. Afterwards every delivery is terminal and the sink saw each
Message-ID at most once.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from campaign_manager.campaigns.models import Delivery, DeliveryStatus
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
SINK_DELAY_SECONDS = 0.03


def test_killed_workers_lose_nothing_and_send_nothing_twice(db, users, database_url, tmp_path):
    # Slow enough that the kills land while there is still sending to do: the engine got
    # faster, and with the sink's old 10 ms the campaign could finish before the last kill.
    sink = slow_sink(SINK_DELAY_SECONDS)
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
        kills_mid_batch = 0
        for _ in range(KILLS):
            # Kill it while it holds a claimed batch (a new process needs a moment to start).
            pid = victim.pid
            kills_mid_batch += wait_until(lambda pid=pid: holds_a_batch(db, pid), 10, step=0.05)
            engine.kill(victim)
            victim = engine.start("worker")
        assert kills_mid_batch >= 2, f"only {kills_mid_batch} kills landed mid-batch"
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
    record_figures("worker-sigkill", {**figures, "kills": kills_mid_batch})


def holds_a_batch(db, pid: int) -> bool:
    """Whether the worker process `pid` has deliveries claimed (worker names hold the pid)."""
    db.expire_all()
    return bool(
        db.scalar(
            select(func.count())
            .select_from(Delivery)
            .where(Delivery.status == DeliveryStatus.SENDING, Delivery.worker.like(f"%:{pid}:%"))
        )
    )
