"""The guarantee, with real processes on PostgreSQL: a scheduler and two workers send a
campaign to an SMTP sink while one worker is killed with SIGKILL again and again.

Afterwards every delivery is terminal and the sink saw each Message-ID at most once.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from campaign_manager.campaigns.models import Delivery, DeliveryStatus
from campaign_manager.core.db import utcnow
from tests.channels.smtp_server import Handler, SmtpServer
from tests.conftest import TEST_SECRET
from tests.schedulers.campaign_kit import add_contact, email_campaign

pytestmark = [pytest.mark.postgresql_only, pytest.mark.slow]

RECIPIENTS = 300
KILLS = 4


class SlowHandler(Handler):
    """A sink that takes a little time per message, so kills land mid-batch."""

    async def handle_DATA(self, server, session, envelope):
        await asyncio.sleep(0.01)
        return await super().handle_DATA(server, session, envelope)


def write_config(folder: Path, database_url: str) -> Path:
    config = folder / "engine.toml"
    config.write_text(
        f"""
[app]
instance_path = "{(folder / "instance").as_posix()}"
secret_key = "{TEST_SECRET}"
base_url = "https://cm.example.org"
postal_address = "Collision Careers Coalition, 1200 Main St, Columbus, OH 43215"
log_level = "WARNING"

[database]
url = "{database_url}"

[delivery]
batch_size = 10
lease_seconds = 3.0
retry_base_seconds = 1.0

[scheduler]
reconcile_seconds = 1.0
""",
        encoding="utf-8",
    )
    return config


def start(config: Path, *command: str, log: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAMPAIGN_MANAGER_")}
    return subprocess.Popen(
        [sys.executable, "-m", "campaign_manager", "--config", str(config), *command],
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        env=env,
    )


def unfinished(db) -> int:
    db.expire_all()
    return db.scalar(
        select(func.count())
        .select_from(Delivery)
        .where(Delivery.status.in_([DeliveryStatus.PENDING, DeliveryStatus.SENDING]))
    )


def test_killed_workers_lose_nothing_and_send_nothing_twice(db, users, database_url, tmp_path):
    sink = SmtpServer()
    sink.handler = SlowHandler()
    sink.controller.handler = sink.handler
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

    config = write_config(tmp_path, database_url)
    log = tmp_path / "engine.log"
    schedulers = [start(config, "scheduler", log=log), start(config, "scheduler", log=log)]
    steady = start(config, "worker", log=log)
    victim = start(config, "worker", log=log)
    processes = [*schedulers, steady, victim]
    try:
        deadline = time.monotonic() + 60
        # Wait until sending has started, then kill one worker mid-run, several times.
        while not sink.handler.messages and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sink.handler.messages, "nothing was sent: " + log.read_text()[-3000:]
        for _ in range(KILLS):
            time.sleep(0.4)
            victim.send_signal(signal.SIGKILL)
            victim.wait(10)
            victim = start(config, "worker", log=log)
            processes.append(victim)
        while unfinished(db) and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
        sink.stop()

    output = log.read_text()
    assert unfinished(db) == 0, "deliveries left unfinished; log:\n" + output[-3000:]
    statuses = Counter(d.status for d in db.scalars(select(Delivery)))
    assert sum(statuses.values()) == RECIPIENTS
    assert set(statuses) <= {DeliveryStatus.SENT, DeliveryStatus.UNCERTAIN}
    message_ids = Counter(
        line.split(":", 1)[1].strip()
        for message in sink.handler.messages
        for line in message.data.decode().splitlines()
        if line.lower().startswith("message-id:")
    )
    assert message_ids and max(message_ids.values()) == 1, "a message was sent twice"
    # Every row marked sent really arrived; uncertain rows may or may not have.
    sent_ids = {
        f"<cm-delivery-{d.id}@careers.example.org>"
        for d in db.scalars(select(Delivery).where(Delivery.status == DeliveryStatus.SENT))
    }
    assert sent_ids <= set(message_ids)
    # Two schedulers were started: one ran, the other waited for the lock.
    assert "another scheduler" in output and "is running; waiting" in output
