"""`campaign-manager serve`: the web app, the scheduler and a worker in one process."""

import os
import signal
import socket
import subprocess
import sys
import time
from datetime import timedelta

import pytest
import requests
from sqlalchemy import func, select

from campaign_manager.campaigns.models import Campaign, CampaignStatus, Delivery, DeliveryStatus
from campaign_manager.core.db import utcnow
from tests.conftest import TEST_SECRET
from tests.schedulers.campaign_kit import add_contact, email_campaign


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.sqlite_only
def test_serve_runs_the_web_app_and_sends_a_due_step(db, users, database_url, tmp_path):
    email_campaign(db, created_by_id=users["marketer"].id, run_at=utcnow() + timedelta(seconds=2))
    for index in range(3):
        add_contact(db, f"student{index}@example.org")
    db.commit()
    port = free_port()
    config = tmp_path / "serve.toml"
    config.write_text(
        f"""[app]
instance_path = "{(tmp_path / "instance").as_posix()}"
secret_key = "{TEST_SECRET}"
base_url = "https://cm.example.org"
postal_address = "Collision Careers Coalition, 1200 Main St, Columbus, OH 43215"
[database]
url = "{database_url}"
[scheduler]
reconcile_seconds = 1.0
[delivery]
quiet_hours_start = "00:00"
quiet_hours_end = "00:00"
"""
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAMPAIGN_MANAGER_")}
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "campaign_manager",
            "--config",
            str(config),
            "serve",
            "--port",
            str(port),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    try:
        deadline = time.monotonic() + 60
        page = None
        while time.monotonic() < deadline:
            try:
                page = requests.get(f"http://127.0.0.1:{port}/login", timeout=2)
                break
            except requests.ConnectionError:
                time.sleep(0.2)
        assert page is not None and page.status_code == 200 and "Sign in" in page.text

        def sent() -> int:
            db.expire_all()
            return db.scalar(
                select(func.count())
                .select_from(Delivery)
                .where(Delivery.status == DeliveryStatus.SENT)
            )

        while sent() < 3 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert sent() == 3, (tmp_path / "serve.log").read_text()[-2000:]
        assert db.scalar(select(Campaign.status)) in (
            CampaignStatus.RUNNING,
            CampaignStatus.COMPLETED,
        )
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
