"""Bounces and complaints posted by providers: authenticate, store once, apply.

`receive_webhook` is what the public webhook endpoint calls. The account's adapter checks
the provider's signature and turns the payload into BounceReports; each is stored as a
ChannelEvent once (a provider retrying, or a replayed request, finds it already there) and
the new ones go through `apply_bounce_reports`, the one function that acts on them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from audiences.contacts import AudienceError
from audiences.models import SuppressionReason
from audiences.suppression import suppress
from campaign_manager.channels.accounts import build_adapter
from campaign_manager.channels.base import (
    BounceKind,
    BounceReport,
    SupportsWebhooks,
    WebhookRequest,
)
from campaign_manager.channels.models import ChannelAccount, ChannelEvent

log = logging.getLogger(__name__)


class UnknownWebhook(LookupError):
    """No account answers to this webhook address; the caller answers 404 and says no more."""


@dataclass
class WebhookOutcome:
    received: int = 0
    stored: list[BounceReport] = field(default_factory=list)
    duplicates: int = 0
    to_suppress: list[BounceReport] = field(default_factory=list)


def find_webhook_account(session: Session, account_id: int, token: str) -> ChannelAccount:
    """The account whose webhook URL this is; the token is compared in constant time."""
    account = session.get(ChannelAccount, account_id)
    if account is None or not hmac.compare_digest(
        account.webhook_token.encode("utf-8"), token.encode("utf-8")
    ):
        raise UnknownWebhook(account_id)
    return account


def receive_webhook(
    session: Session,
    account: ChannelAccount,
    request: WebhookRequest,
    *,
    instance_path: Path | str,
) -> WebhookOutcome:
    """Authenticate, parse, store and apply one webhook call.

    Raises WebhookRejected (bad signature, stale, unreadable) or UnknownWebhook (the
    account's adapter receives no webhooks).

    Events are accepted for disabled accounts too: a bounce of mail sent before the account
    was disabled is still a bounce.
    """
    adapter = build_adapter(account, instance_path=instance_path)
    try:
        if not isinstance(adapter, SupportsWebhooks):
            raise UnknownWebhook(account.id)
        reports = adapter.receive_webhook(request)
    finally:
        adapter.close()
    outcome = WebhookOutcome(received=len(reports))
    new_reports = []
    for report in reports:
        event_id = report.provider_event_id or _fingerprint(report)
        exists = session.scalar(
            select(ChannelEvent.id).where(
                ChannelEvent.account_id == account.id,
                ChannelEvent.provider_event_id == event_id,
            )
        )
        if exists or any(r.provider_event_id == event_id for r in new_reports):
            outcome.duplicates += 1
            continue
        session.add(
            ChannelEvent(
                account_id=account.id,
                provider=report.provider,
                provider_event_id=event_id[:255],
                kind=report.kind,
                email=report.email.strip().lower()[:320],
                permanent=report.permanent,
                reason=report.reason[:2000],
                occurred_at=report.occurred_at,
                received_at=request.received_at,
                payload=dict(report.raw),
            )
        )
        new_reports.append(_with_event_id(report, event_id))
    session.flush()
    outcome.stored = new_reports
    outcome.to_suppress = apply_bounce_reports(session, new_reports)
    return outcome


def apply_bounce_reports(session: Session, reports: Sequence[BounceReport]) -> list[BounceReport]:
    """Act on bounce and complaint reports; returns those that call for suppression.

    A permanent bounce or a complaint means: never email this address again. A soft
    bounce is only recorded (as a ChannelEvent) for the delivery history.
    """
    to_suppress = [r for r in reports if r.permanent]
    for report in to_suppress:
        reason = (
            SuppressionReason.COMPLAINED
            if report.kind is BounceKind.COMPLAINT
            else SuppressionReason.BOUNCED
        )
        try:
            suppress(session, report.email, reason, f"{report.provider} webhook")
        except AudienceError as exc:
            # An address the provider mangled: keep the event, say why nothing happened.
            log.warning("%s %s not suppressed: %s", report.provider, report.kind.value, exc)
    return to_suppress


def recent_events(session: Session, account: ChannelAccount, limit: int = 20) -> list[ChannelEvent]:
    return list(
        session.scalars(
            select(ChannelEvent)
            .where(ChannelEvent.account_id == account.id)
            .order_by(ChannelEvent.received_at.desc(), ChannelEvent.id.desc())
            .limit(limit)
        )
    )


def _fingerprint(report: BounceReport) -> str:
    """A stable id for an event the provider sent without one."""
    digest = hashlib.sha256(
        json.dumps(dict(report.raw), sort_keys=True, default=str).encode("utf-8")
    ).hexdigest()
    return f"sha256:{digest}"


def _with_event_id(report: BounceReport, event_id: str) -> BounceReport:
    if report.provider_event_id == event_id:
        return report
    return replace(report, provider_event_id=event_id)
