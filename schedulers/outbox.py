"""Claiming due deliveries, recording what happened to them, and recovering after crashes.

A worker claims due rows (pending → sending, with a lease), sends them outside any
transaction, then records each outcome. If it dies, the lease runs out and
`recover_expired_leases` decides: rows of idempotent adapters go back to pending (the
retry reuses the idempotency key), the others become `uncertain` for a person to resolve.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, bindparam, func, insert, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from campaign_manager.campaigns.models import (
    Campaign,
    CampaignStatus,
    Delivery,
    DeliveryStatus,
    Event,
    EventKind,
    Step,
)
from campaign_manager.channels.accounts import mark_needs_reconnect
from campaign_manager.channels.base import Failed, RetryLater, SendResult, Sent
from campaign_manager.channels.models import AccountStatus, ChannelAccount
from campaign_manager.core.db import utcnow
from campaign_manager.core.webhooks import WebhookEventType, record_events
from schedulers.retry import RetryPolicy
from schedulers.throttle import accounts_in_backoff, back_off

# When a provider rejects the credentials, wait this long before the next try: a person
# has to reconnect the account first.
RECONNECT_WAIT = timedelta(hours=1)
UNCERTAIN_REASON = (
    "the worker stopped while handing this message to the provider; "
    "check whether it arrived, then mark it sent or retry it"
)


def claim_rows(
    session: Session,
    due: Select[Any],
    model: Any,
    *,
    sending: enum.Enum,
    worker: str,
    limit: int,
    lease_seconds: float,
    now: datetime,
) -> list[int]:
    """Lease up to `limit` of the rows whose ids `due` selects to this worker.

    Shared by every outbox table (deliveries, webhook deliveries): each has the columns
    id, status, next_attempt_at, lease_until, worker and updated_at.
    PostgreSQL: FOR UPDATE SKIP LOCKED lets many workers claim side by side without
    waiting on each other. SQLite has one writer at a time (BEGIN IMMEDIATE) and ignores
    the clause.
    """
    ids = list(
        session.scalars(
            due.order_by(model.next_attempt_at, model.id)
            .limit(limit)
            .with_for_update(skip_locked=True, of=model)
        )
    )
    if not ids:
        return []
    session.execute(
        update(model)
        .where(model.id.in_(ids))
        .values(
            status=sending,
            lease_until=now + timedelta(seconds=lease_seconds),
            worker=worker,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    return ids


def rows_held_by(
    session: Session, model: Any, ids: Iterable[int], *, sending: enum.Enum, worker: str
) -> dict[int, Any]:
    """The rows among `ids` that this worker still holds, by id.

    A row whose lease ran out and was taken over is not among them, so a slow worker can
    never overwrite the newer owner's result (same columns as `claim_rows`).
    """
    return {
        row.id: row
        for row in session.scalars(
            select(model).where(
                model.id.in_(list(ids)), model.status == sending, model.worker == worker
            )
        )
    }


def requeue_expired_leases(
    session: Session,
    model: Any,
    *conditions: Any,
    pending: enum.Enum,
    sending: enum.Enum,
    now: datetime,
    **values: Any,
) -> int:
    """Rows left in `sending` past their lease (and matching `conditions`) go back to
    pending, due now; only for rows whose retry cannot send twice. Returns how many."""
    return (
        session.execute(
            update(model)
            .where(model.status == sending, model.lease_until < now, *conditions)
            .values(
                status=pending,
                next_attempt_at=now,
                lease_until=None,
                worker="",
                updated_at=now,
                **values,
            )
            .execution_options(synchronize_session=False)
        ).rowcount
        or 0
    )


def claim_due_deliveries(
    session: Session, worker: str, *, limit: int, lease_seconds: float, now: datetime | None = None
) -> list[int]:
    """Take up to `limit` due rows of running campaigns for this worker; return their ids."""
    now = now or utcnow()
    due = (
        select(Delivery.id)
        .join(Step, Step.id == Delivery.step_id)
        .join(Campaign, Campaign.id == Step.campaign_id)
        .where(
            Delivery.status == DeliveryStatus.PENDING,
            Delivery.next_attempt_at <= now,
            Campaign.status == CampaignStatus.RUNNING,
            Delivery.channel_account_id.not_in(accounts_in_backoff(now)),
            # Disabled accounts and those needing reconnection keep their rows pending.
            Delivery.channel_account_id.in_(
                select(ChannelAccount.id).where(ChannelAccount.status == AccountStatus.ACTIVE)
            ),
        )
    )
    return claim_rows(
        session,
        due,
        Delivery,
        sending=DeliveryStatus.SENDING,
        worker=worker,
        limit=limit,
        lease_seconds=lease_seconds,
        now=now,
    )


def release_unsent(session: Session, ids: Sequence[int], retry_at: datetime, reason: str) -> None:
    """Give claimed rows back untried (throttled, or the campaign was paused)."""
    if not ids:
        return
    session.execute(
        update(Delivery)
        .where(Delivery.id.in_(ids), Delivery.status == DeliveryStatus.SENDING)
        .values(
            status=DeliveryStatus.PENDING,
            next_attempt_at=retry_at,
            lease_until=None,
            worker="",
            reason=reason,
            updated_at=utcnow(),
        )
        .execution_options(synchronize_session=False)
    )


def skip_claimed(session: Session, ids: Sequence[int], reason: str) -> None:
    """Claimed rows that must not be sent after all (the campaign was cancelled)."""
    if not ids:
        return
    session.execute(
        update(Delivery)
        .where(Delivery.id.in_(ids), Delivery.status == DeliveryStatus.SENDING)
        .values(status=DeliveryStatus.SKIPPED, reason=reason, lease_until=None, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )


@dataclass(frozen=True)
class Outcome:
    """What happened to one claimed delivery, to be written by `record_outcomes`."""

    delivery_id: int
    result: SendResult
    # False when the adapter could not promise that a retry will not send twice.
    idempotent: bool = False
    # Rendering or validation failed before anything was sent.
    before_send: bool = False
    # Set when the recipient stopped being eligible (suppressed or skipped, with the
    # result's reason) between materialisation and sending.
    final_status: DeliveryStatus | None = None


def record_outcomes(
    session: Session,
    outcomes: Iterable[Outcome],
    policy: RetryPolicy,
    *,
    worker: str,
    now: datetime | None = None,
    rng: random.Random | None = None,
) -> None:
    """Write each outcome; only rows this worker still holds are touched.

    A row whose lease ran out and was taken over is left alone (the `worker` check), so a
    slow worker can never overwrite the newer owner's result.
    """
    now = now or utcnow()
    outcomes = list(outcomes)
    if not outcomes:
        return
    rows = rows_held_by(
        session,
        Delivery,
        [o.delivery_id for o in outcomes],
        sending=DeliveryStatus.SENDING,
        worker=worker,
    )
    recorded = []
    sent: list[tuple[Delivery, Outcome]] = []
    for outcome in outcomes:
        delivery = rows.get(outcome.delivery_id)
        if delivery is None:
            continue
        recorded.append(delivery)
        if isinstance(outcome.result, Sent) and outcome.final_status is None:
            sent.append((delivery, outcome))
        else:
            _apply(session, delivery, outcome, policy, now, rng)
    _record_sent(session, sent, worker, now)
    events = [delivery_event(d) for d in recorded if d.status in DELIVERY_EVENTS]
    # One look at the subscriptions for the batch, after every row is changed, so the rows
    # are written together too (a query per row flushed each row on its own).
    record_events(session, events)
    session.flush()


def _record_sent(
    session: Session, sent: list[tuple[Delivery, Outcome]], worker: str, now: datetime
) -> None:
    """The common outcome, written with one UPDATE and one INSERT for the whole batch.

    Through the ORM's unit of work, recording a batch of sent emails was a third of the
    delivery worker's CPU (py-spy, `bench email`): history and relationship bookkeeping
    for every row. The loaded objects get the new values without being marked changed,
    so the flush leaves them alone and webhook events read the values written.
    """
    if not sent:
        return
    table = Delivery.__table__
    changes = []
    for delivery, outcome in sent:
        values = {
            "status": DeliveryStatus.SENT,
            "external_id": outcome.result.external_id[:300],  # type: ignore[union-attr]
            "attempts": delivery.attempts + (0 if outcome.before_send else 1),
            "sent_at": now,
            "error": "",
            "reason": "",
            "lease_until": None,
            "updated_at": now,
        }
        for name, value in values.items():
            set_committed_value(delivery, name, value)
        changes.append({"delivery_id": delivery.id, **values})
    session.execute(
        update(table)
        .where(
            table.c.id == bindparam("delivery_id"),
            table.c.status == DeliveryStatus.SENDING,
            table.c.worker == worker,
        )
        .values({name: bindparam(name) for name in changes[0] if name != "delivery_id"}),
        changes,
    )
    session.execute(
        insert(Event.__table__),
        [_event_row(delivery, EventKind.SENT, now) for delivery, _outcome in sent],
    )


# The outcomes that subscribers of outgoing webhooks hear about.
DELIVERY_EVENTS = {
    DeliveryStatus.SENT: WebhookEventType.DELIVERY_SENT,
    DeliveryStatus.FAILED: WebhookEventType.DELIVERY_FAILED,
}


def delivery_event(delivery: Delivery) -> tuple[WebhookEventType, dict[str, Any]]:
    """The delivery.sent or delivery.failed webhook event of a delivery, for `record_events`.

    Ids, not personal data: a receiver asks the API for the contact if it needs more.
    """
    step = delivery.step
    data = {
        "delivery_id": delivery.id,
        "status": delivery.status.value,
        "campaign_id": step.campaign_id,
        "step_id": step.id,
        "occurrence": delivery.occurrence,
        "channel_kind": step.channel_kind,
        "channel_account_id": delivery.channel_account_id,
        "contact_id": delivery.contact_id,
        "segment": delivery.segment_slug,
        "attempts": delivery.attempts,
        "external_id": delivery.external_id,
        "sent_at": delivery.sent_at,
        "reason": delivery.reason,
        "error": delivery.error,
    }
    return DELIVERY_EVENTS[delivery.status], data


def _apply(
    session: Session,
    delivery: Delivery,
    outcome: Outcome,
    policy: RetryPolicy,
    now: datetime,
    rng: random.Random | None,
) -> None:
    result = outcome.result
    delivery.lease_until = None
    delivery.updated_at = now
    if not outcome.before_send:
        delivery.attempts += 1
    if outcome.final_status is not None:
        delivery.status = outcome.final_status
        delivery.reason = getattr(result, "reason", "")
        return
    # Sent outcomes are written by _record_sent, the whole batch at once.
    if isinstance(result, RetryLater):
        delivery.error = result.reason
        if result.maybe_delivered and not outcome.idempotent:
            delivery.status = DeliveryStatus.UNCERTAIN
            delivery.reason = "the provider may have received it: " + result.reason
            return
        if result.after_seconds:
            back_off(
                session, delivery.channel_account_id, now + timedelta(seconds=result.after_seconds)
            )
        _retry_or_fail(delivery, policy, now, result.after_seconds, rng)
        return
    assert isinstance(result, Failed)
    delivery.error = result.reason
    if result.needs_reconnect:
        account = session.get(ChannelAccount, delivery.channel_account_id)
        if account is not None:
            mark_needs_reconnect(account, result.reason)
        back_off(session, delivery.channel_account_id, now + RECONNECT_WAIT)
        delivery.status = DeliveryStatus.PENDING
        delivery.next_attempt_at = now + RECONNECT_WAIT
        delivery.reason = "channel account needs reconnecting"
        return
    if result.permanent:
        delivery.status = DeliveryStatus.FAILED
        delivery.reason = "permanent failure"
        session.add(_event(delivery, EventKind.FAILED, now, {"error": result.reason}))
        return
    _retry_or_fail(delivery, policy, now, None, rng)


def _retry_or_fail(
    delivery: Delivery, policy: RetryPolicy, now: datetime, provider_says: float | None, rng
) -> None:
    retry_at = policy.retry_at(now, delivery.attempts, provider_says, rng)
    if retry_at is None:
        delivery.status = DeliveryStatus.FAILED
        delivery.reason = f"gave up after {delivery.attempts} attempts"
        return
    delivery.status = DeliveryStatus.PENDING
    delivery.next_attempt_at = retry_at
    delivery.reason = "retry scheduled"


def _event(delivery: Delivery, kind: EventKind, now: datetime, data: dict | None = None) -> Event:
    return Event(**_event_row(delivery, kind, now, data))


def _event_row(
    delivery: Delivery, kind: EventKind, now: datetime, data: dict | None = None
) -> dict[str, Any]:
    step = delivery.step
    return {
        "kind": kind,
        "delivery_id": delivery.id,
        "campaign_id": step.campaign_id,
        "step_id": step.id,
        "contact_id": delivery.contact_id,
        "segment_slug": delivery.segment_slug,
        "channel_kind": step.channel_kind,
        "data": data or {},
        "occurred_at": now,
    }


def recover_expired_leases(
    session: Session, idempotent_account_ids: Iterable[int], now: datetime | None = None
) -> tuple[int, int]:
    """Rows left in `sending` past their lease: retry (idempotent) or mark uncertain.

    Returns (requeued, uncertain).
    """
    now = now or utcnow()
    idempotent = list(idempotent_account_ids)
    expired = (Delivery.status == DeliveryStatus.SENDING, Delivery.lease_until < now)
    requeued = 0
    if idempotent:
        requeued = requeue_expired_leases(
            session,
            Delivery,
            Delivery.channel_account_id.in_(idempotent),
            pending=DeliveryStatus.PENDING,
            sending=DeliveryStatus.SENDING,
            now=now,
            reason="retried after a worker stopped (idempotent channel)",
        )
    uncertain = session.execute(
        update(Delivery)
        .where(*expired)
        .values(
            status=DeliveryStatus.UNCERTAIN,
            lease_until=None,
            reason=UNCERTAIN_REASON,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    return requeued, uncertain or 0


def resolve_uncertain(session: Session, delivery_id: int, *, mark_sent: bool) -> Delivery:
    """A person checked the provider: the message did arrive (sent) or it did not (retry)."""
    delivery = session.get(Delivery, delivery_id)
    if delivery is None or delivery.status not in (DeliveryStatus.UNCERTAIN, DeliveryStatus.FAILED):
        raise ValueError("only uncertain or failed deliveries can be resolved")
    now = utcnow()
    if mark_sent:
        if delivery.status is not DeliveryStatus.UNCERTAIN:
            raise ValueError("only an uncertain delivery can be marked as sent")
        delivery.status = DeliveryStatus.SENT
        delivery.sent_at = now
        delivery.reason = "marked sent by a person"
    else:
        delivery.status = DeliveryStatus.PENDING
        delivery.next_attempt_at = now
        delivery.reason = "retry requested by a person"
    delivery.updated_at = now
    if mark_sent:
        record_events(session, [delivery_event(delivery)])
    session.flush()
    return delivery


def status_counts(session: Session, step_ids: Sequence[int]) -> dict[int, dict[str, int]]:
    """Counts of deliveries by status for each step: the progress a campaign page shows."""
    counts: dict[int, dict[str, int]] = {step_id: {} for step_id in step_ids}
    if not step_ids:
        return counts
    rows = session.execute(
        select(Delivery.step_id, Delivery.status, func.count())
        .where(Delivery.step_id.in_(step_ids))
        .group_by(Delivery.step_id, Delivery.status)
    )
    for step_id, status, count in rows:
        counts[step_id][status.value] = count
    return counts
