"""Triggers across daylight-saving changes, reconciliation, lost job stores and the lock."""

import threading
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select, text

from campaign_manager.campaigns.models import (
    Campaign,
    CampaignStatus,
    Delivery,
    Step,
    TriggerKind,
)
from campaign_manager.core.db import Database, utcnow
from schedulers import jobs
from schedulers.lock import SchedulerLock
from schedulers.timing import QuietHours, local_to_utc, recipient_local_send_time, zone

NY, LA = zone("America/New_York"), zone("America/Los_Angeles")
GRACE = timedelta(hours=1)


def utc(*args):
    return datetime(*args, tzinfo=UTC)


def cron_step(expr, tz):
    return Step(trigger=TriggerKind.CRON, cron=expr, timezone=tz)


def test_cron_keeps_local_wall_time_across_the_november_change():
    step = cron_step("0 9 * * *", "America/New_York")
    trigger = jobs.step_trigger(step)
    fires = []
    fire = trigger.get_next_fire_time(None, utc(2026, 10, 31, 0, 0))
    for _ in range(3):
        fires.append(fire.astimezone(UTC))
        fire = trigger.get_next_fire_time(fire, fire + timedelta(seconds=1))
    # 09:00 EDT is 13:00 UTC; after 1 November, 09:00 EST is 14:00 UTC.
    assert fires == [utc(2026, 10, 31, 13), utc(2026, 11, 1, 14), utc(2026, 11, 2, 14)]


def test_cron_occurrence_is_the_latest_fire_time_and_stable():
    step = cron_step("30 8 * * 1,3,5", "America/Los_Angeles")
    # Monday 2 November 2026, 08:30 PST = 16:30 UTC.
    assert jobs.occurrence_of(step, utc(2026, 11, 2, 16, 29), GRACE) is None
    assert jobs.occurrence_of(step, utc(2026, 11, 2, 16, 31), GRACE) == "2026-11-02T16:30Z"
    assert jobs.occurrence_of(step, utc(2026, 11, 2, 17, 10), GRACE) == "2026-11-02T16:30Z"


def test_at_trigger_in_the_repeated_hour_means_the_first_one():
    # 01:30 happens twice in New York on 1 November 2026; we take the EDT one.
    assert local_to_utc(datetime(2026, 11, 1, 1, 30), NY) == utc(2026, 11, 1, 5, 30)
    # 02:30 does not exist on 8 March 2026; it becomes 03:30 EDT.
    assert local_to_utc(datetime(2026, 3, 8, 2, 30), NY) == utc(2026, 3, 8, 7, 30)


def test_local_time_trigger_sends_at_each_recipients_own_time():
    step = Step(trigger=TriggerKind.LOCAL_TIME, local_date=date(2026, 11, 2), local_time="09:00")
    start = jobs.step_trigger(step).get_next_fire_time(None, utc(2026, 11, 1))
    # The step starts when 09:00 first happens anywhere (UTC+14)...
    assert start == utc(2026, 11, 1, 19, 0)
    # ...and each recipient gets it at 09:00 where they are, after the change to standard time.
    assert recipient_local_send_time(
        date(2026, 11, 2), step_clock := jobs.parse_clock("09:00"), NY
    ) == utc(2026, 11, 2, 14)
    assert recipient_local_send_time(date(2026, 11, 2), step_clock, LA) == utc(2026, 11, 2, 17)


def test_quiet_hours_defer_to_the_next_morning_local_time():
    quiet = QuietHours.parse("21:00", "08:00")
    # 22:30 in Los Angeles on 31 October (PDT) -> 08:00 PST on 1 November (after the change).
    assert quiet.next_allowed(utc(2026, 11, 1, 5, 30), LA) == utc(2026, 11, 1, 16, 0)
    # 06:00 in New York -> 08:00 the same day.
    assert quiet.next_allowed(utc(2026, 11, 2, 11, 0), NY) == utc(2026, 11, 2, 13, 0)
    # 12:00 is fine as it is.
    assert quiet.next_allowed(utc(2026, 11, 2, 17, 0), NY) == utc(2026, 11, 2, 17, 0)


# --- with a database ---------------------------------------------------------------------


@pytest.fixture
def campaign_with_steps(db, users, channel_accounts, creative):
    def make(status=CampaignStatus.APPROVED, run_at=None, trigger=TriggerKind.AT, cron=""):
        campaign = Campaign(name="Careers week", status=status, created_by_id=users["marketer"].id)
        step = Step(
            campaign=campaign,
            name="Post",
            channel_account_id=channel_accounts[0].id,
            channel_kind="social",
            creative_id=creative.id,
            trigger=trigger,
            run_at=run_at,
            cron=cron,
            timezone="America/New_York",
            target={"keys": ["feed"]},
        )
        db.add_all([campaign, step])
        db.commit()
        return campaign, step

    return make


@pytest.fixture
def engine_scheduler(app):
    """A started (but paused) BackgroundScheduler on the test database's job store."""
    settings = app.extensions["settings"]
    database = app.extensions["database"]
    jobs.set_runtime(jobs.EngineRuntime(database, settings))
    scheduler = jobs.build_scheduler(database, settings, blocking=False)
    scheduler.start(paused=True)
    yield scheduler
    scheduler.shutdown(wait=True)
    jobs.set_runtime(None)


