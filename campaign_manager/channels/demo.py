"""The demo's channel accounts: sandboxes only, so the demo never sends anything anywhere."""

from __future__ import annotations

from sqlalchemy.orm import Session

from campaign_manager.channels.accounts import create_account
from campaign_manager.channels.base import ChannelKind
from campaign_manager.channels.models import ChannelAccount, RateLimits

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
