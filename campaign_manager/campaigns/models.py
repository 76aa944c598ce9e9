"""Campaigns, their steps, the deliveries outbox and the events measured afterwards."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from campaign_manager.core.db import Base, BigId, StrEnumType, utcnow


class CampaignStatus(enum.StrEnum):
    DRAFT = "draft"
    IN_REVIEW = "in_review"
    APPROVED = "approved"
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class TriggerKind(enum.StrEnum):
    AT = "at"  # once, at a date and time in a named timezone
    CRON = "cron"  # recurring, cron expression in a named timezone
    LOCAL_TIME = "local_time"  # on a date, at HH:MM in each recipient's own timezone


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    SUPPRESSED = "suppressed"
    SKIPPED = "skipped"
    UNCERTAIN = "uncertain"

    @property
    def is_terminal(self) -> bool:
        return self not in (DeliveryStatus.PENDING, DeliveryStatus.SENDING)


class EventKind(enum.StrEnum):
    SENT = "sent"
    OPEN = "open"
    CLICK = "click"
    BOUNCE = "bounce"
    COMPLAINT = "complaint"
    UNSUBSCRIBE = "unsubscribe"
    FAILED = "failed"


class Campaign(Base):
    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    goal: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[CampaignStatus] = mapped_column(
        StrEnumType(CampaignStatus, 16), default=CampaignStatus.DRAFT, index=True
    )
    # Default timezone for steps, and for recipients whose own timezone is unknown.
    timezone: Mapped[str] = mapped_column(String(64), default="America/New_York")
    # utm_source / utm_medium / utm_campaign defaults; a step may override any of them.
    utm: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    # Messages per contact per rolling 7 days across all campaigns; None = global default.
    frequency_cap: Mapped[int | None]
    open_tracking: Mapped[bool] = mapped_column(default=False)
    # Who email steps come from; a reply goes to reply_to when set.
    sender_name: Mapped[str] = mapped_column(String(200), default="")
    sender_address: Mapped[str] = mapped_column(String(320), default="")
    reply_to: Mapped[str] = mapped_column(String(320), default="")
    # The campaign wizard's choices before they become steps (segments, channel accounts,
    # creatives per account), so a half-built draft can be resumed. See campaigns.wizard.
    wizard: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    approved_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    steps: Mapped[list[Step]] = relationship(
        back_populates="campaign", order_by="Step.position", cascade="all, delete-orphan"
    )
    transitions: Mapped[list[CampaignTransition]] = relationship(
        back_populates="campaign", order_by="CampaignTransition.id", cascade="all, delete-orphan"
    )


class CampaignTransition(Base):
    """The audit log of a campaign's workflow: who moved it where, when, and why."""

    __tablename__ = "campaign_transitions"

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    from_status: Mapped[CampaignStatus] = mapped_column(StrEnumType(CampaignStatus, 16))
    to_status: Mapped[CampaignStatus] = mapped_column(StrEnumType(CampaignStatus, 16))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    campaign: Mapped[Campaign] = relationship(back_populates="transitions")


class Step(Base):
    """One creative, to one segment or target, through one channel account, on a trigger."""

    __tablename__ = "steps"

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(default=0)
    name: Mapped[str] = mapped_column(String(200))
    channel_account_id: Mapped[int] = mapped_column(
        ForeignKey("channel_accounts.id", ondelete="RESTRICT"), index=True
    )
    # The account's kind (email, social, web, print), kept here for reports and rules.
    channel_kind: Mapped[str] = mapped_column(String(16))
    creative_id: Mapped[int] = mapped_column(ForeignKey("creatives.id", ondelete="RESTRICT"))
    # Frozen when the campaign is approved; deliveries record the version they used.
    creative_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("creative_versions.id", ondelete="RESTRICT")
    )
    segment_id: Mapped[int | None] = mapped_column(ForeignKey("segments.id", ondelete="RESTRICT"))
    # For targets that are not contacts: a print vendor and quantities, a web slug...
    target: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    trigger: Mapped[TriggerKind] = mapped_column(StrEnumType(TriggerKind, 16))
    run_at: Mapped[datetime | None]  # AT: the moment, stored in UTC
    timezone: Mapped[str] = mapped_column(String(64), default="America/New_York")
    cron: Mapped[str] = mapped_column(String(120), default="")
    # CRON: no firing after this moment (None: until the campaign ends).
    ends_at: Mapped[datetime | None]
    local_date: Mapped[date | None]  # LOCAL_TIME: the day ...
    local_time: Mapped[str] = mapped_column(String(5), default="")  # ... and "HH:MM"
    # UTM overrides for this step, and other per-step switches.
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    last_occurrence: Mapped[str] = mapped_column(String(40), default="")
    last_materialized_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    campaign: Mapped[Campaign] = relationship(back_populates="steps")

    @property
    def job_id(self) -> str:
        return f"step:{self.id}"


