"""Turning a due step into deliveries: one row per recipient or target, nobody silently lost.

Rows are written in batches with INSERT … ON CONFLICT DO NOTHING on
(step_id, occurrence, recipient_key), so running the same occurrence twice (a retried
job, a restarted scheduler) adds nothing. Recipients who must not get the message get a
row too, with the status and reason, or a deferred send time (quiet hours, local time).
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ARRAY, bindparam, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from audiences.importer import in_list
from audiences.models import Contact, Segment
from audiences.recipients import Recipient, RecipientStatus, recipient_batches
from audiences.segments import segment_member_ids
from campaign_manager.campaigns.models import Delivery, DeliveryStatus, Step, TriggerKind
from campaign_manager.core.config import Settings
from campaign_manager.core.db import Database
from schedulers.timing import (
    QuietHours,
    TimingError,
    parse_clock,
    recipient_local_send_time,
    zone,
)

BATCH_SIZE = 1000


@dataclass
class MaterializeResult:
    """How many rows a step made (or would make, in a dry run), by status and reason."""

    by_status: Counter[str] = field(default_factory=Counter)
    by_reason: Counter[str] = field(default_factory=Counter)
    inserted: int = 0

    @property
    def total(self) -> int:
        return sum(self.by_status.values())

    def count(self, row: dict[str, Any]) -> None:
        status = row["status"].value if hasattr(row["status"], "value") else row["status"]
        self.by_status[status] += 1
        if row.get("reason"):
            self.by_reason[row["reason"]] += 1


def insert_deliveries(session: Session, rows: list[dict[str, Any]]) -> int:
    """INSERT … ON CONFLICT DO NOTHING; returns how many rows were new."""
    if not rows:
        return 0
    table = Delivery.__table__
    if session.get_bind().dialect.name == "postgresql":
        # One array per column, unnested into rows: a short statement with 17 parameters.
        # A multi-row VALUES of the same rows has 17,000, and psycopg spends most of the
        # time parsing them (bench materialize: 2,800 rows/s before, see docs/benchmarks.md).
        columns = list(rows[0])
        arrays = [
            bindparam(f"{name}s", [row[name] for row in rows], type_=ARRAY(table.c[name].type))
            for name in columns
        ]
        unnested = func.unnest(*arrays).table_valued(*columns).render_derived()
        statement = postgresql.insert(table).from_select(
            columns, select(*(unnested.c[name] for name in columns))
        )
        return len(
            session.execute(
                statement.on_conflict_do_nothing(
                    index_elements=["step_id", "occurrence", "recipient_key"]
                ).returning(table.c.id)
            ).all()
        )
    statement = (
        sqlite.insert(table)
        .on_conflict_do_nothing(index_elements=["step_id", "occurrence", "recipient_key"])
        .returning(table.c.id)
    )
    # Core executemany with RETURNING: SQLAlchemy batches it into multi-row VALUES.
    return len(session.execute(statement, rows).all())


def target_rows(step: Step, occurrence: str, now: datetime) -> Iterable[dict[str, Any]]:
    """Steps without a segment send once per target: the account's feed, a vendor, a site."""
    keys = step.target.get("keys") or ["account"]
    for key in keys:
        yield delivery_row(step, occurrence, str(key), now)


def delivery_row(
    step: Step,
    occurrence: str,
    recipient_key: str,
    send_at: datetime,
    *,
    contact_id: int | None = None,
    status: DeliveryStatus = DeliveryStatus.PENDING,
    reason: str = "",
    variant_key: str = "",
    segment_slug: str = "",
) -> dict[str, Any]:
    return {
        "step_id": step.id,
        "occurrence": occurrence,
        "recipient_key": recipient_key,
        "contact_id": contact_id,
        "channel_account_id": step.channel_account_id,
        "creative_version_id": step.creative_version_id,
        "status": status,
        "reason": reason,
        "variant_key": variant_key,
        "segment_slug": segment_slug,
        "next_attempt_at": send_at,
        "attempts": 0,
        "worker": "",
        "external_id": "",
        "error": "",
        "created_at": send_at,
        "updated_at": send_at,
    }


def write_in_batches(
    session: Session, rows: Iterable[dict[str, Any]], result: MaterializeResult, *, dry_run: bool
) -> None:
    batch: list[dict[str, Any]] = []
    for row in rows:
        result.count(row)
        if dry_run:
            continue
        batch.append(row)
        if len(batch) >= BATCH_SIZE:
            result.inserted += insert_deliveries(session, batch)
            batch = []
    if batch and not dry_run:
        result.inserted += insert_deliveries(session, batch)


def materialize_step(
    database: Database,
    step_id: int,
    occurrence: str,
    settings: Settings,
    *,
    now: datetime,
    dry_run: bool = False,
) -> MaterializeResult:
    """Create (or, with dry_run, only count) the deliveries of one occurrence of a step.

    Each batch is its own transaction, so a million recipients never hold the database;
    a crash midway is repaired by running the same occurrence again.
    """
    result = MaterializeResult()
    with database.transaction() as session:
        step = session.get(Step, step_id)
        if step.segment_id is None:
            write_in_batches(session, target_rows(step, occurrence, now), result, dry_run=dry_run)
            return result
        plan = SendPlan.for_step(session, step, settings, now)
    after_id = 0
    while True:
        # One transaction per batch: a crash loses at most the batch in progress, and the
        # rerun skips what is already there (ON CONFLICT DO NOTHING).
        with database.transaction() as session:
            step = session.get(Step, step_id)
            batch = next(
                recipient_batches(
                    session,
                    step.segment_id,
                    step.channel_kind,
                    batch_size=BATCH_SIZE,
                    after_id=after_id,
                ),
                [],
            )
            if not batch:
                return result
            rows = plan.rows(session, step, occurrence, batch)
            write_in_batches(session, rows, result, dry_run=dry_run)
            after_id = batch[-1].contact_id
        if len(batch) < BATCH_SIZE:
            return result


