"""The dry run of a step counts its next occurrence as of the moment it runs."""

from datetime import UTC, datetime

from sqlalchemy import func, select

from campaign_manager.campaigns.editing import TriggerInput
from campaign_manager.campaigns.models import Delivery, TriggerKind
from schedulers.progress import dry_run_step, next_occurrence
from tests.campaigns.conftest import FALL_BACK, NOW, social_step


def test_next_occurrence_of_each_trigger(db, world, make_campaign):
    campaign = make_campaign(
        steps=[
            social_step(world),
            social_step(
                world, trigger=TriggerInput(TriggerKind.CRON, "America/New_York", cron="0 9 * * 1")
            ),
            social_step(
                world,
                trigger=TriggerInput(
                    TriggerKind.LOCAL_TIME, "UTC", on_date=FALL_BACK, clock="09:00"
                ),
            ),
        ]
    )
    once, weekly, local = campaign.steps
    assert next_occurrence(once, NOW) == ("once", datetime(2030, 9, 1, 13, 0, tzinfo=UTC))
    # 1 June 2030 is a Saturday: the next Monday 09:00 EDT is 3 June, 13:00 UTC.
    assert next_occurrence(weekly, NOW) == (
        "2030-06-03T13:00Z",
        datetime(2030, 6, 3, 13, 0, tzinfo=UTC),
    )
    # A local-time step starts when the first timezone (UTC+14) reaches 09:00.
    assert next_occurrence(local, NOW) == (
        "2030-11-03",
        datetime(2030, 11, 2, 19, 0, tzinfo=UTC),
    )


def test_dry_run_writes_nothing(app, db, world, make_campaign):
    campaign = make_campaign(steps=[social_step(world)])
    result = dry_run_step(
        app.extensions["database"], app.extensions["settings"], campaign.steps[0].id, NOW
    )
    assert result.total == 1 and dict(result.by_status) == {"pending": 1}
    assert db.scalar(select(func.count()).select_from(Delivery)) == 0