class Delivery(Base):
    """The outbox: one row per message per recipient or target, and its whole history."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("step_id", "occurrence", "recipient_key"),
        # Workers look for due pending rows; the partial index stays small on PostgreSQL.
        # With the id, it is in the claim's very order (next_attempt_at, id): without it,
        # each claim sorted every due row, and a step's rows are all due at once.
        Index(
            "ix_deliveries_due",
            "next_attempt_at",
            "id",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
        Index("ix_deliveries_step_status", "step_id", "status"),
        Index("ix_deliveries_contact_sent", "contact_id", "sent_at"),
        Index("ix_deliveries_status_updated", "status", "updated_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    step_id: Mapped[int] = mapped_column(ForeignKey("steps.id", ondelete="CASCADE"))
    occurrence: Mapped[str] = mapped_column(String(40))
    # The contact id, an address, or a target name: unique within one occurrence.
    recipient_key: Mapped[str] = mapped_column(String(320))
    # Erasing a contact keeps the delivery history without the person.
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    channel_account_id: Mapped[int] = mapped_column(
        ForeignKey("channel_accounts.id", ondelete="RESTRICT")
    )
    status: Mapped[DeliveryStatus] = mapped_column(
        StrEnumType(DeliveryStatus, 16), default=DeliveryStatus.PENDING
    )
    # Why a row was suppressed, skipped, deferred, failed or made uncertain.
    reason: Mapped[str] = mapped_column(String(200), default="")
    creative_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("creative_versions.id", ondelete="RESTRICT")
    )
    variant_key: Mapped[str] = mapped_column(String(100), default="")
    segment_slug: Mapped[str] = mapped_column(String(100), default="")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None]
    lease_until: Mapped[datetime | None]
    worker: Mapped[str] = mapped_column(String(100), default="")
    external_id: Mapped[str] = mapped_column(String(300), default="")
    error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    sent_at: Mapped[datetime | None]

    step: Mapped[Step] = relationship()


class Event(Base):
    """What happened after sending: opens, clicks, bounces, complaints, unsubscribes."""

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_campaign_kind", "campaign_id", "kind"),
        Index("ix_events_delivery", "delivery_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[EventKind] = mapped_column(StrEnumType(EventKind, 16))
    delivery_id: Mapped[int | None] = mapped_column(BigInteger)
    campaign_id: Mapped[int | None] = mapped_column(Integer)
    step_id: Mapped[int | None] = mapped_column(Integer)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    channel_kind: Mapped[str] = mapped_column(String(16), default="")
    segment_slug: Mapped[str] = mapped_column(String(100), default="")
    url: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class ThrottleWindow(Base):
    """Messages sent per channel account per window, shared by every worker process."""

    __tablename__ = "throttle_windows"

    channel_account_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # "second", "hour", "day", or "backoff" (the provider told us to wait until `until`).
    window: Mapped[str] = mapped_column(String(16), primary_key=True)
    window_start: Mapped[datetime]
    count: Mapped[int] = mapped_column(default=0)
    until: Mapped[datetime | None]


class SchedulerLock(Base):
    """Who runs the scheduler; on SQLite the lock row, on PostgreSQL a record of the holder."""

    __tablename__ = "scheduler_locks"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))
    heartbeat_at: Mapped[datetime]
    expires_at: Mapped[datetime]
