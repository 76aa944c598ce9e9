"""Campaign fixtures: channel accounts of every kind, creatives, and campaigns built through
the real services."""

from __future__ import annotations

from datetime import UTC, date, datetime
from types import SimpleNamespace

import pytest

from audiences.segments import ensure_builtin_segments, find_segment
from campaign_manager.campaigns.editing import (
    CampaignInput,
    StepInput,
    TriggerInput,
    add_step,
    create_campaign,
)
from campaign_manager.campaigns.models import Delivery, DeliveryStatus, TriggerKind
from campaign_manager.campaigns.targets import TargetInput
from creatives.content import SocialContent
from creatives.editing import save_variant
from creatives.versions import create_creative

# Every test runs "now" at this moment unless it says otherwise, so dates below are future.
NOW = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)
# The United States leave daylight saving time on this Sunday (02:00 → 01:00).
FALL_BACK = date(2030, 11, 3)


@pytest.fixture
def world(db, users, make_account):
    """Accounts (email, social, web), one creative of each kind, and the people."""
    email = make_account("sandbox_email", name="Newsletter")
    social = make_account("sandbox_social", name="Coalition social")
    web = make_account("sandbox_web", name="Careers site")
    email_creative = create_creative(db, "Welcome email", "email")
    social_creative = create_creative(db, "Scholarship post", "social")
    save_variant(
        db,
        social_creative.id,
        "",
        SocialContent(text="Scholarships for future technicians", networks=["mastodon", "x"]),
    )
    web_creative = create_creative(db, "Careers page", "web", slug="careers")
    # Migration 0002 creates them; PostgreSQL test runs empty every table between tests.
    ensure_builtin_segments(db)
    db.commit()
    return SimpleNamespace(
        users=users,
        students=find_segment(db, "students"),
        parents=find_segment(db, "parents"),
        email=email,
        social=social,
        web=web,
        email_creative=email_creative,
        social_creative=social_creative,
        web_creative=web_creative,
    )


def email_step(world, segment, **changes) -> StepInput:
    values = {
        "name": f"Email to {segment.name}",
        "channel_account_id": world.email.id,
        "creative_id": world.email_creative.id,
        "segment_id": segment.id,
        "trigger": TriggerInput(
            TriggerKind.AT, "America/New_York", on_date=date(2030, 9, 2), clock="10:00"
        ),
    }
    values.update(changes)
    return StepInput(**values)


def social_step(world, **changes) -> StepInput:
    values = {
        "name": "Monday post",
        "channel_account_id": world.social.id,
        "creative_id": world.social_creative.id,
        "target": TargetInput(network="mastodon"),
        "trigger": TriggerInput(
            TriggerKind.AT, "America/New_York", on_date=date(2030, 9, 1), clock="09:00"
        ),
    }
    values.update(changes)
    return StepInput(**values)


@pytest.fixture
def make_campaign(db, world):
    """A draft campaign by the marketer, with the given steps, committed."""

    def make(name: str = "Collision careers", steps=(), **fields):
        marketer = world.users["marketer"]
        campaign = create_campaign(db, CampaignInput(name=name, **fields), marketer)
        for step in steps:
            add_step(db, campaign, step, marketer, now=NOW)
        db.commit()
        return campaign

    return make


@pytest.fixture
def add_deliveries(db):
    """Outbox rows for a step, with the given statuses."""

    def add(step, statuses, *, prefix: str = "person", channel_account_id: int | None = None):
        rows = []
        for index, status in enumerate(statuses):
            rows.append(
                Delivery(
                    step_id=step.id,
                    occurrence="once",
                    recipient_key=f"{prefix}{index}@example.org",
                    channel_account_id=channel_account_id or step.channel_account_id,
                    status=DeliveryStatus(status),
                    next_attempt_at=NOW,
                    segment_slug="students",
                )
            )
        db.add_all(rows)
        db.commit()
        return rows

    return add


def sign_in(client, user) -> None:
    """Sign `user` in, signing out whoever the client was first (the login page redirects
    someone already signed in)."""
    if client.csrf_token:
        client.post_form("/logout")
    client.login(user.email)
