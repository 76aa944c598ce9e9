"""Demo data: the reference campaign of the Collision Careers Coalition.

An industry coalition fights a shortage of collision-repair technicians with web, social
and print ads aimed at students, parents and educators. Each area adds its loader to
`DEMO_LOADERS`; they run in order inside one transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from audiences.demo import load_demo_audience
from campaign_manager.channels.base import ChannelKind
from campaign_manager.channels.demo import create_demo_accounts
from campaign_manager.channels.models import ChannelAccount
from campaign_manager.core.accounts import (
    Organization,
    OrganizationKind,
    Role,
    User,
    Vendor,
    create_user,
    create_vendor,
)
from campaign_manager.core.config import Settings
from creatives.models import Creative

DEMO_PASSWORD = "demo-password"  # noqa: S105 - printed on purpose: it is the demo's login


@dataclass
class DemoContext:
    """What loaders share: the settings, and what earlier loaders made."""

    settings: Settings
    logins: list[tuple[str, str]] = field(default_factory=list)
    vendor: Vendor | None = None
    organizations: dict[str, Organization] = field(default_factory=dict)
    channel_accounts: dict[ChannelKind, ChannelAccount] = field(default_factory=dict)
    users: dict[Role, User] = field(default_factory=dict)
    creatives: dict[str, Creative] = field(default_factory=dict)


COALITION = "Collision Careers Coalition"
ORGANIZATIONS = [
    (COALITION, OrganizationKind.COALITION, "Nationwide", "https://careers.example.org"),
    ("Auto Body Repair Association of the Midlands", OrganizationKind.MEMBER, "Midwest", ""),
    ("Collision Industry Education Fund", OrganizationKind.MEMBER, "Nationwide", ""),
    ("Southern Collision Repairers Guild", OrganizationKind.MEMBER, "South", ""),
    ("Pacific Coast Auto Body Network", OrganizationKind.MEMBER, "West", ""),
    ("Precision Collision Centers", OrganizationKind.EMPLOYER, "Northeast", ""),
    ("Lakeside Auto Body", OrganizationKind.EMPLOYER, "Midwest", ""),
]


def load_organizations(session: Session, ctx: DemoContext) -> None:
    for name, kind, region, website in ORGANIZATIONS:
        org = Organization(name=name, kind=kind, region=region, website=website)
        session.add(org)
        ctx.organizations[name] = org
    session.flush()


def load_vendor_and_users(session: Session, ctx: DemoContext) -> None:
    ctx.vendor = create_vendor(
        session,
        "Keystone Print & Mail",
        "jobs@keystone-print.example.org",
        "400 Press Lane\nHarrisburg, PA 17101",
    )
    for role in (Role.ADMIN, Role.MARKETER, Role.APPROVER, Role.VIEWER, Role.VENDOR):
        email = f"{role.value}@example.org"
        ctx.users[role] = create_user(
            session,
            email,
            DEMO_PASSWORD,
            role,
            vendor=ctx.vendor if role is Role.VENDOR else None,
            display_name=f"Demo {role.value}",
        )
        ctx.logins.append((role.value, email))


def load_channel_accounts(session: Session, ctx: DemoContext) -> None:
    ctx.channel_accounts = create_demo_accounts(session)


def load_creatives(session: Session, ctx: DemoContext) -> None:
    """The campaign's creatives, co-branded for the schools the audience belongs to."""
    from creatives.demo import COUNSELLORS, DemoSchool, load_demo_creatives

    school_orgs = [o for o in ctx.organizations.values() if o.kind is OrganizationKind.SCHOOL]
    schools = [
        DemoSchool(org.name, org.region, COUNSELLORS[index % len(COUNSELLORS)], org.id)
        for index, org in enumerate(school_orgs)
    ]
    made = load_demo_creatives(
        session, base_url=ctx.settings.app.base_url, limits=ctx.settings.assets, schools=schools
    )
    ctx.creatives = made.creatives


def load_campaign(session: Session, ctx: DemoContext) -> None:
    """The reference campaign, approved, its first step due a minute from now."""
    from campaign_manager.campaigns.demo import load_demo_campaign

    load_demo_campaign(
        session,
        creatives=ctx.creatives,
        accounts=ctx.channel_accounts,
        marketer=ctx.users[Role.MARKETER],
        approver=ctx.users[Role.APPROVER],
        vendor=ctx.vendor,
    )


def load_audience(session: Session, ctx: DemoContext) -> None:
    """About 5,000 contacts around 20 schools (which become school organisations)."""
    audience = load_demo_audience(session)
    ctx.organizations.update({school.name: school for school in audience.schools})


def load_print_jobs(session: Session, ctx: DemoContext) -> None:
    """The demo vendor's print-export account and one ready job, so vendor@example.org
    finds something to download when signing in."""
    from campaign_manager.channels.demo import create_demo_print_export, create_demo_print_job

    account = create_demo_print_export(session, base_url=ctx.settings.app.base_url)
    ctx.channel_accounts[ChannelKind.PRINT] = account
    if ctx.vendor is None:
        raise LookupError("load_vendor_and_users must run before load_print_jobs")
    create_demo_print_job(
        session, account=account, vendor=ctx.vendor, instance_path=ctx.settings.instance_dir
    )


DEMO_LOADERS: list[Callable[[Session, DemoContext], None]] = [
    load_organizations,
    load_vendor_and_users,
    load_channel_accounts,
    load_audience,
    load_creatives,
    load_print_jobs,
    load_campaign,
]


def load_demo(session: Session, settings: Settings) -> DemoContext:
    ctx = DemoContext(settings=settings)
    for loader in DEMO_LOADERS:
        loader(session, ctx)
    return ctx
