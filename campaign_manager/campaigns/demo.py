"""The reference campaign in the demo: eight weeks of outreach for collision-repair careers.

Email waves to students, parents and educators, social posts three times a week and the
landing page, all through the sandbox accounts. Its first step is due a minute after the
demo starts, so a newcomer watches deliveries appear.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from audiences.models import Segment
from audiences.segments import ensure_builtin_segments
from campaign_manager.campaigns.models import Campaign, CampaignStatus, Step, TriggerKind
from campaign_manager.campaigns.workflow import transition
from campaign_manager.channels.base import ChannelKind
from campaign_manager.channels.models import ChannelAccount
from campaign_manager.core.accounts import User, Vendor
from campaign_manager.core.db import utcnow
from creatives.models import Creative

CAMPAIGN_NAME = "Collision Careers: fall outreach"
FIRST_STEP_DELAY = timedelta(minutes=1)
WEEKS = 8


@dataclass(frozen=True)
class DemoStep:
    name: str
    kind: ChannelKind
    creative: str
    segment: str | None = None
    trigger: TriggerKind = TriggerKind.AT
    # AT: offset from now; LOCAL_TIME: day offset and HH:MM; CRON: the expression.
    after: timedelta = timedelta(0)
    local_time: str = ""
    cron: str = ""
    target: dict | None = None


def demo_steps() -> list[DemoStep]:
    return [
        DemoStep(
            "Students: turn a passion for cars into a career",
            ChannelKind.EMAIL,
            "outreach",
            segment="students",
            after=FIRST_STEP_DELAY,
        ),
        DemoStep(
            "Parents: scholarships, earnings and safe modern shops",
            ChannelKind.EMAIL,
            "outreach",
            segment="parents",
            trigger=TriggerKind.LOCAL_TIME,
            after=timedelta(days=2),
            local_time="10:00",
        ),
        DemoStep(
            "Educators: curriculum and instructor training",
            ChannelKind.EMAIL,
            "outreach",
            segment="educators",
            after=timedelta(days=7, hours=2),
        ),
        DemoStep(
            "Students: scholarship deadline reminder",
            ChannelKind.EMAIL,
            "reminder",
            segment="students",
            after=timedelta(weeks=6),
        ),
        DemoStep(
            "Social: students post, Monday, Wednesday and Friday",
            ChannelKind.SOCIAL,
            "Students post (X, Bluesky, Mastodon)",
            trigger=TriggerKind.CRON,
            cron="0 11 * * 1,3,5",
            target={"network": "mastodon"},
        ),
        DemoStep(
            "Print: co-branded flyers for 20 schools",
            ChannelKind.PRINT,
            "School flyer (US letter)",
            after=timedelta(days=3),
            target={
                "quantity": 150,
                "paper_stock": "100 lb gloss text",
                "finishing": "trim to size",
                "ship_to": "school",
            },
        ),
        DemoStep(
            "Web: careers landing page goes live",
            ChannelKind.WEB,
            "landing",
            after=timedelta(minutes=2),
            target={"slug": "collision-careers"},
        ),
    ]


def load_demo_campaign(
    session: Session,
    *,
    creatives: dict[str, Creative],
    accounts: dict[ChannelKind, ChannelAccount],
    marketer: User,
    approver: User,
    vendor: Vendor,
    now: datetime | None = None,
) -> Campaign:
    now = now or utcnow()
    ensure_builtin_segments(session)
    segments = {s.slug: s for s in session.scalars(select(Segment))}
    campaign = Campaign(
        name=CAMPAIGN_NAME,
        goal=(
            "Recruit the next generation of collision-repair technicians: students apply for "
            "scholarships and training, parents and educators pass it on."
        ),
        timezone="America/New_York",
        utm={"utm_source": "coalition", "utm_medium": "outreach", "utm_campaign": "fall-careers"},
        sender_name="Collision Careers Coalition",
        sender_address="hello@careers.example.org",
        reply_to="team@careers.example.org",
        created_by_id=marketer.id,
    )
    session.add(campaign)
    ends_at = now + timedelta(weeks=WEEKS)
    for position, spec in enumerate(demo_steps()):
        creative = creatives[spec.creative]
        step = Step(
            campaign=campaign,
            position=position,
            name=spec.name,
            channel_account_id=accounts[spec.kind].id,
            channel_kind=spec.kind.value,
            creative_id=creative.id,
            segment_id=segments[spec.segment].id if spec.segment else None,
            target=_target(spec, vendor, now),
            trigger=spec.trigger,
            timezone="America/New_York",
        )
        if spec.trigger is TriggerKind.AT:
            step.run_at = now + spec.after
        elif spec.trigger is TriggerKind.LOCAL_TIME:
            step.local_date = date.fromordinal((now + spec.after).date().toordinal())
            step.local_time = spec.local_time
        else:
            step.cron = spec.cron
            step.ends_at = ends_at
        session.add(step)
    session.flush()
    transition(session, campaign, CampaignStatus.IN_REVIEW, marketer, "Ready for review.")
    # Approval freezes the creative version each step sends.
    transition(
        session, campaign, CampaignStatus.APPROVED, approver, "Approved for the fall semester."
    )
    return campaign


def _target(spec: DemoStep, vendor: Vendor, now: datetime) -> dict:
    target = dict(spec.target or {})
    if spec.kind is ChannelKind.PRINT:
        # The vendor needs the files a week before the schools open their doors to them.
        due = (now + spec.after + timedelta(days=10)).date()
        target.update(vendor_id=vendor.id, due_date=due.isoformat())
    return target
