"""Outgoing webhooks: subscriptions, the events they receive, and the outbox of their POSTs.

A subscription names a receiver URL, the event types it wants and a signing secret. When
something happens (a delivery is sent or fails, a contact unsubscribes, a print job or a
campaign changes status) the service that made the change calls `record_event` in its own
transaction, which writes one pending `webhook_deliveries` row per enabled subscription
that wants the event. So an event is recorded exactly when the change commits, and never
for a change that was rolled back.

The workers send the rows (schedulers/webhooks.py) through the same claim / lease / retry
machinery as campaign deliveries. Every attempt of a row sends the same body, signed anew
(core/security.py: `signed_webhook_headers`, shared with the webhook channel adapter), with
the event id as Idempotency-Key, so a receiver drops repeats. After `disable_after_failures`
deliveries in a row end failed, the subscription is turned off and shown as needing a
person; its rows wait, pending, until someone turns it back on.

This module sits in core because every layer that changes things emits events.
"""

from __future__ import annotations

import enum
import json
import secrets
import uuid
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    delete,
    func,
    select,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from campaign_manager.core.crypto import (
    EncryptedText,
    rotate_encrypted_column,
)
from campaign_manager.core.db import Base, BigId, StrEnumType, utcnow
from campaign_manager.core.security import webhook_url_problem

MAX_URL_LENGTH = 2000
MAX_DESCRIPTION_LENGTH = 200


class WebhookEventType(enum.StrEnum):
    DELIVERY_SENT = "delivery.sent"
    DELIVERY_FAILED = "delivery.failed"
    CONTACT_UNSUBSCRIBED = "contact.unsubscribed"
    PRINT_JOB_STATUS_CHANGED = "print_job.status_changed"
    CAMPAIGN_STATUS_CHANGED = "campaign.status_changed"

    @property
    def description(self) -> str:
        return EVENT_DESCRIPTIONS[self]


EVENT_DESCRIPTIONS = {
    WebhookEventType.DELIVERY_SENT: "A message was handed to its provider (sent).",
    WebhookEventType.DELIVERY_FAILED: "A message could not be sent and will not be retried.",
    WebhookEventType.CONTACT_UNSUBSCRIBED: "A contact unsubscribed from a channel.",
    WebhookEventType.PRINT_JOB_STATUS_CHANGED: "A print job was downloaded, accepted, printed, "
    "shipped or rejected.",
    WebhookEventType.CAMPAIGN_STATUS_CHANGED: "A campaign was submitted, approved, started, "
    "paused, resumed, completed or cancelled.",
}

# Sent by the "send test event" button only; nobody subscribes to it.
TEST_EVENT_TYPE = "webhook.test"


