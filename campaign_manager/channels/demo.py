"""The demo's channel accounts: sandboxes only, so the demo never sends anything anywhere,
and the print-export portal with one ready job for the demo vendor."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from campaign_manager.channels.accounts import create_account
from campaign_manager.channels.base import ChannelKind
from campaign_manager.channels.models import ChannelAccount, RateLimits
from campaign_manager.channels.print_export import (
    NoticeSettings,
    PrintExportError,
    build_print_message,
    notice_adapter,
    notice_key,
    ready_notice,
    record_notice,
    store_print_job,
)
from campaign_manager.channels.print_jobs import PrintJob
from campaign_manager.channels.print_target import PrintTarget
from campaign_manager.core.accounts import Vendor
from campaign_manager.core.db import utcnow
from creatives.models import Creative, CreativeKind

DEMO_ACCOUNTS = (
    (
        ChannelKind.EMAIL,
        "sandbox_email",
        "Demo newsletter email (sandbox — nothing is sent)",
        "Stands in for the coalition's SendGrid account.",
        RateLimits(per_second=10, per_hour=20_000),
    ),
    (
        ChannelKind.SOCIAL,
        "sandbox_social",
        "Demo social accounts (sandbox — nothing is posted)",
        "Stands in for the coalition's Mastodon, Bluesky and LinkedIn accounts.",
        RateLimits(per_hour=30),
    ),
    (
        ChannelKind.WEB,
        "sandbox_web",
        "Demo careers website (sandbox — nothing is published)",
        "Stands in for careers.example.org.",
        RateLimits(),
    ),
)


def create_demo_accounts(session: Session) -> dict[ChannelKind, ChannelAccount]:
    return {
        kind: create_account(
            session,
            adapter=adapter,
            display_name=name,
            settings={"note": note},
            credentials={},
            rate_limits=limits,
        )
        for kind, adapter, name, note, limits in DEMO_ACCOUNTS
    }


# --- print export ---------------------------------------------------------------------------

PRINT_NOTICES_NAME = "Print job notices (sandbox — nothing is sent)"
PRINT_EXPORT_NAME = "Keystone Print & Mail portal (print export)"
DEMO_FLYER = "School flyer (US letter)"
DEMO_JOB_KEY = "demo-print-job-flyer"
# Two schools keep the demo fast: a two-page PDF renders in about a second.
DEMO_JOB_SCHOOLS = 2


def create_demo_print_export(session: Session, *, base_url: str) -> ChannelAccount:
    """The portal's print-export account, emailing its notices through a sandbox."""
    notices = create_account(
        session,
        adapter="sandbox_email",
        display_name=PRINT_NOTICES_NAME,
        settings={"note": "Sends the 'print job ready' emails to vendors; records them only."},
        credentials={},
    )
    return create_account(
        session,
        adapter="print_export",
        display_name=PRINT_EXPORT_NAME,
        settings={
            "portal_base_url": base_url,
            "notify_account_id": str(notices.id),
            "notify_from_address": "print-desk@careers.example.org",
            "notify_from_name": "Collision Careers print desk",
        },
        credentials={},
    )


def create_demo_print_job(
    session: Session, *, account: ChannelAccount, vendor: Vendor, instance_path: Path
) -> PrintJob:
    """One ready job: the demo flyer for the first two schools, 250 and 400 copies.

    The lead's demo campaign makes its own print steps; this job only gives a newcomer who
    signs in as the vendor something to download, accept and ship. It is made with the
    services the adapter uses, inside the demo's one transaction, and its notice goes to the
    sandbox account (no network, so sending inside the transaction is harmless).
    """
    flyer = session.scalar(
        select(Creative).where(Creative.name == DEMO_FLYER, Creative.kind == CreativeKind.PRINT)
    )
    if flyer is None or flyer.brand_kit is None:
        raise LookupError(f"the demo print job needs the creatives demo's {DEMO_FLYER!r}")
    schools = sorted(flyer.brand_kit.partners, key=lambda p: p.name.lower())[:DEMO_JOB_SCHOOLS]
    target = PrintTarget(
        vendor_id=vendor.id,
        variants=tuple(school.key for school in schools),
        quantity=250,
        quantities={schools[-1].key: 400},
        paper_stock="100 lb gloss text",
        finishing="Trim to size; shrink-wrap in bundles of 50",
        ship_to_by_variant={
            school.key: f"Attn: {school.contact_name}, {school.contact_title}\n{school.name}\n"
            f"{120 + 40 * index} Campus Drive"
            for index, school in enumerate(schools)
        },
        due_date=utcnow().date() + timedelta(days=21),
    )
    message = build_print_message(session, flyer.current_version.id, target)
    job = store_print_job(
        session, message, idempotency_key=DEMO_JOB_KEY, channel_account_id=account.id
    )
    notice = NoticeSettings.from_settings(account.settings)
    try:
        adapter = notice_adapter(session, notice, instance_path)
        outcome = adapter.send(ready_notice(job, notice), idempotency_key=notice_key(job.id))
    except PrintExportError as exc:
        outcome = str(exc)
    record_notice(session, job, outcome)
    return job
