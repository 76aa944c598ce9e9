"""Builds a real email campaign for engine tests: contacts, a segment, an MJML creative with
per-segment variants, an SMTP account pointing at a test server, and an approved campaign."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.orm import Session

from audiences.contacts import create_contact, record_consent
from audiences.models import ConsentChannel, ConsentStatus, ContactRole
from audiences.segments import create_segment, ensure_builtin_segments
from campaign_manager.campaigns.models import Campaign, CampaignStatus, Step, TriggerKind
from campaign_manager.channels.accounts import create_account
from creatives.content import EmailContent
from creatives.editing import add_variant, save_variant
from creatives.versions import create_creative, freeze_current_version

MJML = """<mjml><mj-body><mj-section><mj-column>
<mj-text>{greeting}, {{{{ first_name }}}} from {{{{ school }}}}.</mj-text>
<mj-button href="https://careers.example.org/apply">Apply</mj-button>
<mj-text><a href="{{{{ unsubscribe_url }}}}">Unsubscribe</a>
<a href="{{{{ preferences_url }}}}">Preferences</a> {{{{ postal_address }}}}</mj-text>
</mj-column></mj-section></mj-body></mjml>"""


def email(greeting: str) -> EmailContent:
    return EmailContent(
        subject=f"{greeting} {{{{ first_name }}}}", mjml=MJML.format(greeting=greeting)
    )


@dataclass
class EmailCampaign:
    campaign: Campaign
    step: Step
    account_id: int


def add_contact(
    session: Session,
    email_address: str,
    *,
    role: ContactRole = ContactRole.STUDENT,
    consent: bool = True,
    birth_date: date | None = date(2000, 1, 1),
    parental: bool = False,
    timezone: str = "America/New_York",
    first_name: str = "Sam",
):
    contact = create_contact(
        session,
        email_address,
        role=role,
        first_name=first_name,
        school="Lincoln High School",
        birth_date=birth_date,
        timezone=timezone,
    )
    if consent:
        record_consent(session, contact, ConsentChannel.EMAIL, ConsentStatus.GRANTED, "test")
    if parental:
        record_consent(session, contact, ConsentChannel.PARENTAL, ConsentStatus.GRANTED, "test")
    return contact


def email_campaign(
    session: Session,
    *,
    created_by_id: int,
    smtp_port: int | None = None,
    run_at: datetime,
    status: CampaignStatus = CampaignStatus.APPROVED,
    segment_rules: dict | None = None,
    trigger: TriggerKind = TriggerKind.AT,
    local_date: date | None = None,
    local_time: str = "",
    frequency_cap: int | None = None,
    rate_per_second: float | None = None,
) -> EmailCampaign:
    """An approved email campaign with one step; SMTP to 127.0.0.1:smtp_port, or sandbox."""
    ensure_builtin_segments(session)
    if smtp_port is None:
        account = create_account(
            session,
            adapter="sandbox_email",
            display_name="Engine sandbox",
            settings={},
            credentials={},
        )
    else:
        account = create_account(
            session,
            adapter="smtp",
            display_name="Engine SMTP",
            settings={"host": "127.0.0.1", "port": smtp_port, "security": "none"},
            credentials={},
        )
    account.rate_per_second = rate_per_second
    segment = create_segment(
        session, "Everyone with email", segment_rules or {"type": "all", "rules": []}
    )
    creative = create_creative(session, "Careers email", "email")
    save_variant(session, creative.id, "", email("Hello"))
    add_variant(session, creative.id, "parents")
    save_variant(session, creative.id, "parents", email("Dear parent"))
    version = freeze_current_version(session, creative.id)
    campaign = Campaign(
        name="Collision careers",
        status=status,
        created_by_id=created_by_id,
        sender_name="Collision Careers Coalition",
        sender_address="hello@careers.example.org",
        frequency_cap=frequency_cap,
    )
    step = Step(
        campaign=campaign,
        name="Email wave",
        channel_account_id=account.id,
        channel_kind="email",
        creative_id=creative.id,
        creative_version_id=version.id,
        segment_id=segment.id,
        trigger=trigger,
        run_at=run_at,
        local_date=local_date,
        local_time=local_time,
        timezone="America/New_York",
    )
    session.add_all([campaign, step])
    session.flush()
    return EmailCampaign(campaign, step, account.id)
