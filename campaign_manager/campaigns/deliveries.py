"""The delivery log: the outbox filtered, newest first, a page at a time.

Pages are cut by id (keyset pagination), not by OFFSET, so page 500 of a million rows is
as fast as page 1 and rows arriving meanwhile do not shift what a page shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, exists, func, select
from sqlalchemy.orm import Session

from campaign_manager.campaigns.models import (
    Campaign,
    CampaignStatus,
    Delivery,
    DeliveryStatus,
    Step,
)

PAGE_SIZE = 50


@dataclass(frozen=True)
class DeliveryFilter:
    campaign_id: int | None = None
    step_id: int | None = None
    status: DeliveryStatus | None = None
    channel_kind: str = ""
    # The row's last activity (updated_at) on or after `since` and before `until`.
    since: datetime | None = None
    until: datetime | None = None
    # Part of the recipient key (an address, a contact id, a target name).
    recipient: str = ""
    contact_id: int | None = None


@dataclass(frozen=True)
class DeliveryRow:
    delivery: Delivery
    step_name: str
    channel_kind: str
    campaign_id: int
    campaign_name: str
    campaign_status: CampaignStatus


@dataclass(frozen=True)
class DeliveryPage:
    rows: list[DeliveryRow]
    # Ids to pass as `before` (older rows) and `after` (newer rows), or None at an end.
    older: int | None
    newer: int | None


def _like_pattern(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _filtered(query: Select, filters: DeliveryFilter) -> Select:
    if filters.campaign_id is not None:
        query = query.where(Step.campaign_id == filters.campaign_id)
    if filters.step_id is not None:
        query = query.where(Delivery.step_id == filters.step_id)
    if filters.status is not None:
        query = query.where(Delivery.status == filters.status)
    if filters.channel_kind:
        query = query.where(Step.channel_kind == filters.channel_kind)
    if filters.since is not None:
        query = query.where(Delivery.updated_at >= filters.since)
    if filters.until is not None:
        query = query.where(Delivery.updated_at < filters.until)
    if filters.contact_id is not None:
        query = query.where(Delivery.contact_id == filters.contact_id)
    if filters.recipient.strip():
        query = query.where(
            func.lower(Delivery.recipient_key).like(
                _like_pattern(filters.recipient.strip()), escape="\\"
            )
        )
    return query


def filtered_deliveries(filters: DeliveryFilter) -> Select[tuple[Delivery]]:
    """The matching deliveries, unordered: for callers that page by their own keys (the API)."""
    return _filtered(select(Delivery).join(Step, Step.id == Delivery.step_id), filters)


def delivery_page(
    session: Session,
    filters: DeliveryFilter,
    *,
    before: int | None = None,
    after: int | None = None,
    limit: int = PAGE_SIZE,
) -> DeliveryPage:
    """One page of matching deliveries, newest first.

    `before=<id>` gives the page of rows older than that id; `after=<id>` the page of rows
    just newer than it; neither, the newest page.
    """
    query = _filtered(
        select(Delivery, Step.name, Step.channel_kind, Campaign.id, Campaign.name, Campaign.status)
        .join(Step, Step.id == Delivery.step_id)
        .join(Campaign, Campaign.id == Step.campaign_id),
        filters,
    )
    if after is not None:
        found = session.execute(
            query.where(Delivery.id > after).order_by(Delivery.id.asc()).limit(limit)
        ).all()
        found.reverse()
    else:
        if before is not None:
            query = query.where(Delivery.id < before)
        found = session.execute(query.order_by(Delivery.id.desc()).limit(limit)).all()
    rows = [DeliveryRow(*row) for row in found]
    if not rows:
        return DeliveryPage([], None, None)
    newest, oldest = rows[0].delivery.id, rows[-1].delivery.id
    return DeliveryPage(
        rows,
        older=oldest if _any(session, filters, Delivery.id < oldest) else None,
        newer=newest if _any(session, filters, Delivery.id > newest) else None,
    )


def _any(session: Session, filters: DeliveryFilter, condition) -> bool:
    query = _filtered(
        select(Delivery.id).join(Step, Step.id == Delivery.step_id).where(condition), filters
    )
    return bool(session.scalar(select(exists(query))))


def queue_counts(session: Session) -> dict[str, int]:
    """How many deliveries wait for a person: uncertain and failed."""
    rows = session.execute(
        select(Delivery.status, func.count())
        .where(Delivery.status.in_([DeliveryStatus.UNCERTAIN, DeliveryStatus.FAILED]))
        .group_by(Delivery.status)
    )
    counts = {DeliveryStatus.UNCERTAIN.value: 0, DeliveryStatus.FAILED.value: 0}
    for status, count in rows:
        counts[status.value] = count
    return counts


def resolution_problem(delivery: Delivery, *, mark_sent: bool) -> str | None:
    """Why a person may not retry or mark this delivery sent, or None if they may."""
    if delivery.status not in (DeliveryStatus.UNCERTAIN, DeliveryStatus.FAILED):
        return (
            f"This delivery is {delivery.status.value}; only uncertain and failed ones "
            "wait for a person."
        )
    if mark_sent and delivery.status is not DeliveryStatus.UNCERTAIN:
        return (
            "Only an uncertain delivery can be marked as sent; a failed one was refused "
            "by the provider."
        )
    status = delivery.step.campaign.status
    if not mark_sent and status in (CampaignStatus.CANCELLED, CampaignStatus.COMPLETED):
        return f"The campaign is {status.value}; nothing of it is sent any more."
    return None
