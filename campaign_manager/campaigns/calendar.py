"""The calendar of every step on every channel, and its iCalendar (RFC 5545) export.

One-time steps appear at their moment, recurring (cron) steps at each firing inside the
window, and "local time" steps on their date (they run at that clock time in each
recipient's own timezone, so they have no single moment). `build_ics` writes the same
entries as VEVENTs with UTC times, stable UIDs, DTSTAMP and RFC 5545 escaping and folding;
the token-protected calendar feed is built on top of it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from campaign_manager.campaigns.models import Campaign, CampaignStatus, Step, TriggerKind
from campaign_manager.campaigns.timing import cron_trigger, local_to_utc, zone
from campaign_manager.channels.models import ChannelAccount
from campaign_manager.core.db import utcnow

# A cron step firing every minute would fill a month with 43,200 entries.
MAX_OCCURRENCES_PER_STEP = 200


@dataclass(frozen=True)
class CalendarEntry:
    step_id: int
    step_name: str
    campaign_id: int
    campaign_name: str
    campaign_status: CampaignStatus
    channel_kind: str
    account_name: str
    trigger: TriggerKind
    # A stable key of this occurrence within its step (part of the ICS UID).
    occurrence: str
    # The moment (UTC) of one-time and cron steps; None for local-time steps.
    moment: datetime | None = None
    # Local-time steps: the date, and the clock time in each recipient's timezone.
    local_date: date | None = None
    local_clock: str = ""

    def day(self, tz_name: str) -> date:
        if self.moment is None:
            assert self.local_date is not None
            return self.local_date
        return self.moment.astimezone(zone(tz_name)).date()

    def time_label(self, tz_name: str) -> str:
        if self.moment is None:
            return f"{self.local_clock} local"
        return self.moment.astimezone(zone(tz_name)).strftime("%H:%M")

    def sort_key(self, tz_name: str) -> tuple:
        moment = self.moment or datetime.combine(self.local_date, time(0), tzinfo=zone(tz_name))
        return (moment, self.campaign_name, self.step_name)


@dataclass
class Calendar:
    first_day: date
    last_day: date
    timezone: str
    entries: list[CalendarEntry]
    # Steps with more firings in the window than are shown.
    truncated_steps: list[str] = field(default_factory=list)

    def on(self, day: date) -> list[CalendarEntry]:
        found = [e for e in self.entries if e.day(self.timezone) == day]
        return sorted(found, key=lambda e: e.sort_key(self.timezone))


def window_bounds(first_day: date, last_day: date, tz_name: str) -> tuple[datetime, datetime]:
    """The UTC instants where local `first_day` starts and local `last_day` ends."""
    tz = zone(tz_name)
    start = local_to_utc(datetime.combine(first_day, time(0)), tz)
    end = local_to_utc(datetime.combine(last_day + timedelta(days=1), time(0)), tz)
    return start, end


def _occurrences(
    step: Step, start: datetime, end: datetime, first_day: date, last_day: date
) -> tuple[list[tuple[str, datetime | None]], bool]:
    """(occurrence key, moment) of the step inside the window, and whether it was cut."""
    if step.trigger is TriggerKind.AT:
        if step.run_at is not None and start <= step.run_at < end:
            return [("once", step.run_at)], False
        return [], False
    if step.trigger is TriggerKind.LOCAL_TIME:
        if step.local_date is not None and first_day <= step.local_date <= last_day:
            return [(step.local_date.isoformat(), None)], False
        return [], False
    found: list[tuple[str, datetime | None]] = []
    try:
        trigger = cron_trigger(step.cron, step.timezone, step.ends_at)
    except ValueError:
        return [], False
    fire = trigger.get_next_fire_time(None, start)
    while fire is not None and fire < end:
        if len(found) >= MAX_OCCURRENCES_PER_STEP:
            return found, True
        moment = fire.astimezone(UTC)
        found.append((moment.strftime("%Y%m%dT%H%MZ"), moment))
        fire = trigger.get_next_fire_time(fire, fire + timedelta(seconds=1))
    return found, False


def calendar(
    session: Session,
    first_day: date,
    last_day: date,
    tz_name: str,
    *,
    campaign_id: int | None = None,
    channel_kind: str | None = None,
    include_cancelled: bool = False,
) -> Calendar:
    """Every step occurrence from local `first_day` to `last_day` (inclusive) in `tz_name`."""
    start, end = window_bounds(first_day, last_day, tz_name)
    query = select(Step, Campaign).join(Campaign, Campaign.id == Step.campaign_id)
    if campaign_id is not None:
        query = query.where(Campaign.id == campaign_id)
    if channel_kind:
        query = query.where(Step.channel_kind == channel_kind)
    if not include_cancelled:
        query = query.where(Campaign.status != CampaignStatus.CANCELLED)
    rows = session.execute(query.order_by(Campaign.name, Step.position, Step.id)).all()
    account_ids = {step.channel_account_id for step, _ in rows}
    accounts = (
        dict(
            session.execute(
                select(ChannelAccount.id, ChannelAccount.display_name).where(
                    ChannelAccount.id.in_(account_ids)
                )
            ).all()
        )
        if account_ids
        else {}
    )
    entries: list[CalendarEntry] = []
    truncated: list[str] = []
    for step, campaign in rows:
        occurrences, cut = _occurrences(step, start, end, first_day, last_day)
        if cut:
            truncated.append(f"{campaign.name}: {step.name}")
        for key, moment in occurrences:
            entries.append(
                CalendarEntry(
                    step_id=step.id,
                    step_name=step.name,
                    campaign_id=campaign.id,
                    campaign_name=campaign.name,
                    campaign_status=campaign.status,
                    channel_kind=step.channel_kind,
                    account_name=accounts.get(step.channel_account_id, "(a removed account)"),
                    trigger=step.trigger,
                    occurrence=key,
                    moment=moment,
                    local_date=step.local_date if moment is None else None,
                    local_clock=step.local_time if moment is None else "",
                )
            )
    return Calendar(first_day, last_day, tz_name, entries, truncated)


# --- iCalendar ---------------------------------------------------------------------------------

ICS_STATUS = {
    CampaignStatus.DRAFT: "TENTATIVE",
    CampaignStatus.IN_REVIEW: "TENTATIVE",
    CampaignStatus.CANCELLED: "CANCELLED",
}


def ics_escape(text: str) -> str:
    """A TEXT value escaped as RFC 5545 §3.3.11 requires."""
    return (
        text.replace("\\", "\\\\")
        .replace(";", "\\;")
        .replace(",", "\\,")
        .replace("\r\n", "\\n")
        .replace("\n", "\\n")
        .replace("\r", "\\n")
    )


def fold(line: str) -> str:
    """Fold a content line at 75 octets (RFC 5545 §3.1), never inside a UTF-8 character."""
    encoded = line.encode("utf-8")
    if len(encoded) <= 75:
        return line
    parts: list[str] = []
    current = ""
    limit = 75
    for char in line:
        if len((current + char).encode("utf-8")) > limit:
            parts.append(current)
            current = char
            limit = 74  # continuation lines start with a space
        else:
            current += char
    parts.append(current)
    return "\r\n ".join(parts)


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _event_lines(
    entry: CalendarEntry,
    *,
    host: str,
    stamp: datetime,
    modified: datetime | None,
    campaign_url: Callable[[int], str] | None,
) -> Iterable[str]:
    yield "BEGIN:VEVENT"
    yield f"UID:step-{entry.step_id}-{entry.occurrence}@{host}"
    yield f"DTSTAMP:{_utc(stamp)}"
    if entry.moment is not None:
        yield f"DTSTART:{_utc(entry.moment)}"
        when = "at this time"
    else:
        assert entry.local_date is not None
        yield f"DTSTART;VALUE=DATE:{entry.local_date:%Y%m%d}"
        yield f"DTEND;VALUE=DATE:{entry.local_date + timedelta(days=1):%Y%m%d}"
        when = f"at {entry.local_clock} in each recipient's local time"
    yield "SUMMARY:" + ics_escape(
        f"{entry.campaign_name}: {entry.step_name} ({entry.channel_kind})"
    )
    description = (
        f"Campaign: {entry.campaign_name} ({entry.campaign_status.value.replace('_', ' ')})\n"
        f"Step: {entry.step_name}, sent {when}\n"
        f"Channel: {entry.channel_kind} through {entry.account_name}"
    )
    yield "DESCRIPTION:" + ics_escape(description)
    yield "CATEGORIES:" + ics_escape(entry.channel_kind)
    yield "STATUS:" + ICS_STATUS.get(entry.campaign_status, "CONFIRMED")
    yield "TRANSP:TRANSPARENT"
    if modified is not None:
        yield f"LAST-MODIFIED:{_utc(modified)}"
    if campaign_url is not None:
        yield "URL:" + campaign_url(entry.campaign_id)
    yield "END:VEVENT"


def build_ics(
    session: Session,
    *,
    first_day: date,
    last_day: date,
    campaign_id: int | None = None,
    base_url: str = "http://localhost",
    calendar_name: str = "Campaign Manager",
    campaign_url: Callable[[int], str] | None = None,
    now: datetime | None = None,
) -> str:
    """An iCalendar document (CRLF lines) of every step occurrence between the days (UTC).

    UIDs are `step-<step id>-<occurrence>@<host of base_url>`: the same occurrence keeps
    its UID across exports, so a calendar app updates events instead of duplicating them.
    `campaign_url(campaign_id)` gives each event a link to its campaign page.
    """
    stamp = now or utcnow()
    host = urlsplit(base_url).hostname or "campaign-manager"
    found = calendar(
        session, first_day, last_day, "UTC", campaign_id=campaign_id, include_cancelled=True
    )
    modified = dict(
        session.execute(
            select(Step.id, Step.updated_at).where(
                Step.id.in_({e.step_id for e in found.entries} or {0})
            )
        ).all()
    )
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Campaign Manager//Campaign calendar//EN",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        "X-WR-CALNAME:" + ics_escape(calendar_name),
    ]
    for entry in sorted(found.entries, key=lambda e: (e.sort_key("UTC"), e.step_id)):
        lines.extend(
            _event_lines(
                entry,
                host=host,
                stamp=stamp,
                modified=modified.get(entry.step_id),
                campaign_url=campaign_url,
            )
        )
    lines.append("END:VCALENDAR")
    return "".join(fold(line) + "\r\n" for line in lines)
