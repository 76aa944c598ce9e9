"""The harness the fault-injection tests share: the engine as real processes (or in this
process with a clock the test moves), an SMTP sink, and the checks every scenario ends with.

Every scenario ends the same way: no delivery left pending or sending, and no Message-ID
(or provider id) seen twice at the sink.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from audiences.contacts import email_hash
from audiences.models import ConsentStatus, Contact, ContactRole
from campaign_manager.campaigns.models import Delivery, DeliveryStatus
from campaign_manager.core.db import utcnow
from schedulers import jobs
from schedulers.adapters import AccountAdapters
from schedulers.rendering import DeliveryRenderer
from schedulers.retry import RetryPolicy
from schedulers.worker import DeliveryWorker, WorkerSettings
from tests.channels.smtp_server import Handler, SmtpServer
from tests.conftest import TEST_SECRET

UNFINISHED = (DeliveryStatus.PENDING, DeliveryStatus.SENDING)
# How long to wait for engine processes before calling them stuck. Generous on purpose: a
# shared CI machine can take many seconds just to start a process; this bounds a hang, it
# does not measure speed.
PATIENCE_SECONDS = 180.0


# --- the engine as separate processes (PostgreSQL) -------------------------------------------


def write_config(folder: Path, database_url: str, *, max_attempts: int = 6) -> Path:
    """A config for engine processes: short leases and retries so a test sees them happen."""
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
max_attempts = {max_attempts}
# Quiet hours would defer a test's sends to tomorrow morning, depending on when it runs.
quiet_hours_start = "00:00"
quiet_hours_end = "00:00"

[scheduler]
reconcile_seconds = 1.0
""",
        encoding="utf-8",
    )
    return config


@dataclass
class EngineProcesses:
    """`campaign-manager scheduler` / `worker` processes sharing one config and one log."""

    config: Path
    log: Path
    processes: list[subprocess.Popen] = field(default_factory=list)

    def start(self, command: str) -> subprocess.Popen:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CAMPAIGN_MANAGER_")}
        process = subprocess.Popen(
            [sys.executable, "-m", "campaign_manager", "--config", str(self.config), command],
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
            env=env,
        )
        self.processes.append(process)
        return process

    def kill(self, process: subprocess.Popen) -> None:
        """SIGKILL: no clean-up, no last commit, exactly like a crash or the OOM killer."""
        process.send_signal(signal.SIGKILL)
        process.wait(10)

    def output(self, tail: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-tail:]

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