def test_reconcile_registers_one_job_per_step_with_explicit_options(
    app, db, campaign_with_steps, engine_scheduler
):
    future = utcnow() + timedelta(days=2)
    _campaign, step = campaign_with_steps(run_at=future)
    _draft, draft_step = campaign_with_steps(status=CampaignStatus.DRAFT, run_at=future)
    jobs.reconcile(engine_scheduler, app.extensions["database"], utcnow(), GRACE)
    job = engine_scheduler.get_job(f"step:{step.id}")
    assert job is not None and job.args == (step.id,)
    assert job.func_ref == "schedulers.jobs:run_step"
    assert job.misfire_grace_time == 3600 and job.coalesce is True
    assert job.next_run_time == future.replace(microsecond=job.next_run_time.microsecond)
    assert engine_scheduler.get_job(f"step:{draft_step.id}") is None


def test_pausing_removes_the_job_and_resuming_brings_it_back(
    app, db, campaign_with_steps, engine_scheduler
):
    campaign, step = campaign_with_steps(run_at=utcnow() + timedelta(days=1))
    jobs.reconcile(engine_scheduler, app.extensions["database"], utcnow(), GRACE)
    campaign.status = CampaignStatus.PAUSED
    db.commit()
    jobs.reconcile(engine_scheduler, app.extensions["database"], utcnow(), GRACE)
    assert engine_scheduler.get_job(step.job_id) is None
    campaign.status = CampaignStatus.RUNNING
    db.commit()
    jobs.reconcile(engine_scheduler, app.extensions["database"], utcnow(), GRACE)
    assert engine_scheduler.get_job(step.job_id) is not None


def test_run_step_materialises_once_and_starts_the_campaign(
    app, db, campaign_with_steps, engine_scheduler
):
    campaign, step = campaign_with_steps(run_at=utcnow() - timedelta(seconds=5))
    result = jobs.run_step(step.id)
    assert result.by_status == {"pending": 1}
    assert jobs.run_step(step.id) is None  # same occurrence: nothing more
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(Delivery)) == 1
    assert db.get(Campaign, campaign.id).status is CampaignStatus.RUNNING
    transitions = db.get(Campaign, campaign.id).transitions
    assert transitions[-1].to_status is CampaignStatus.RUNNING and transitions[-1].user_id is None


def test_a_lost_job_store_loses_nothing(app, db, campaign_with_steps):
    """Steps are the truth: drop the job store while down, restart, and due steps still run."""
    settings = app.extensions["settings"]
    database = app.extensions["database"]
    _campaign, step = campaign_with_steps(run_at=utcnow() + timedelta(days=1))
    scheduler = jobs.start_scheduler(database, settings)
    try:
        _wait_for(lambda: scheduler.get_job(step.job_id) is not None)
    finally:
        jobs.stop_scheduler(scheduler)
    with database.engine.begin() as connection:
        connection.execute(text(f"DROP TABLE {jobs.JOBSTORE_TABLE}"))
    # While no scheduler ran, the step became due.
    step.run_at = utcnow() - timedelta(minutes=10)
    db.commit()
    scheduler = jobs.start_scheduler(database, settings)
    try:
        _wait_for(lambda: db.scalar(select(func.count()).select_from(Delivery)) == 1)
    finally:
        jobs.stop_scheduler(scheduler)
        jobs.set_runtime(None)
    db.expire_all()
    assert db.get(Step, step.id).last_occurrence == "once"


def _wait_for(condition, timeout=15.0):
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def test_a_second_scheduler_waits_for_the_first(app):
    url = app.extensions["database"].url
    first_db, second_db = Database(url), Database(url)
    first = SchedulerLock(first_db, holder="first", ttl_seconds=30)
    second = SchedulerLock(second_db, holder="second", ttl_seconds=30)
    try:
        assert first.try_acquire()
        assert not second.try_acquire()
        assert second.current_holder() == "first"
        waited = threading.Event()
        got = threading.Event()
        stop = threading.Event()

        def wait_for_lock():
            if second.acquire(stop=stop, poll_seconds=0.05, on_wait=lambda _m: waited.set()):
                got.set()

        thread = threading.Thread(target=wait_for_lock)
        thread.start()
        assert waited.wait(5) and not got.is_set()
        first.release()
        assert got.wait(5)
        stop.set()
        thread.join(5)
        assert second.current_holder() == "second"
    finally:
        second.release()
        first.release()
        first_db.dispose()
        second_db.dispose()


def test_cron_weekdays_use_crontab_numbering():
    trigger = jobs.cron_trigger("0 9 * * 1-5", "America/New_York")
    # Saturday 31 October 2026 -> the next fire is Monday 2 November, 09:00 EST.
    assert trigger.get_next_fire_time(None, utc(2026, 10, 31, 12)) == utc(
        2026, 11, 2, 14
    ).astimezone(NY)
    sunday = jobs.cron_trigger("0 9 * * 0", "America/New_York")
    assert sunday.get_next_fire_time(None, utc(2026, 10, 31, 12)).weekday() == 6
    with pytest.raises(ValueError, match="5 fields"):
        jobs.cron_trigger("0 9 * *", "America/New_York")


def test_a_recurring_step_stops_at_its_end_date():
    step = Step(
        trigger=TriggerKind.CRON,
        cron="0 11 * * 1,3,5",
        timezone="America/New_York",
        ends_at=utc(2026, 11, 5, 0, 0),
    )
    trigger = jobs.step_trigger(step)
    first = trigger.get_next_fire_time(None, utc(2026, 11, 1))
    second = trigger.get_next_fire_time(first, first + timedelta(seconds=1))
    assert (first, second) == (utc(2026, 11, 2, 16), utc(2026, 11, 4, 16))
    assert trigger.get_next_fire_time(second, second + timedelta(seconds=1)) is None
    assert jobs.has_more_firings(step, utc(2026, 11, 4, 23))
    assert not jobs.has_more_firings(step, utc(2026, 11, 5, 1))
