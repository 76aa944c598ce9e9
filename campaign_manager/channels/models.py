"""Channel accounts (an adapter plus its settings and encrypted credentials) and the events
providers post back to us (bounces, complaints)."""

from __future__ import annotations

import enum
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from campaign_manager.channels.base import BounceKind
from campaign_manager.core.crypto import EncryptedJSON
from campaign_manager.core.db import Base, StrEnumType, utcnow


class AccountStatus(enum.StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"
    # The provider refused the credentials (expired or revoked token): a person must act.
    NEEDS_RECONNECT = "needs_reconnect"


@dataclass(frozen=True)
class RateLimits:
    """How fast the engine may send through one account; None means no limit of that kind."""

    per_second: float | None = None
    per_hour: int | None = None
    per_day: int | None = None


def new_webhook_token() -> str:
    return secrets.token_urlsafe(24)


class ChannelAccount(Base):
    __tablename__ = "channel_accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    adapter: Mapped[str] = mapped_column(String(64))
    display_name: Mapped[str] = mapped_column(String(200), unique=True)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Deferred: lists of accounts never decrypt anything; only building an adapter does.
    credentials: Mapped[dict[str, Any]] = mapped_column(EncryptedJSON, default=dict, deferred=True)
    status: Mapped[AccountStatus] = mapped_column(
        StrEnumType(AccountStatus, 20), default=AccountStatus.ACTIVE
    )
    last_error: Mapped[str] = mapped_column(Text, default="")
    last_error_at: Mapped[datetime | None]
    last_checked_at: Mapped[datetime | None]
    rate_per_second: Mapped[float | None]
    rate_per_hour: Mapped[int | None]
    rate_per_day: Mapped[int | None]
    # Part of the public webhook URL the provider calls; shown to staff so they can paste
    # it into the provider's console. Not a credential: signatures are checked as well.
    webhook_token: Mapped[str] = mapped_column(String(64), default=new_webhook_token)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    events: Mapped[list[ChannelEvent]] = relationship(
        back_populates="account", cascade="all, delete-orphan", passive_deletes=True
    )

    @property
    def rate_limits(self) -> RateLimits:
        return RateLimits(self.rate_per_second, self.rate_per_hour, self.rate_per_day)

    @property
    def is_usable(self) -> bool:
        return self.status is AccountStatus.ACTIVE


class ChannelEvent(Base):
    """An event a provider reported through a webhook, stored as received (minus secrets)."""

    __tablename__ = "channel_events"
    __table_args__ = (UniqueConstraint("account_id", "provider_event_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("channel_accounts.id", ondelete="CASCADE"), index=True
    )
    provider: Mapped[str] = mapped_column(String(64))
    # The provider's id for the event; a provider retrying a delivery sends the same one.
    provider_event_id: Mapped[str] = mapped_column(String(255))
    kind: Mapped[BounceKind] = mapped_column(StrEnumType(BounceKind, 32))
    email: Mapped[str] = mapped_column(String(320), index=True)
    permanent: Mapped[bool]
    reason: Mapped[str] = mapped_column(Text, default="")
    occurred_at: Mapped[datetime]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    account: Mapped[ChannelAccount] = relationship(back_populates="events")
