"""What a campaign has done and would do: delivery progress by step and channel, and a
dry run of a step (how many deliveries it would make, by status and reason)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaign_manager.campaigns.models import (
    Campaign,
    CampaignStatus,
    Delivery,
    DeliveryStatus,
    Step,
    TriggerKind,
)
from campaign_manager.campaigns.timing import cron_trigger, local_time_step_start, parse_clock
from campaign_manager.campaigns.workflow import SCHEDULED_STATES, in_flight_count
from campaign_manager.channels.models import ChannelAccount
from campaign_manager.core.config import Settings
from campaign_manager.core.db import Database, utcnow
from campaign_manager.core.webhooks import count_disabled_automatically
from schedulers.materialize import MaterializeResult, materialize_step
from schedulers.outbox import status_counts

STATUSES = tuple(s.value for s in DeliveryStatus)


@dataclass
class Progress:
    """Deliveries by status for one step or one channel account."""

    id: int
    label: str
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def done(self) -> int:
        """Rows that reached a terminal status."""
        return sum(n for s, n in self.counts.items() if DeliveryStatus(s).is_terminal)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "label": self.label,
            "counts": {s: self.counts.get(s, 0) for s in STATUSES},
            "total": self.total,
            "done": self.done,
        }


@dataclass
class CampaignProgress:
    campaign_id: int
    status: str
    in_flight: int
    steps: list[Progress]
    channels: list[Progress]
    totals: Progress

    def as_json(self) -> dict[str, Any]:
        return {
            "campaign": self.campaign_id,
            "status": self.status,
            "in_flight": self.in_flight,
            "steps": [p.as_json() for p in self.steps],
            "channels": [p.as_json() for p in self.channels],
            "totals": self.totals.as_json(),
        }


def campaign_progress(session: Session, campaign: Campaign) -> CampaignProgress:
    steps = list(session.scalars(select(Step).where(Step.campaign_id == campaign.id)))
    steps.sort(key=lambda s: (s.position, s.id))
    counts = status_counts(session, [s.id for s in steps])
    account_names = dict(
        session.execute(
            select(ChannelAccount.id, ChannelAccount.display_name).where(
                ChannelAccount.id.in_({s.channel_account_id for s in steps} or {0})
            )
        ).all()
    )
    channels: dict[int, Progress] = {}
    totals = Progress(campaign.id, "All steps")
    step_progress = []
    for step in steps:
        step_counts = counts.get(step.id, {})
        step_progress.append(Progress(step.id, step.name, dict(step_counts)))
        account_id = step.channel_account_id
        label = account_names.get(account_id, "(a removed account)")
        channel = channels.setdefault(
            account_id, Progress(account_id, f"{label} ({step.channel_kind})")
        )
        for status, count in step_counts.items():
            channel.counts[status] = channel.counts.get(status, 0) + count
            totals.counts[status] = totals.counts.get(status, 0) + count
    return CampaignProgress(
        campaign_id=campaign.id,
        status=campaign.status.value,
        in_flight=in_flight_count(session, campaign.id),
        steps=step_progress,
        channels=sorted(channels.values(), key=lambda p: p.label),
        totals=totals,
    )


def next_occurrence(step: Step, now: datetime) -> tuple[str, datetime] | None:
    """The occurrence key and moment the step runs next (or ran, for one-time steps)."""
    if step.trigger is TriggerKind.AT:
        return ("once", step.run_at) if step.run_at else None
    if step.trigger is TriggerKind.LOCAL_TIME:
        if step.local_date is None:
            return None
        start = local_time_step_start(step.local_date, parse_clock(step.local_time))
        return step.local_date.isoformat(), start
    fire = cron_trigger(step.cron, step.timezone, step.ends_at).get_next_fire_time(None, now)
    if fire is None:
        return None
    moment = fire.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%MZ"), moment


def dry_run_step(
    database: Database, settings: Settings, step_id: int, now: datetime | None = None
) -> MaterializeResult:
    """How many deliveries the step's next occurrence would make, by status and reason.

    Counted as of the moment the step runs (quiet hours and caps depend on it), without
    writing anything. The caller must not hold a transaction open: on SQLite this takes
    the write lock like any transaction.
    """
    now = now or utcnow()
    with database.transaction() as session:
        step = session.get(Step, step_id)
        if step is None:
            raise LookupError(f"there is no step #{step_id}")
        found = next_occurrence(step, now)
    if found is None:
        return MaterializeResult()
    occurrence, moment = found
    as_of = max(now, moment) if moment else now
    return materialize_step(database, step_id, occurrence, settings, now=as_of, dry_run=True)


@dataclass(frozen=True)
class UpcomingStep:
    at: datetime
    campaign_id: int
    campaign_name: str
    step_name: str
    channel_kind: str


@dataclass(frozen=True)
class WorkspaceOverview:
    """What the dashboard shows: what runs, what waits for people, and what comes next."""

    contacts: int
    campaigns_running: int
    campaigns_in_review: int
    sent_last_7_days: int
    by_status_last_7_days: dict[str, int]
    failed: int
    uncertain: int
    accounts_needing_reconnect: int
    upcoming: list[UpcomingStep]
    # Outgoing-webhook subscriptions the app turned off after repeated failures.
    webhooks_disabled: int = 0


def workspace_overview(
    session: Session, now: datetime, upcoming_limit: int = 8
) -> WorkspaceOverview:
    from audiences.models import Contact
    from campaign_manager.channels.accounts import count_needing_reconnect

    week_ago = now - timedelta(days=7)
    by_status = dict(
        session.execute(
            select(Delivery.status, func.count())
            .where(Delivery.updated_at >= week_ago)
            .group_by(Delivery.status)
        ).all()
    )
    campaigns_by_status = dict(
        session.execute(select(Campaign.status, func.count()).group_by(Campaign.status)).all()
    )
    upcoming = []
    scheduled = session.scalars(
        select(Step).join(Campaign).where(Campaign.status.in_(SCHEDULED_STATES))
    )
    for step in scheduled:
        nxt = next_occurrence(step, now)
        if nxt and nxt[1] > now and nxt[0] != step.last_occurrence:
            upcoming.append(
                UpcomingStep(
                    nxt[1], step.campaign_id, step.campaign.name, step.name, step.channel_kind
                )
            )
    upcoming.sort(key=lambda item: item.at)
    # Failed and uncertain rows wait for a person however old they are.
    waiting_for_people = dict(
        session.execute(
            select(Delivery.status, func.count())
            .where(Delivery.status.in_([DeliveryStatus.FAILED, DeliveryStatus.UNCERTAIN]))
            .group_by(Delivery.status)
        ).all()
    )
    return WorkspaceOverview(
        contacts=session.scalar(select(func.count()).select_from(Contact)) or 0,
        campaigns_running=campaigns_by_status.get(CampaignStatus.RUNNING, 0),
        campaigns_in_review=campaigns_by_status.get(CampaignStatus.IN_REVIEW, 0),
        sent_last_7_days=by_status.get(DeliveryStatus.SENT, 0),
        by_status_last_7_days={status.value: count for status, count in by_status.items()},
        failed=waiting_for_people.get(DeliveryStatus.FAILED, 0),
        uncertain=waiting_for_people.get(DeliveryStatus.UNCERTAIN, 0),
        accounts_needing_reconnect=count_needing_reconnect(session),
        upcoming=upcoming[:upcoming_limit],
        webhooks_disabled=count_disabled_automatically(session),
    )
