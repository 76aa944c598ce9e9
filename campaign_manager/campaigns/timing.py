"""Wall-clock arithmetic in named timezones: triggers, local send times and quiet hours.

It lives with the campaigns (not the scheduler) because step editing, the calendar and
the engine all need the same meaning of a trigger, and the layers let campaigns import
nothing from the scheduler. Everything is stored in UTC; these functions are where local
times meet it. Daylight saving is handled explicitly: a local time that happens twice
(the autumn "fall back") means its first occurrence; one that does not exist (the spring
gap) moves forward by the length of the gap, as a person re-setting their clock would.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger

# The earliest timezone on Earth (Kiribati, UTC+14): a "local time" step must start
# when the first recipients anywhere reach that time.
EARLIEST_UTC_OFFSET = timedelta(hours=14)


class TimingError(ValueError):
    """A bad timezone or clock time; the message is safe to show."""


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise TimingError(
            f"unknown timezone {name!r}; use an IANA name such as America/Chicago"
        ) from None


def parse_clock(value: str) -> time:
    try:
        hours, minutes = value.strip().split(":")
        return time(int(hours), int(minutes))
    except ValueError:
        raise TimingError(f"{value!r} is not a time of day in HH:MM form") from None


def local_to_utc(local: datetime, tz: ZoneInfo) -> datetime:
    """The UTC instant of a naive local wall-clock time in `tz` (DST-safe, see module doc)."""
    if local.tzinfo is not None:
        raise TimingError("expected a local (naive) date and time")
    # fold=0 picks the first of two repeated times; for a time inside a spring-forward gap
    # it applies the offset from before the gap, which lands after the gap by exactly its
    # length (02:30 on the spring-forward day in New York becomes 03:30 EDT).
    return local.replace(tzinfo=tz, fold=0).astimezone(UTC)


def utc_to_local(moment: datetime, tz: ZoneInfo) -> datetime:
    return moment.astimezone(tz)


def local_time_step_start(day: date, clock: time) -> datetime:
    """When a "HH:MM in each recipient's local time" step must first run (UTC)."""
    return datetime.combine(day, clock, tzinfo=UTC) - EARLIEST_UTC_OFFSET


def recipient_local_send_time(day: date, clock: time, tz: ZoneInfo) -> datetime:
    return local_to_utc(datetime.combine(day, clock), tz)


@dataclass(frozen=True)
class QuietHours:
    start: time  # e.g. 21:00
    end: time  # e.g. 08:00

    @classmethod
    def parse(cls, start: str, end: str) -> QuietHours:
        return cls(parse_clock(start), parse_clock(end))

    def contains(self, local: time) -> bool:
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def next_allowed(self, moment: datetime, tz: ZoneInfo) -> datetime:
        """`moment` itself when outside quiet hours, else the next end of quiet hours (UTC)."""
        local = moment.astimezone(tz)
        if not self.contains(local.time().replace(tzinfo=None)):
            return moment
        day = local.date()
        if local.time().replace(tzinfo=None) >= self.start and self.start > self.end:
            day += timedelta(days=1)
        return local_to_utc(datetime.combine(day, self.end), tz)


# --- cron ----------------------------------------------------------------------------------

_DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")
_NUMERIC_DAYS = re.compile(r"^(\d)(?:-(\d))?(/\d+)?$")


def cron_trigger(
    expression: str, timezone_name: str, ends_at: datetime | None = None
) -> CronTrigger:
    """A trigger from a standard 5-field crontab line, in a named timezone.

    APScheduler 3 numbers weekdays from Monday = 0, unlike crontab (Sunday = 0), so
    numeric weekdays are rewritten as names first: "1-5" means Monday to Friday, as a
    marketer who learned cron expects.
    """
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(
            f"a cron expression has 5 fields (minute hour day month weekday), got {expression!r}"
        )
    parts = []
    for part in fields[4].split(","):
        match = _NUMERIC_DAYS.match(part)
        if match:
            first, last, step = match.groups()
            if int(first) > 7 or (last and int(last) > 7):
                raise ValueError(f"weekday {part!r} is out of range 0-7")
            part = (
                _DAY_NAMES[int(first)]
                + (f"-{_DAY_NAMES[int(last)]}" if last else "")
                + (step or "")
            )
        parts.append(part)
    fields[4] = ",".join(parts)
    minute, hour, day, month, weekday = fields
    return CronTrigger(
        minute=minute,
        hour=hour,
        day=day,
        month=month,
        day_of_week=weekday,
        timezone=zone(timezone_name),
        end_date=ends_at,
    )
