"""The campaign report: what happened after sending (sent, opens, clicks, bounces,
unsubscribes, failures), by step, channel, segment and over time.

Counting happens in SQL (GROUP BY), never by loading events into Python: a campaign to a
million people has millions of events. Time is grouped by UTC hour in SQL and the hours
are then put on the viewer's local days, which is exact for every timezone whose offset
is a whole number of hours.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from campaign_manager.campaigns.models import Campaign, Event, EventKind, Step
from campaign_manager.campaigns.timing import zone

REPORTED_KINDS = (
    EventKind.SENT,
    EventKind.OPEN,
    EventKind.CLICK,
    EventKind.BOUNCE,
    EventKind.COMPLAINT,
    EventKind.UNSUBSCRIBE,
    EventKind.FAILED,
)
# Longer campaigns are shown by week, so a chart never has hundreds of bars.
MAX_DAILY_BUCKETS = 62


@dataclass
class Row:
    """One line of a breakdown: a label and its count per event kind."""

    label: str
    counts: dict[str, int] = field(default_factory=dict)

    def count(self, kind: EventKind) -> int:
        return self.counts.get(kind.value, 0)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass
class CampaignReport:
    campaign: Campaign
    totals: Row
    by_step: list[Row]
    by_channel: list[Row]
    by_segment: list[Row]
    # Buckets in time order: (first day of the bucket, counts); one bucket is a day or a week.
    over_time: list[Row]
    bucket: str  # "day" or "week"
    timezone: str

    @property
    def kinds(self) -> tuple[EventKind, ...]:
        return REPORTED_KINDS

    def rate(self, kind: EventKind) -> float | None:
        """`kind` events per message sent, or None before anything was sent."""
        sent = self.totals.count(EventKind.SENT)
        return self.totals.count(kind) / sent if sent else None


def _hour_bucket(session: Session) -> ColumnElement[str]:
    """The UTC hour of an event as text 'YYYY-MM-DD HH', on SQLite and PostgreSQL."""
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", Event.occurred_at), "YYYY-MM-DD HH24")
    return func.strftime("%Y-%m-%d %H", Event.occurred_at)


def _grouped(session: Session, campaign_id: int, column) -> dict:
    rows = session.execute(
        select(column, Event.kind, func.count())
        .where(Event.campaign_id == campaign_id)
        .group_by(column, Event.kind)
    )
    grouped: dict = defaultdict(dict)
    for key, kind, count in rows:
        grouped[key][kind.value] = count
    return grouped


def _over_time(session: Session, campaign_id: int, tz_name: str) -> tuple[list[Row], str]:
    tz = zone(tz_name)
    by_day: dict[date, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for hour, counts in _grouped(session, campaign_id, _hour_bucket(session)).items():
        moment = datetime.strptime(hour, "%Y-%m-%d %H").replace(tzinfo=UTC)
        day = moment.astimezone(tz).date()
        for kind, count in counts.items():
            by_day[day][kind] += count
    if not by_day:
        return [], "day"
    first, last = min(by_day), max(by_day)
    bucket = "day" if (last - first).days < MAX_DAILY_BUCKETS else "week"
    if bucket == "week":
        first -= timedelta(days=first.weekday())
    buckets: dict[date, dict[str, int]] = {}
    day = first
    step = timedelta(days=1 if bucket == "day" else 7)
    while day <= last:
        buckets[day] = defaultdict(int)
        day += step
    for day, counts in by_day.items():
        start = day if bucket == "day" else day - timedelta(days=day.weekday())
        for kind, count in counts.items():
            buckets[start][kind] += count
    return [Row(day.isoformat(), dict(counts)) for day, counts in buckets.items()], bucket


def campaign_report(session: Session, campaign: Campaign, tz_name: str) -> CampaignReport:
    steps = {s.id: s for s in session.scalars(select(Step).where(Step.campaign_id == campaign.id))}
    order = {s.id: s.position for s in steps.values()}

    def step_label(step_id: int | None) -> str:
        step = steps.get(step_id)
        return step.name if step else "(a removed step)"

    by_step = _grouped(session, campaign.id, Event.step_id)
    by_channel = _grouped(session, campaign.id, Event.channel_kind)
    by_segment = _grouped(session, campaign.id, Event.segment_slug)
    totals: dict[str, int] = defaultdict(int)
    for counts in by_channel.values():
        for kind, count in counts.items():
            totals[kind] += count
    over_time, bucket = _over_time(session, campaign.id, tz_name)
    return CampaignReport(
        campaign=campaign,
        totals=Row("All", dict(totals)),
        by_step=[
            Row(step_label(step_id), counts)
            for step_id, counts in sorted(
                by_step.items(), key=lambda item: (order.get(item[0], 1 << 30), item[0] or 0)
            )
        ],
        by_channel=[
            Row(kind or "(unknown)", counts) for kind, counts in sorted(by_channel.items())
        ],
        by_segment=[
            Row(slug or "(no segment)", counts) for slug, counts in sorted(by_segment.items())
        ],
        over_time=over_time,
        bucket=bucket,
        timezone=tz_name,
    )
