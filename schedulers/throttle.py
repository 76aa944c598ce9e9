"""Per-channel-account rate limits, shared by every worker through the database.

Each limit (per second, hour, day) is one row per account holding the current window's
start and count. Taking a slot is one atomic INSERT … ON CONFLICT DO UPDATE … RETURNING,
so two workers can never both take the last slot. A provider's "slow down" (429 with
Retry-After) becomes a "backoff" row that stops every worker for that account.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import case, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from campaign_manager.campaigns.models import ThrottleWindow
from campaign_manager.channels.models import RateLimits

WINDOWS = {"second": timedelta(seconds=1), "hour": timedelta(hours=1), "day": timedelta(days=1)}


def limit_items(limits: RateLimits) -> list[tuple[str, int]]:
    """(window, limit) pairs for the limits that are set."""
    pairs = [("second", limits.per_second), ("hour", limits.per_hour), ("day", limits.per_day)]
    return [(window, int(limit)) for window, limit in pairs if limit]


def window_start(window: str, now: datetime) -> datetime:
    if window == "second":
        return now.replace(microsecond=0)
    if window == "hour":
        return now.replace(minute=0, second=0, microsecond=0)
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def _insert(session: Session):
    return (
        postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    )(ThrottleWindow)


def take_slots(
    session: Session, account_id: int, limits: RateLimits, wanted: int, now: datetime
) -> tuple[int, datetime | None]:
    """Reserve up to `wanted` sends for the account now; return (granted, retry_at).

    `retry_at` is when the next slot opens if fewer than `wanted` were granted. Runs in
    the caller's transaction; commit it before sending.
    """
    backoff = session.get(ThrottleWindow, (account_id, "backoff"))
    if backoff and backoff.until and backoff.until > now:
        return 0, backoff.until
    granted = wanted
    retry_at: datetime | None = None
    for window, limit in limit_items(limits):
        start = window_start(window, now)
        table = ThrottleWindow.__table__
        statement = _insert(session).values(
            channel_account_id=account_id, window=window, window_start=start, count=0
        )
        excluded = statement.excluded
        # A new window resets the count; an old one adds to it. Either way, atomically.
        statement = statement.on_conflict_do_update(
            index_elements=["channel_account_id", "window"],
            set_={
                "count": case(
                    (table.c.window_start == excluded.window_start, table.c.count), else_=0
                ),
                "window_start": excluded.window_start,
            },
        ).returning(table.c.count)
        used = session.execute(statement).scalar_one()
        free = max(limit - used, 0)
        if free < granted:
            granted = free
            retry_at = max(retry_at or start, start + WINDOWS[window])
    if granted:
        for window, _limit in limit_items(limits):
            row = session.get(ThrottleWindow, (account_id, window), populate_existing=True)
            row.count += granted
    session.flush()
    return granted, retry_at


def back_off(session: Session, account_id: int, until: datetime) -> None:
    """Every worker leaves the account alone until `until` (the provider asked us to)."""
    row = session.get(ThrottleWindow, (account_id, "backoff"))
    if row is None:
        session.add(
            ThrottleWindow(
                channel_account_id=account_id,
                window="backoff",
                window_start=until,
                count=0,
                until=until,
            )
        )
    elif row.until is None or row.until < until:
        row.until = until
    session.flush()


def accounts_in_backoff(now: datetime):
    """A subquery of account ids no worker may send for right now."""
    return select(ThrottleWindow.channel_account_id).where(
        ThrottleWindow.window == "backoff", ThrottleWindow.until > now
    )
