"""The demo's reference campaign: approved, eight weeks long, first step due in a minute."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from campaign_manager.campaigns.models import Campaign, CampaignStatus, Delivery, TriggerKind
from campaign_manager.core.db import utcnow
from campaign_manager.demo import load_demo
from schedulers import jobs


@pytest.mark.sqlite_only
def test_demo_campaign_is_approved_and_its_first_step_sends(app):
    database = app.extensions["database"]
    settings = app.extensions["settings"]
    started = utcnow()
    with database.transaction() as session:
        load_demo(session, settings)
    with database.transaction() as session:
        campaign = session.scalar(select(Campaign))
        assert campaign.status is CampaignStatus.APPROVED
        assert [t.to_status for t in campaign.transitions] == [
            CampaignStatus.IN_REVIEW,
            CampaignStatus.APPROVED,
        ]
        assert campaign.transitions[1].user_id != campaign.created_by_id
        kinds = {step.channel_kind for step in campaign.steps}
        assert kinds == {"email", "social", "web", "print"}
        first = min((s for s in campaign.steps if s.run_at), key=lambda s: s.run_at)
        assert started + timedelta(seconds=50) <= first.run_at <= utcnow() + timedelta(minutes=1)
        social = next(s for s in campaign.steps if s.trigger is TriggerKind.CRON)
        assert social.ends_at - first.run_at > timedelta(weeks=7)
        assert all(step.creative_version_id for step in campaign.steps)
        first.run_at = utcnow() - timedelta(seconds=1)
        first_id = first.id
    jobs.set_runtime(jobs.EngineRuntime(database, settings))
    try:
        result = jobs.run_step(first_id)
    finally:
        jobs.set_runtime(None)
    # Students only; some are minors without parental consent, some unsubscribed.
    assert result.by_status["pending"] > 100
    assert result.by_reason["minor_without_parental_consent"] > 0
    with database.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Delivery)) == result.total
