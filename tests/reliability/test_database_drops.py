"""PostgreSQL terminates the workers' connections (`pg_terminate_backend`) while they send.

Two worker processes send a campaign to an SMTP sink; every few hundred milliseconds
every connection they hold is killed on the server side, whatever it is doing (claiming,
recording, idle in the pool). The workers must survive it, and every delivery must still
end terminal with nothing sent twice.
"""

from __future__ import annotations

import time

import pytest
from sqlalchemy import create_engine, text

from campaign_manager.campaigns.models import DeliveryStatus
from campaign_manager.core.db import utcnow
from schedulers import jobs
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
TERMINATIONS = 6
WORKERS_APP_NAME = "cm-reliability-worker"


def terminate_worker_connections(admin) -> int:
    with admin.connect() as connection:
        return len(
            connection.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = :name"
                ),
                {"name": WORKERS_APP_NAME},
            ).all()
        )


def test_terminated_database_connections_lose_nothing_and_send_nothing_twice(
    app, db, users, database_url, tmp_path
):
    sink = slow_sink(0.02)
    kit = email_campaign(
        db, created_by_id=users["marketer"].id, smtp_port=sink.port, run_at=utcnow()
    )
    add_students(db, RECIPIENTS)
    # The step is materialised here, so only the workers talk to the database.
    jobs.set_runtime(jobs.EngineRuntime(app.extensions["database"], app.extensions["settings"]))
    try:
        jobs.run_step(kit.step.id)
    finally:
        jobs.set_runtime(None)

    workers_url = f"{database_url}?application_name={WORKERS_APP_NAME}"
    engine = EngineProcesses(write_config(tmp_path, workers_url), tmp_path / "engine.log")
    admin = create_engine(database_url)
    terminated = 0
    try:
        first, second = engine.start("worker"), engine.start("worker")
        assert wait_until(lambda: sink.handler.messages, PATIENCE_SECONDS), (
            "nothing sent: " + engine.output()
        )
        # Kill whatever connections they hold, until TERMINATIONS of them have gone.
        deadline = time.monotonic() + PATIENCE_SECONDS
        while terminated < TERMINATIONS and time.monotonic() < deadline:
            time.sleep(0.1)
            terminated += terminate_worker_connections(admin)
        sent_while_terminating = len(sink.handler.messages)
        assert wait_until(lambda: not unfinished(db), PATIENCE_SECONDS, step=0.2), engine.output()
        # The workers lived through it: they reconnect instead of dying.
        assert first.poll() is None and second.poll() is None, engine.output()
    finally:
        engine.stop_all()
        sink.stop()
        admin.dispose()

    # The connections were found and killed while there was still sending to do.
    assert terminated >= TERMINATIONS and sent_while_terminating < RECIPIENTS
    figures = assert_finished_once_each(
        db, message_ids(m.data for m in sink.handler.messages), expected_total=RECIPIENTS
    )
    assert set(figures["statuses"]) <= {DeliveryStatus.SENT.value, DeliveryStatus.UNCERTAIN.value}
    record_figures(
        "postgresql-connections-terminated", {**figures, "connections_terminated": terminated}
    )
