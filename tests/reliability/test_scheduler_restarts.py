"""The scheduler is killed (SIGKILL) while it turns a due step into deliveries, and
restarted, several times, with a worker sending all along (PostgreSQL, real processes).

Materialisation writes one batch of rows per transaction; a restarted scheduler finds the
step due and not yet marked done, runs it again, and INSERT … ON CONFLICT DO NOTHING adds
only the rows still missing. Everyone gets exactly one delivery and one message.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from campaign_manager.campaigns.models import Delivery, DeliveryStatus, Step
from campaign_manager.core.db import utcnow
from schedulers.materialize import BATCH_SIZE
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

# Several materialisation batches, so a kill can land between two of them; only one
# contact in ten agreed to email, so the others' rows are written (skipped, with the
# reason) but cost no sending.
RECIPIENTS = 3 * BATCH_SIZE
CONSENT_EVERY = 10
KILLS = 3


def test_a_scheduler_killed_during_a_due_step_materialises_everyone_once(
    db, users, database_url, tmp_path
):
    sink = slow_sink(0)
    kit = email_campaign(
        db,
        created_by_id=users["marketer"].id,
        smtp_port=sink.port,
        run_at=utcnow() + timedelta(seconds=3),
    )
    add_students(db, RECIPIENTS, consent_every=CONSENT_EVERY)
    step_id = kit.step.id

    def progress() -> tuple[int, str | None]:
        db.expire_all()
        count = db.scalar(select(func.count()).select_from(Delivery))
        return count, db.scalar(select(Step.last_occurrence).where(Step.id == step_id))

    engine = EngineProcesses(write_config(tmp_path, database_url), tmp_path / "engine.log")
    kills_mid_step = 0
    try:
        engine.start("worker")
        scheduler = engine.start("scheduler")
        seen = 0
        deadline = time.monotonic() + PATIENCE_SECONDS
        # Kill the scheduler each time it has committed a new batch but not finished the
        # step; restart it at once.
        while kills_mid_step < KILLS and time.monotonic() < deadline:
            count, done = progress()
            if done:
                break
            if count > seen:
                engine.kill(scheduler)
                count, done = progress()
                if not done and count < RECIPIENTS:
                    kills_mid_step += 1
                seen = count
                scheduler = engine.start("scheduler")
            time.sleep(0.01)
        assert wait_until(lambda: progress()[1] == "once", PATIENCE_SECONDS), engine.output()
        assert wait_until(lambda: not unfinished(db), PATIENCE_SECONDS, step=0.2), engine.output()
    finally:
        engine.stop_all()
        sink.stop()

    assert kills_mid_step >= 1, "no kill landed while the step was being materialised"
    at_sink = message_ids(m.data for m in sink.handler.messages)
    figures = assert_finished_once_each(db, at_sink, expected_total=RECIPIENTS)
    emailed = RECIPIENTS // CONSENT_EVERY
    assert figures["statuses"] == {
        DeliveryStatus.SENT.value: emailed,
        DeliveryStatus.SKIPPED.value: RECIPIENTS - emailed,
    }
    recipients = Counter(m.rcpt_tos[0] for m in sink.handler.messages)
    assert len(recipients) == emailed and max(recipients.values()) == 1
    record_figures("scheduler-sigkill-during-step", {**figures, "kills": kills_mid_step})
