"""APScheduler wiring: one job per step, reconciled with the steps table.

The steps table is the truth. Every few seconds (and at start-up) `reconcile` makes the
job store match the steps of approved and running campaigns: missing jobs are added,
changed ones replaced, stale ones removed, and a one-time step whose moment passed while
no scheduler ran is run at once. A lost job store therefore loses nothing.

Jobs are `step:<id>` with `replace_existing=True`, explicit `misfire_grace_time` and
`coalesce`, and only the step id as argument; the function they call is looked up by
reference, so jobs survive restarts and upgrades.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.date import DateTrigger
from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from campaign_manager.campaigns.models import (
    Campaign,
    CampaignStatus,
    Delivery,
    DeliveryStatus,
    Step,
    TriggerKind,
)
from campaign_manager.campaigns.timing import (
    cron_trigger,
    local_time_step_start,
    parse_clock,
    zone,
)
from campaign_manager.campaigns.workflow import SCHEDULED_STATES, transition
from campaign_manager.core.config import Settings
from campaign_manager.core.db import Database, utcnow
from schedulers.materialize import MaterializeResult, materialize_step

log = logging.getLogger(__name__)

JOBSTORE_TABLE = "apscheduler_jobs"
RECONCILE_JOB_ID = "reconcile"
STEP_JOB_PREFIX = "step:"


@dataclass
class EngineRuntime:
    """What job functions need; set once per process by the scheduler that runs them."""

    database: Database
    settings: Settings


_runtime: EngineRuntime | None = None


def set_runtime(runtime: EngineRuntime | None) -> None:
    global _runtime
    _runtime = runtime


def runtime() -> EngineRuntime:
    if _runtime is None:
        raise RuntimeError("no scheduler runtime in this process")
    return _runtime


# --- triggers and occurrences ------------------------------------------------------------


def step_trigger(step: Step) -> BaseTrigger:
    if step.trigger is TriggerKind.AT:
        return DateTrigger(run_date=step.run_at)
    if step.trigger is TriggerKind.LOCAL_TIME:
        return DateTrigger(
            run_date=local_time_step_start(step.local_date, parse_clock(step.local_time))
        )
    return cron_trigger(step.cron, step.timezone, step.ends_at)


def occurrence_of(step: Step, now: datetime, grace: timedelta) -> str | None:
    """The key of the step's latest due firing, or None if nothing is due yet.

    One-time steps have one occurrence; a cron step's occurrence is its latest fire time
    at or before now (within the grace period), so a re-run of the same firing reuses
    the same key and adds no deliveries.
    """
    if step.trigger is TriggerKind.AT:
        return "once" if step.run_at and step.run_at <= now else None
    if step.trigger is TriggerKind.LOCAL_TIME:
        start = local_time_step_start(step.local_date, parse_clock(step.local_time))
        return step.local_date.isoformat() if start <= now else None
    trigger = cron_trigger(step.cron, step.timezone, step.ends_at)
    latest = None
    fire = trigger.get_next_fire_time(None, now - grace)
    while fire is not None and fire <= now:
        latest = fire
        fire = trigger.get_next_fire_time(fire, fire + timedelta(seconds=1))
    return latest.astimezone(zone("UTC")).strftime("%Y-%m-%dT%H:%MZ") if latest else None


def is_recurring(step: Step) -> bool:
    return step.trigger is TriggerKind.CRON


def has_more_firings(step: Step, now: datetime) -> bool:
    """A recurring step that has not reached its end date."""
    return is_recurring(step) and (step.ends_at is None or step.ends_at > now)


# --- the job ---------------------------------------------------------------------------------


# Steps being materialised in this process, so reconciliation does not queue them again.
_running_steps: set[int] = set()


def run_step(step_id: int) -> MaterializeResult | None:
    """The job APScheduler runs for `step:<id>`: materialise the due occurrence."""
    _running_steps.add(step_id)
    try:
        return _run_step(step_id)
    finally:
        _running_steps.discard(step_id)


def _run_step(step_id: int) -> MaterializeResult | None:
    rt = runtime()
    now = utcnow()
    grace = timedelta(seconds=rt.settings.scheduler.misfire_grace_seconds)
    with rt.database.transaction() as session:
        step = session.get(Step, step_id)
        if step is None or step.campaign.status not in SCHEDULED_STATES:
            return None
        occurrence = occurrence_of(step, now, grace)
        if occurrence is None or occurrence == step.last_occurrence:
            return None
    result = materialize_step(rt.database, step_id, occurrence, rt.settings, now=now)
    with rt.database.transaction() as session:
        step = session.get(Step, step_id)
        step.last_occurrence = occurrence
        step.last_materialized_at = utcnow()
        if step.campaign.status is CampaignStatus.APPROVED:
            transition(
                session, step.campaign, CampaignStatus.RUNNING, None, f"step '{step.name}' is due"
            )
    log.info("step %s occurrence %s: %s", step_id, occurrence, dict(result.by_status))
    return result


# --- reconciliation ----------------------------------------------------------------------------


def desired_jobs(session: Session, now: datetime, grace: timedelta) -> dict[str, BaseTrigger]:
    """The job every scheduled step should have right now, by job id."""
    jobs: dict[str, BaseTrigger] = {}
    steps = session.scalars(
        select(Step).join(Campaign).where(Campaign.status.in_(SCHEDULED_STATES))
    )
    for step in steps:
        if is_recurring(step):
            if has_more_firings(step, now):
                jobs[step.job_id] = step_trigger(step)
            continue
        due = occurrence_of(step, now, grace)
        if due is None:
            jobs[step.job_id] = step_trigger(step)
        elif due != step.last_occurrence:
            # Its moment passed without it running (downtime, lost job store): run now.
            jobs[step.job_id] = DateTrigger(run_date=now)
    return jobs


def reconcile(
    scheduler: BaseScheduler, database: Database, now: datetime, grace: timedelta
) -> None:
    """Make the job store match the steps table.

    The job store lives in the same database: on SQLite, touching it while our own
    transaction holds the write lock would wait on ourselves, so the steps are read in
    one short transaction and the jobs changed after it.
    """
    with database.transaction() as session:
        wanted = desired_jobs(session, now, grace)
    existing = {job.id: job for job in scheduler.get_jobs() if job.id.startswith(STEP_JOB_PREFIX)}
    for job_id in existing:
        if job_id not in wanted:
            scheduler.remove_job(job_id)
    for job_id, trigger in wanted.items():
        if int(job_id.removeprefix(STEP_JOB_PREFIX)) in _running_steps:
            continue
        current = existing.get(job_id)
        if current is not None and str(current.trigger) == str(trigger):
            continue
        # A "run now" job already waiting to run is kept rather than re-added each time.
        waiting_to_run_now = (
            current is not None
            and isinstance(trigger, DateTrigger)
            and current.next_run_time is not None
            and current.next_run_time <= now + timedelta(seconds=5)
        )
        if waiting_to_run_now:
            continue
        scheduler.add_job(
            "schedulers.jobs:run_step",
            trigger=trigger,
            args=[int(job_id.removeprefix(STEP_JOB_PREFIX))],
            id=job_id,
            name=job_id,
            replace_existing=True,
            misfire_grace_time=int(grace.total_seconds()),
            coalesce=True,
            max_instances=1,
        )
    with database.transaction() as session:
        complete_finished_campaigns(session)


def complete_finished_campaigns(session: Session) -> list[int]:
    """Running campaigns whose one-time steps all ran and whose deliveries all ended."""
    done = []
    for campaign in session.scalars(
        select(Campaign).where(Campaign.status == CampaignStatus.RUNNING)
    ):
        steps = campaign.steps
        now = utcnow()
        if not steps or any(
            has_more_firings(s, now) or (not is_recurring(s) and not s.last_occurrence)
            for s in steps
        ):
            continue
        unsent = session.scalar(
            select(
                exists().where(
                    Delivery.step_id.in_([s.id for s in steps]),
                    Delivery.status.in_([DeliveryStatus.PENDING, DeliveryStatus.SENDING]),
                )
            )
        )
        if not unsent:
            transition(session, campaign, CampaignStatus.COMPLETED, None, "every step has run")
            done.append(campaign.id)
    return done


def reconcile_job() -> None:
    """The periodic job (and the start-up call) that keeps jobs in step with the table."""
    rt = runtime()
    scheduler = _active_scheduler
    if scheduler is None:
        return
    grace = timedelta(seconds=rt.settings.scheduler.misfire_grace_seconds)
    reconcile(scheduler, rt.database, utcnow(), grace)


# --- the scheduler --------------------------------------------------------------------------

_active_scheduler: BaseScheduler | None = None


def build_scheduler(database: Database, settings: Settings, *, blocking: bool) -> BaseScheduler:
    cls = BlockingScheduler if blocking else BackgroundScheduler
    return cls(
        jobstores={"default": SQLAlchemyJobStore(engine=database.engine, tablename=JOBSTORE_TABLE)},
        executors={"default": {"type": "threadpool", "max_workers": 10}},
        job_defaults={
            "coalesce": True,
            "misfire_grace_time": settings.scheduler.misfire_grace_seconds,
            "max_instances": 1,
        },
        timezone="UTC",
    )


def prepare_scheduler(database: Database, settings: Settings, *, blocking: bool) -> BaseScheduler:
    """A scheduler with its reconcile job (run at once, then every few seconds); not started.

    The caller must hold the scheduler lock (schedulers/lock.py).
    """
    global _active_scheduler
    set_runtime(EngineRuntime(database, settings))
    scheduler = build_scheduler(database, settings, blocking=blocking)
    _active_scheduler = scheduler
    scheduler.add_job(
        "schedulers.jobs:reconcile_job",
        trigger="interval",
        seconds=settings.scheduler.reconcile_seconds,
        id=RECONCILE_JOB_ID,
        replace_existing=True,
        coalesce=True,
        misfire_grace_time=60,
        max_instances=1,
        next_run_time=utcnow(),
    )
    return scheduler


def start_scheduler(database: Database, settings: Settings) -> BaseScheduler:
    """A started BackgroundScheduler (embedded mode and tests)."""
    scheduler = prepare_scheduler(database, settings, blocking=False)
    scheduler.start()
    return scheduler


def stop_scheduler(scheduler: BaseScheduler) -> None:
    global _active_scheduler
    if scheduler.running:
        scheduler.shutdown(wait=True)
    _active_scheduler = None