class WebhookDeliveryStatus(enum.StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    DELIVERED = "delivered"
    FAILED = "failed"


class WebhookError(ValueError):
    """Bad input for a subscription; the message is safe to show.

    `field` names the input it is about ("url", "event_types", "description"), or is empty,
    so the settings form and the API both put the message on the right field.
    """

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field


class WebhookSubscription(Base):
    __tablename__ = "webhook_subscriptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(MAX_URL_LENGTH))
    description: Mapped[str] = mapped_column(String(MAX_DESCRIPTION_LENGTH), default="")
    event_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Encrypted at rest with the credential keys; shown once, when made or replaced.
    secret: Mapped[str] = mapped_column(EncryptedText())
    enabled: Mapped[bool] = mapped_column(default=True)
    # Deliveries in a row that ended failed; any delivered one resets it.
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    # Set when the app turned the subscription off itself: an alert for a person.
    disabled_automatically: Mapped[bool] = mapped_column(default=False)
    disabled_reason: Mapped[str] = mapped_column(Text, default="")
    disabled_at: Mapped[datetime | None]
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    deliveries: Mapped[list[WebhookDelivery]] = relationship(
        back_populates="subscription", cascade="all, delete-orphan", passive_deletes=True
    )

    def wants(self, event_type: str) -> bool:
        return event_type in self.event_types

    @property
    def label(self) -> str:
        return self.description or self.url


class WebhookDelivery(Base):
    """One event for one subscription: the outbox row the workers send and retry."""

    __tablename__ = "webhook_deliveries"
    # In the claim's order (see ix_deliveries_due).
    __table_args__ = (Index("ix_webhook_deliveries_due", "status", "next_attempt_at", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    subscription_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_subscriptions.id", ondelete="CASCADE"), index=True
    )
    event_id: Mapped[str] = mapped_column(String(64), index=True)
    event_type: Mapped[str] = mapped_column(String(64))
    # The exact JSON sent on every attempt (only the signature's timestamp changes).
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[WebhookDeliveryStatus] = mapped_column(
        StrEnumType(WebhookDeliveryStatus, 16), default=WebhookDeliveryStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    lease_until: Mapped[datetime | None]
    worker: Mapped[str] = mapped_column(String(200), default="")
    response_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str] = mapped_column(Text, default="")
    # A redelivery is a new row with the same event; this names the row it repeats.
    redelivery_of_id: Mapped[int | None] = mapped_column(BigId)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None]

    subscription: Mapped[WebhookSubscription] = relationship(back_populates="deliveries")

    @property
    def payload(self) -> dict[str, Any]:
        return json.loads(self.body)


# --- events -------------------------------------------------------------------------------


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso_time(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def iso_time(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def event_body(event_id: str, event_type: str, data: Mapping[str, Any], at: datetime) -> str:
    payload = {"id": event_id, "type": event_type, "created_at": iso_time(at), "data": data}
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), default=_json_default)


def new_event_id() -> str:
    return f"evt_{uuid.uuid4().hex}"


def record_event(
    session: Session, event_type: WebhookEventType | str, data: Mapping[str, Any]
) -> list[WebhookDelivery]:
    """Queue the event for every enabled subscription that wants it, in the caller's
    transaction (the caller commits the change and its event together)."""
    return record_events(session, [(event_type, data)])


def record_events(
    session: Session, events: Iterable[tuple[WebhookEventType | str, Mapping[str, Any]]]
) -> list[WebhookDelivery]:
    """`record_event` for several events, reading the subscriptions once: the delivery
    engine records a whole batch of outcomes this way (one query per email made the
    `email` benchmark slower, see docs/benchmarks.md)."""
    events = [(WebhookEventType(event_type), data) for event_type, data in events]
    if not events:
        return []
    enabled = list(
        session.scalars(select(WebhookSubscription).where(WebhookSubscription.enabled.is_(True)))
    )
    if not enabled:
        return []
    now = utcnow()
    rows = []
    for event_type, data in events:
        subscriptions = [s for s in enabled if s.wants(event_type)]
        if not subscriptions:
            continue
        event_id = new_event_id()
        body = event_body(event_id, event_type, data, now)
        rows += [
            WebhookDelivery(
                subscription=subscription,
                event_id=event_id,
                event_type=event_type.value,
                body=body,
                next_attempt_at=now,
                created_at=now,
                updated_at=now,
            )
            for subscription in subscriptions
        ]
    session.add_all(rows)
    return rows


# --- subscriptions ------------------------------------------------------------------------


def generate_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def _checked(url: str, event_types: Iterable[str], description: str) -> tuple[str, list[str], str]:
    url = (url or "").strip()
    if not url:
        raise WebhookError("Enter the receiver URL.", "url")
    if len(url) > MAX_URL_LENGTH:
        raise WebhookError(f"The receiver URL is longer than {MAX_URL_LENGTH} characters.", "url")
    problem = webhook_url_problem(url)
    if problem:
        raise WebhookError(problem, "url")
    chosen = []
    for value in event_types:
        try:
            chosen.append(WebhookEventType(value).value)
        except ValueError:
            raise WebhookError(f"'{value}' is not an event type.", "event_types") from None
    if not chosen:
        raise WebhookError("Choose at least one event type.", "event_types")
    description = (description or "").strip()
    if len(description) > MAX_DESCRIPTION_LENGTH:
        raise WebhookError(
            f"Keep the description under {MAX_DESCRIPTION_LENGTH} characters.", "description"
        )
    # In the order of the enum, so the stored list does not depend on how it was ticked.
    ordered = [t.value for t in WebhookEventType if t.value in chosen]
    return url, ordered, description


def create_subscription(
    session: Session,
    *,
    url: str,
    event_types: Iterable[str],
    description: str = "",
    created_by_id: int | None = None,
) -> tuple[WebhookSubscription, str]:
    """A new enabled subscription and its signing secret (the only time it is returned)."""
    url, types, description = _checked(url, event_types, description)
    secret = generate_secret()
    subscription = WebhookSubscription(
        url=url,
        event_types=types,
        description=description,
        secret=secret,
        enabled=True,
        created_by_id=created_by_id,
    )
    session.add(subscription)
    session.flush()
    return subscription, secret


def update_subscription(
    session: Session,
    subscription: WebhookSubscription,
    *,
    url: str,
    event_types: Iterable[str],
    description: str = "",
) -> WebhookSubscription:
    subscription.url, subscription.event_types, subscription.description = _checked(
        url, event_types, description
    )
    session.flush()
    return subscription


def replace_secret(session: Session, subscription: WebhookSubscription) -> str:
    """A new signing secret, in force for the next attempt; returned once."""
    subscription.secret = generate_secret()
    session.flush()
    return subscription.secret


def delete_subscription(session: Session, subscription: WebhookSubscription) -> None:
    """Remove the subscription and its delivery log; nothing more is sent to its receiver."""
    session.delete(subscription)
    session.flush()


def disable_subscription(
    subscription: WebhookSubscription, reason: str, *, automatically: bool = False
) -> None:
    subscription.enabled = False
    subscription.disabled_automatically = automatically
    subscription.disabled_reason = reason
    subscription.disabled_at = utcnow()


def enable_subscription(subscription: WebhookSubscription) -> None:
    """Turn it on again; its waiting deliveries go out with the next worker batch."""
    subscription.enabled = True
    subscription.consecutive_failures = 0
    subscription.disabled_automatically = False
    subscription.disabled_reason = ""
    subscription.disabled_at = None


def note_delivered(session: Session, subscription_id: int) -> None:
    session.execute(
        update(WebhookSubscription)
        .where(WebhookSubscription.id == subscription_id)
        .values(consecutive_failures=0)
        .execution_options(synchronize_session=False)
    )


def note_failed(session: Session, subscription_id: int, error: str, *, disable_after: int) -> bool:
    """Count a delivery that ended failed; turn the subscription off after `disable_after`
    in a row (0: never). Returns whether it was turned off now."""
    # One UPDATE, so two workers failing at once both count.
    session.execute(
        update(WebhookSubscription)
        .where(WebhookSubscription.id == subscription_id)
        .values(consecutive_failures=WebhookSubscription.consecutive_failures + 1)
        .execution_options(synchronize_session=False)
    )
    subscription = session.get(WebhookSubscription, subscription_id, populate_existing=True)
    if subscription is None or not subscription.enabled or disable_after <= 0:
        return False
    if subscription.consecutive_failures < disable_after:
        return False
    disable_subscription(
        subscription,
        f"Turned off automatically after {subscription.consecutive_failures} failed deliveries "
        f"in a row. Last error: {error}",
        automatically=True,
    )
    return True


def count_disabled_automatically(session: Session) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(WebhookSubscription)
            .where(WebhookSubscription.disabled_automatically.is_(True))
        )
        or 0
    )


