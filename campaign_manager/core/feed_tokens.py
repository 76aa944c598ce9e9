"""Calendar-feed tokens: a secret in a URL that opens the campaign calendar feed, and nothing
else.

Calendar apps (Outlook, Apple Calendar, Google Calendar) subscribe to a plain URL and cannot
send an Authorization header, so the feed's credential has to live in the URL, where it ends
up in the calendar app's settings, in proxy and server logs, and on Google's servers, which
fetch the feed for the user. That is why it is its own kind of token rather than a personal
API token in a query parameter: an API token leaked that way would act as the user on the
whole API, while a feed token can only read the calendar (the API refuses it: it is not in
the api_tokens table), and revoking it in Settings stops one subscription without breaking
the user's programs. Stored as a SHA-256 only, like API tokens.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ForeignKey, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from campaign_manager.core.accounts import AccountError, Role, User
from campaign_manager.core.api_tokens import clean_token_name, find_by_secret, hash_token
from campaign_manager.core.db import Base, utcnow

FEED_TOKEN_PREFIX = "cmcal_"  # noqa: S105 - a public prefix, not a secret
# Who may see the campaign calendar (as in the UI): everyone but vendors.
FEED_ROLES = frozenset({Role.ADMIN, Role.MARKETER, Role.APPROVER, Role.VIEWER})


class CalendarFeedToken(Base):
    __tablename__ = "calendar_feed_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # Where it is subscribed ("Outlook at work"), to tell a user's feeds apart.
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hint: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]

    user: Mapped[User] = relationship()

    def is_usable(self) -> bool:
        return self.revoked_at is None and self.user.is_active and self.user.role in FEED_ROLES


@dataclass(frozen=True)
class NewFeedToken:
    token: CalendarFeedToken
    # The secret itself: shown to the user once (inside the feed's URL), never stored.
    secret: str


def create_feed_token(session: Session, user: User, name: str) -> NewFeedToken:
    name = clean_token_name(name, kind="feed", used_by="the calendar app that will use it")
    if not user.is_active or user.role not in FEED_ROLES:
        raise AccountError(f"{user.email} cannot see the campaign calendar")
    secret = FEED_TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = CalendarFeedToken(user=user, name=name, token_hash=hash_token(secret), hint=secret[:10])
    session.add(token)
    session.flush()
    return NewFeedToken(token=token, secret=secret)


def find_usable_feed_token(session: Session, secret: str) -> CalendarFeedToken | None:
    """The feed token with this secret if it may be used now (not revoked, its user active
    and allowed the calendar); None otherwise, without saying which."""
    token = find_by_secret(session, CalendarFeedToken, secret, FEED_TOKEN_PREFIX)
    if token is None or not token.is_usable():
        return None
    return token


def feed_tokens_of(session: Session, user: User) -> Sequence[CalendarFeedToken]:
    return session.scalars(
        select(CalendarFeedToken)
        .where(CalendarFeedToken.user_id == user.id)
        .order_by(CalendarFeedToken.id.desc())
    ).all()


def revoke_feed_token(token: CalendarFeedToken) -> None:
    if token.revoked_at is None:
        token.revoked_at = utcnow()
