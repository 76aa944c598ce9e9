"""Turning a due step into deliveries: one row per recipient or target, nobody silently lost.

Rows are written in batches with INSERT … ON CONFLICT DO NOTHING on
(step_id, occurrence, recipient_key), so running the same occurrence twice (a retried
job, a restarted scheduler) adds nothing. Recipients who must not get the message get a
row too, with the status and reason, or a deferred send time (quiet hours, local time).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from campaign_manager.campaigns.models import Delivery, DeliveryStatus, Step
from campaign_manager.core.config import Settings
from campaign_manager.core.db import Database

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
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table = Delivery.__table__
    statement = (
        insert(table)
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
    raise NotImplementedError("segment steps arrive with the audiences integration")
