"""Campaigns for the engine benchmarks, made through the same services the UI uses.

The email creative is the demo's "Spring outreach email": real MJML with Jinja placeholders
and per-segment variants (students, parents, educators), so rendering costs what it costs
in the reference campaign.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from audiences.segments import create_segment, ensure_builtin_segments
from campaign_manager.campaigns.models import Campaign, CampaignStatus, Step, TriggerKind
from campaign_manager.channels.accounts import create_account
from campaign_manager.core.accounts import Role, User, create_user
from creatives.demo import demo_email_templates
from creatives.editing import add_variant, save_variant
from creatives.versions import create_creative, freeze_current_version

BENCH_USER = "bench@example.org"
BENCH_PASSWORD = "benchmark-password"  # noqa: S105 - a throwaway user in a throwaway database
OUTREACH = "Spring outreach email"


def bench_user(session: Session, role: Role = Role.ADMIN) -> User:
    return create_user(session, BENCH_USER, BENCH_PASSWORD, role, display_name="Benchmark")


def outreach_creative(session: Session) -> tuple[int, int]:
    """The demo outreach email, frozen; returns (creative id, version id)."""
    ensure_builtin_segments(session)
    variants = demo_email_templates(
        "https://cm.example.org/media/paint-bay-web.jpg",
        "https://cm.example.org/p/collision-careers",
    )[OUTREACH]
    creative = create_creative(session, OUTREACH, "email")
    save_variant(session, creative.id, "", variants[""])
    for key, content in variants.items():
        if key:
            add_variant(session, creative.id, key)
            save_variant(session, creative.id, key, content)
    version = freeze_current_version(session, creative.id)
    return creative.id, version.id


@dataclass
class EmailCampaign:
    campaign_id: int
    step_ids: list[int]
    account_id: int
    segment_id: int


def email_campaign(
    session: Session,
    *,
    owner: User,
    adapter: str,
    account_settings: dict,
    run_at: list[datetime],
    status: CampaignStatus = CampaignStatus.APPROVED,
    segment_rules: dict | None = None,
) -> EmailCampaign:
    """An email campaign to everyone (or `segment_rules`), one step per `run_at` time."""
    account = create_account(
        session,
        adapter=adapter,
        display_name="Benchmark email",
        settings=account_settings,
        credentials={},
    )
    segment = create_segment(
        session, "Benchmark audience", segment_rules or {"type": "all", "rules": []}
    )
    creative_id, version_id = outreach_creative(session)
    campaign = Campaign(
        name="Collision careers (benchmark)",
        status=status,
        created_by_id=owner.id,
        sender_name="Collision Careers Coalition",
        sender_address="hello@careers.example.org",
    )
    steps = [
        Step(
            campaign=campaign,
            position=number,
            name=f"Email wave {number + 1}",
            channel_account_id=account.id,
            channel_kind="email",
            creative_id=creative_id,
            creative_version_id=version_id,
            segment_id=segment.id,
            trigger=TriggerKind.AT,
            run_at=moment,
            timezone="America/New_York",
        )
        for number, moment in enumerate(run_at)
    ]
    session.add(campaign)
    session.add_all(steps)
    session.flush()
    return EmailCampaign(campaign.id, [step.id for step in steps], account.id, segment.id)