def queue_test_event(session: Session, subscription: WebhookSubscription) -> WebhookDelivery:
    """A `webhook.test` event for this subscription alone (sent even while it is off)."""
    now = utcnow()
    event_id = new_event_id()
    data = {"subscription_id": subscription.id, "message": "A test event from Campaign Manager."}
    row = WebhookDelivery(
        subscription=subscription,
        event_id=event_id,
        event_type=TEST_EVENT_TYPE,
        body=event_body(event_id, TEST_EVENT_TYPE, data, now),
        next_attempt_at=now,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    session.flush()
    return row


def redeliver(session: Session, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send the same event again (same id and body) as a new row with fresh attempts."""
    if delivery.status in (WebhookDeliveryStatus.PENDING, WebhookDeliveryStatus.SENDING):
        raise WebhookError("This delivery is still being tried; wait for it to finish.")
    now = utcnow()
    row = WebhookDelivery(
        subscription_id=delivery.subscription_id,
        event_id=delivery.event_id,
        event_type=delivery.event_type,
        body=delivery.body,
        redelivery_of_id=delivery.id,
        next_attempt_at=now,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    session.flush()
    return row


def rotate_webhook_secrets(session: Session) -> int:
    """Re-encrypt every signing secret under the newest key (see `keys rotate`)."""
    _rows, rotated = rotate_encrypted_column(
        session, "webhook_subscriptions", "secret", "webhook subscription"
    )
    return rotated


FINISHED_STATUSES = (WebhookDeliveryStatus.DELIVERED, WebhookDeliveryStatus.FAILED)


def prune_webhook_deliveries(session: Session, finished_before: datetime, limit: int) -> int:
    """Delete up to `limit` delivered or failed rows last changed before `finished_before`;
    return how many. Pending and sending rows are never touched."""
    oldest = (
        select(WebhookDelivery.id)
        .where(
            WebhookDelivery.status.in_(FINISHED_STATUSES),
            WebhookDelivery.updated_at < finished_before,
        )
        .order_by(WebhookDelivery.id)
        .limit(limit)
    )
    ids = list(session.scalars(oldest))
    if ids:
        session.execute(delete(WebhookDelivery).where(WebhookDelivery.id.in_(ids)))
    return len(ids)
