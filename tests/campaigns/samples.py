"""A running campaign with a step and an uncertain delivery, for tests outside this folder
(the route matrix)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy.orm import Session

from campaign_manager.campaigns.editing import (
    CampaignInput,
    StepInput,
    TriggerInput,
    add_step,
    create_campaign,
)
from campaign_manager.campaigns.models import (
    Campaign,
    CampaignStatus,
    Delivery,
    DeliveryStatus,
    Step,
    TriggerKind,
)
from campaign_manager.campaigns.targets import TargetInput
from campaign_manager.campaigns.workflow import transition
from campaign_manager.channels.accounts import create_account
from campaign_manager.core.accounts import User
from creatives.content import SocialContent
from creatives.editing import save_variant
from creatives.versions import create_creative


@dataclass
class CampaignSamples:
    campaign: Campaign
    step: Step
    delivery: Delivery


def make_campaign_samples(db: Session, users: dict[str, User]) -> CampaignSamples:
    account = create_account(
        db, adapter="sandbox_social", display_name="Sample social", settings={}, credentials={}
    )
    creative = create_creative(db, "Sample post", "social")
    save_variant(db, creative.id, "", SocialContent(text="Sample", networks=["x"]))
    campaign = create_campaign(db, CampaignInput(name="Sample campaign"), users["marketer"])
    step, _ = add_step(
        db,
        campaign,
        StepInput(
            name="Sample step",
            channel_account_id=account.id,
            creative_id=creative.id,
            target=TargetInput(network="x"),
            trigger=TriggerInput(TriggerKind.AT, "UTC", on_date=date(2030, 9, 1), clock="09:00"),
        ),
        users["marketer"],
        now=datetime(2030, 1, 1, tzinfo=UTC),
    )
    transition(db, campaign, CampaignStatus.IN_REVIEW, users["marketer"])
    transition(db, campaign, CampaignStatus.APPROVED, users["approver"])
    transition(db, campaign, CampaignStatus.RUNNING, None, "due")
    delivery = Delivery(
        step_id=step.id,
        occurrence="once",
        recipient_key="account",
        channel_account_id=account.id,
        status=DeliveryStatus.UNCERTAIN,
    )
    db.add(delivery)
    db.commit()
    return CampaignSamples(campaign, step, delivery)