@dataclass
class SendPlan:
    """Per-step rules applied to each recipient: send time, quiet hours, cap, variant."""

    now: datetime
    default_zone: ZoneInfo
    quiet_hours: QuietHours | None
    frequency_cap: int
    variant_slugs: list[str]
    segment_slug: str = ""
    local_day: date | None = None
    local_clock: time | None = None

    @classmethod
    def for_step(cls, session: Session, step: Step, settings: Settings, now: datetime) -> SendPlan:
        campaign = step.campaign
        delivery = settings.delivery
        cap = (
            campaign.frequency_cap
            if campaign.frequency_cap is not None
            else delivery.frequency_cap_per_7_days
        )
        addresses_people = step.channel_kind == "email"
        local = step.trigger is TriggerKind.LOCAL_TIME
        return cls(
            now=now,
            default_zone=zone(campaign.timezone or delivery.default_timezone),
            quiet_hours=QuietHours.parse(delivery.quiet_hours_start, delivery.quiet_hours_end)
            if addresses_people
            else None,
            frequency_cap=cap if addresses_people else 0,
            variant_slugs=variant_slugs_of(session, step),
            segment_slug=session.scalar(select(Segment.slug).where(Segment.id == step.segment_id))
            or "",
            local_day=step.local_date if local else None,
            local_clock=parse_clock(step.local_time) if local else None,
        )

    def rows(
        self, session: Session, step: Step, occurrence: str, batch: list[Recipient]
    ) -> list[dict[str, Any]]:
        eligible_ids = [r.contact_id for r in batch if r.status is RecipientStatus.ELIGIBLE]
        recent = (
            recent_message_counts(session, eligible_ids, self.now) if self.frequency_cap else {}
        )
        variants = variant_members(session, self.variant_slugs, eligible_ids)
        segment_slug = self.segment_slug
        rows = []
        for recipient in batch:
            key = f"contact:{recipient.contact_id}"
            common = {"contact_id": recipient.contact_id, "segment_slug": segment_slug}
            if recipient.status is not RecipientStatus.ELIGIBLE:
                status = DeliveryStatus(recipient.status.value)
                reason = recipient.reason.value if recipient.reason else ""
                rows.append(
                    delivery_row(
                        step, occurrence, key, self.now, status=status, reason=reason, **common
                    )
                )
                continue
            if self.frequency_cap and recent.get(recipient.contact_id, 0) >= self.frequency_cap:
                rows.append(
                    delivery_row(
                        step,
                        occurrence,
                        key,
                        self.now,
                        status=DeliveryStatus.SKIPPED,
                        reason=f"frequency cap: {self.frequency_cap} messages in 7 days",
                        **common,
                    )
                )
                continue
            send_at, reason = self.send_time(recipient)
            rows.append(
                delivery_row(
                    step,
                    occurrence,
                    key,
                    send_at,
                    reason=reason,
                    variant_key=variants.get(recipient.contact_id, ""),
                    **common,
                )
            )
        return rows

    def send_time(self, recipient: Recipient) -> tuple[datetime, str]:
        """When this recipient's message may go, and why it waits, if it does."""
        tz = self.default_zone
        if recipient.timezone:
            # A contact with an unknown zone name gets the campaign's zone.
            with contextlib.suppress(TimingError):
                tz = zone(recipient.timezone)
        moment, reason = self.now, ""
        if self.local_day is not None:
            moment = max(recipient_local_send_time(self.local_day, self.local_clock, tz), self.now)
            reason = "scheduled for the recipient's local time"
        if self.quiet_hours is not None:
            allowed = self.quiet_hours.next_allowed(moment, tz)
            if allowed != moment:
                moment, reason = allowed, "deferred: quiet hours in the recipient's timezone"
        return moment, reason


def recent_message_counts(
    session: Session, contact_ids: list[int], now: datetime
) -> dict[int, int]:
    """Messages each contact got or is about to get in the rolling 7 days, all campaigns."""
    if not contact_ids:
        return {}
    since = now - timedelta(days=7)
    counted = (DeliveryStatus.SENT, DeliveryStatus.PENDING, DeliveryStatus.SENDING)
    rows = session.execute(
        select(Delivery.contact_id, func.count())
        .where(
            in_list(session, Delivery.contact_id, contact_ids),
            Delivery.status.in_(counted),
            func.coalesce(Delivery.sent_at, Delivery.next_attempt_at) >= since,
        )
        .group_by(Delivery.contact_id)
    )
    return dict(rows.all())


def variant_slugs_of(session: Session, step: Step) -> list[str]:
    """The segment slugs the step's creative has variants for, in the creative's order."""
    from creatives.models import CreativeVariant

    if step.creative_version_id is None:
        return []
    keys = session.scalars(
        select(CreativeVariant.key)
        .where(CreativeVariant.version_id == step.creative_version_id, CreativeVariant.key != "")
        .order_by(CreativeVariant.id)
    )
    return list(keys)


def variant_members(session: Session, slugs: list[str], contact_ids: list[int]) -> dict[int, str]:
    """Which variant each contact gets: the first variant whose segment they belong to."""
    chosen: dict[int, str] = {}
    if not slugs or not contact_ids:
        return chosen
    for slug in slugs:
        segment = session.scalar(select(Segment).where(Segment.slug == slug))
        if segment is None:
            continue  # a variant for a segment that was deleted: nobody gets it
        members = session.scalars(
            segment_member_ids(session, segment).where(in_list(session, Contact.id, contact_ids))
        )
        for contact_id in members:
            chosen.setdefault(contact_id, slug)
    return chosen
