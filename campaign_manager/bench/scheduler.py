"""`scheduler`: how late due steps start sending, with the real scheduler and workers.

Work: an approved campaign with many one-time email steps, their moments spread evenly
over one minute (at the real size: 1,000 steps in 60 s; smaller scales shrink both, so the
steps come as densely). The scheduler process (`run_scheduler`: lock, job store, reconcile)
and two delivery workers run as `campaign-manager scheduler` and `worker` would. Lateness
of a step: from its moment to its first delivery sent (into the sandbox adapter).
Reports p50 and p99; goal: p99 under 2 s. There is no baseline.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta

from sqlalchemy import func, select

from campaign_manager.bench.campaigns import bench_user, email_campaign
from campaign_manager.bench.data import seed_contacts
from campaign_manager.bench.environment import BenchContext, database_of
from campaign_manager.bench.harness import Goal, Row, percentile, progress
from campaign_manager.campaigns.models import Delivery, DeliveryStatus, Step
from campaign_manager.core.db import utcnow
from schedulers.rendering import DeliveryRenderer
from schedulers.runner import run_scheduler, start_workers

NAME = "scheduler"
FULL_STEPS = 1_000
FULL_WINDOW_SECONDS = 60.0
# Time for the scheduler to start and put every step's job in its store before the first
# step is due (a real campaign is approved well before its first step): 15 s for 1,000.
LEAD_SECONDS_PER_STEP = 0.012
MIN_LEAD_SECONDS = 3.0
WORKERS = 2
GOAL_P99_SECONDS = 2.0


def run(ctx: BenchContext) -> list[Row]:
    backend = "postgresql" if ctx.postgres_server else "sqlite"
    steps = ctx.size(FULL_STEPS, minimum=5)
    window = FULL_WINDOW_SECONDS * steps / FULL_STEPS
    lead = max(MIN_LEAD_SECONDS, LEAD_SECONDS_PER_STEP * steps)
    with ctx.app(backend) as app:
        database = database_of(app)
        settings = app.extensions["settings"]
        first = utcnow() + timedelta(seconds=lead)
        moments = [first + timedelta(seconds=window * n / steps) for n in range(steps)]
        with database.transaction() as session:
            owner = bench_user(session)
            seed_contacts(session, 1, ctx.seed)
            kit = email_campaign(
                session, owner=owner, adapter="sandbox_email", account_settings={}, run_at=moments
            )
        progress(f"scheduler: {steps} steps due within {window:.1f} s on {backend}")

        stop = threading.Event()
        scheduler = threading.Thread(
            target=run_scheduler, args=(database, settings, stop), name="bench-scheduler"
        )
        signer = app.extensions["token_signer"]
        scheduler.start()
        workers = start_workers(
            database, settings, lambda: DeliveryRenderer(settings, signer), WORKERS, stop
        )
        try:
            deadline = time.monotonic() + lead + window + 120
            while time.monotonic() < deadline:
                if _steps_sent(database, kit.step_ids) == steps:
                    break
                time.sleep(0.5)
        finally:
            stop.set()
            scheduler.join(60)
            for worker in workers:
                worker.join(60)

        with database.reading() as session:
            first_sent = session.execute(
                select(Step.run_at, func.min(Delivery.sent_at))
                .join(Delivery, Delivery.step_id == Step.id)
                .where(Delivery.status == DeliveryStatus.SENT)
                .group_by(Step.id, Step.run_at)
            ).all()
    lateness = [(sent - due).total_seconds() for due, sent in first_sent]
    row = Row(
        benchmark=NAME,
        work=f"{steps:,} steps due within {window:.0f} s ({backend})",
        size=steps,
        unit="steps",
        notes=[f"{WORKERS} workers (1 s idle poll) and the scheduler in one process"],
    )
    if len(lateness) < steps:
        row.notes.append(f"only {len(lateness)} of {steps} steps sent within the time allowed")
        row.goal = Goal(f"p99 < {GOAL_P99_SECONDS:g} s", False)
        return [row]
    row.latency = {"p50": percentile(lateness, 0.5), "p99": percentile(lateness, 0.99)}
    row.goal = Goal(f"p99 < {GOAL_P99_SECONDS:g} s", row.latency["p99"] < GOAL_P99_SECONDS)
    return [row]


def _steps_sent(database, step_ids: list[int]) -> int:
    with database.reading() as session:
        return (
            session.scalar(
                select(func.count(func.distinct(Delivery.step_id))).where(
                    Delivery.step_id.in_(step_ids), Delivery.status == DeliveryStatus.SENT
                )
            )
            or 0
        )