def wait_until(condition: Callable[[], object], timeout: float, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return bool(condition())


@dataclass
class SlowHandler(Handler):
    """An SMTP sink that takes a little time per message, so faults land mid-batch."""

    delay_seconds: float = 0.01

    async def handle_DATA(self, server, session, envelope):
        await asyncio.sleep(self.delay_seconds)
        return await super().handle_DATA(server, session, envelope)


def slow_sink(delay_seconds: float = 0.01) -> SmtpServer:
    sink = SmtpServer()
    sink.handler = sink.controller.handler = SlowHandler(delay_seconds=delay_seconds)
    return sink.start()


# --- the engine in this process, with a clock the test moves ---------------------------------


class MovableClock:
    """Now, plus however far the test has moved it: retries and Retry-After waits pass
    without the test sleeping through them."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return utcnow() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


def in_process_worker(
    app: Flask, adapters, *, clock: MovableClock, max_attempts: int = 6, renderer=None
) -> DeliveryWorker:
    settings = app.extensions["settings"]
    database = app.extensions["database"]
    jobs.set_runtime(jobs.EngineRuntime(database, settings))
    return DeliveryWorker(
        database,
        renderer or DeliveryRenderer(settings, app.extensions["token_signer"]),
        adapters,
        WorkerSettings(
            batch_size=10,
            lease_seconds=300,
            recover_every_seconds=0,
            retry=RetryPolicy(max_attempts=max_attempts, base_seconds=5),
        ),
        name="reliability-worker",
        clock=clock,
    )


def account_adapters(app: Flask) -> AccountAdapters:
    return AccountAdapters(app.extensions["database"], app.extensions["settings"].instance_dir)


def drain(worker: DeliveryWorker, db: Session, clock: MovableClock, *, max_batches: int = 400):
    """Run batches until nothing is left to send; when nothing is due, move time forward."""
    for _ in range(max_batches):
        if not unfinished(db):
            return
        if not worker.run_batch():
            # Nothing due: jump to the next row's time (a retry, Retry-After, quiet hours),
            # or a minute on when only an account's back-off holds the rows.
            db.expire_all()
            due = db.scalar(
                select(func.min(Delivery.next_attempt_at)).where(
                    Delivery.status == DeliveryStatus.PENDING
                )
            )
            gap = (due - clock()).total_seconds() + 1 if due is not None else 0
            clock.advance(max(gap, 60))
    left = unfinished(db)
    raise AssertionError(f"{left} deliveries still unfinished after {max_batches} batches")


def add_students(db: Session, count: int, *, consent_every: int = 1) -> None:
    """`count` adult students, every `consent_every`-th of whom agreed to email, added in
    bulk (create_contact checks each address one by one; these are known to be new)."""
    db.add_all(
        Contact(
            email=f"student{index}@example.org",
            email_hash=email_hash(f"student{index}@example.org"),
            role=ContactRole.STUDENT,
            first_name=f"S{index}",
            school="Lincoln High School",
            birth_date=date(2000, 1, 1),
            birth_year=2000,
            birth_date_latest=date(2000, 1, 1),
            timezone="America/New_York",
            consent_email=ConsentStatus.GRANTED
            if index % consent_every == 0
            else ConsentStatus.UNKNOWN,
        )
        for index in range(count)
    )
    db.commit()


# --- the checks every scenario ends with --------------------------------------------------------


def unfinished(db: Session) -> int:
    db.expire_all()
    return db.scalar(
        select(func.count()).select_from(Delivery).where(Delivery.status.in_(UNFINISHED))
    )


def status_counts(db: Session) -> Counter[DeliveryStatus]:
    db.expire_all()
    return Counter(
        dict(db.execute(select(Delivery.status, func.count()).group_by(Delivery.status)).all())
    )


def message_ids(raw_messages: Iterable[bytes]) -> Counter[str]:
    """How often each Message-ID reached the sink."""
    return Counter(
        line.split(":", 1)[1].strip()
        for data in raw_messages
        for line in data.decode().splitlines()
        if line.lower().startswith("message-id:")
    )


def assert_finished_once_each(db: Session, at_sink: Counter[str], *, expected_total: int) -> dict:
    """Every delivery terminal, nothing twice at the sink, every `sent` row really arrived.

    Returns the figures docs/reliability.md records: rows by status and what was lost.
    """
    assert unfinished(db) == 0, "deliveries left pending or sending"
    statuses = status_counts(db)
    assert sum(statuses.values()) == expected_total, statuses
    duplicated = {key: count for key, count in at_sink.items() if count > 1}
    assert not duplicated, f"reached the sink more than once: {duplicated}"
    sent = set(
        db.scalars(select(Delivery.external_id).where(Delivery.status == DeliveryStatus.SENT))
    )
    assert sent <= set(at_sink), f"marked sent but never arrived: {sent - set(at_sink)}"
    return {
        "statuses": {status.value: count for status, count in statuses.items()},
        "lost": statuses[DeliveryStatus.FAILED],
    }


def record_figures(scenario: str, figures: dict) -> None:
    """Append a scenario's figures to the file named by CAMPAIGN_MANAGER_RELIABILITY_FIGURES
    (set by tests/reliability/repeat.py, which sums them up for docs/reliability.md)."""
    path = os.environ.get("CAMPAIGN_MANAGER_RELIABILITY_FIGURES")
    if not path:
        return
    with open(path, "a", encoding="utf-8") as out:
        out.write(json.dumps({"scenario": scenario, **figures}) + "\n")
