"""Personal API tokens: how a program acts as a user through the REST API.

A token is shown once, when it is made; only its SHA-256 is stored (a token is 256 random
bits, so a fast hash is as safe as a slow one and lets every request be checked in one
indexed look-up). A token carries its user's role, so it can do exactly what its user can,
and stops working when it expires, is revoked, or its user is disabled.

The rate limit's counter lives on the token row: a fixed window per token, counted with one
UPDATE, so every web process sharing the database counts the same requests.
"""

from __future__ import annotations

import hashlib
import math
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ForeignKey, String, case, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from campaign_manager.core.accounts import AccountError, User
from campaign_manager.core.db import Base, utcnow

# Recognisable in logs and by secret scanners; the rest is 256 random bits.
TOKEN_PREFIX = "cm_"  # noqa: S105 - a public prefix, not a secret
MAX_EXPIRY_DAYS = 3650


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # What the user called it ("CRM sync"), to tell their tokens apart.
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The first characters of the token, shown in lists so a user can recognise one.
    hint: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    # The rate limit's fixed window: when the current one started and requests in it.
    window_started_at: Mapped[datetime | None]
    window_requests: Mapped[int] = mapped_column(default=0)

    user: Mapped[User] = relationship()

    def is_usable(self, now: datetime) -> bool:
        return (
            self.revoked_at is None
            and (self.expires_at is None or self.expires_at > now)
            and self.user.is_active
        )


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def clean_token_name(name: str, *, kind: str, used_by: str) -> str:
    """A token's name with its spaces tidied, or AccountError saying what is wrong."""
    name = " ".join(name.split())
    if not name:
        raise AccountError(f"give the {kind} a name, such as {used_by}")
    if len(name) > 100:
        raise AccountError(f"a {kind}'s name has at most 100 characters")
    return name


def find_by_secret(session: Session, model: Any, secret: str, prefix: str) -> Any | None:
    """The row of `model` (a token table with `token_hash`) whose secret this is, if any.

    Anything not shaped like a secret of this kind is not looked up at all."""
    if not secret.startswith(prefix) or len(secret) > 200:
        return None
    return session.scalar(select(model).where(model.token_hash == hash_token(secret)))


@dataclass(frozen=True)
class NewToken:
    token: ApiToken
    # The secret itself: shown to the user once, never stored.
    secret: str


def create_token(
    session: Session,
    user: User,
    name: str,
    *,
    expires_in_days: int | None = None,
    now: datetime | None = None,
) -> NewToken:
    now = now or utcnow()
    name = clean_token_name(name, kind="token", used_by="the program that will use it")
    if expires_in_days is not None and not 1 <= expires_in_days <= MAX_EXPIRY_DAYS:
        raise AccountError(f"a token expires after 1 to {MAX_EXPIRY_DAYS} days, or never")
    if not user.is_active:
        raise AccountError(f"{user.email} is disabled and cannot have new tokens")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user=user,
        name=name,
        token_hash=hash_token(secret),
        hint=secret[:8],
        created_at=now,
        expires_at=now + timedelta(days=expires_in_days) if expires_in_days else None,
    )
    session.add(token)
    session.flush()
    return NewToken(token=token, secret=secret)


def find_usable_token(
    session: Session, secret: str, now: datetime | None = None
) -> ApiToken | None:
    """The token with this secret, if it may be used now; None when unknown, expired,
    revoked, or its user is disabled (the caller does not learn which)."""
    token = find_by_secret(session, ApiToken, secret, TOKEN_PREFIX)
    if token is None or not token.is_usable(now or utcnow()):
        return None
    return token


def tokens_of(session: Session, user: User) -> Sequence[ApiToken]:
    return session.scalars(
        select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id.desc())
    ).all()


def revoke_token(token: ApiToken, now: datetime | None = None) -> None:
    if token.revoked_at is None:
        token.revoked_at = now or utcnow()


@dataclass(frozen=True)
class RateLimitState:
    limit: int
    remaining: int
    # Seconds until the window ends and the count starts again.
    reset_seconds: int

    @property
    def exceeded(self) -> bool:
        return self.remaining < 0


def count_request(
    session: Session,
    token: ApiToken,
    *,
    limit: int,
    window_seconds: int,
    now: datetime | None = None,
) -> RateLimitState:
    """Count one request against the token's window and record when it was last used.

    Windows are aligned to multiples of `window_seconds` since the epoch. One UPDATE either
    starts a new window at 1 or adds 1, so concurrent requests in several processes all
    count (PostgreSQL locks the row for the UPDATE; SQLite has one writer at a time).
    """
    now = now or utcnow()
    epoch_seconds = math.floor(now.timestamp())
    window_start = datetime.fromtimestamp(epoch_seconds - epoch_seconds % window_seconds, UTC)
    same_window = ApiToken.window_started_at == window_start
    count = session.scalar(
        update(ApiToken)
        .where(ApiToken.id == token.id)
        .values(
            window_requests=case((same_window, ApiToken.window_requests + 1), else_=1),
            window_started_at=window_start,
            last_used_at=now,
        )
        .returning(ApiToken.window_requests)
        .execution_options(synchronize_session=False)
    )
    reset = window_start + timedelta(seconds=window_seconds) - now
    return RateLimitState(
        limit=limit,
        remaining=limit - (count or 0),
        reset_seconds=max(1, math.ceil(reset.total_seconds())),
    )
