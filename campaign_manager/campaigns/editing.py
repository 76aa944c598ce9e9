"""Creating and editing campaigns and their steps, with every input checked.

Each service takes the caller's session and changes nothing until every check passed, so a
refused edit leaves nothing half-written. Every edit goes through `workflow.note_edit`:
editing an approved campaign sends it back to review, and a running one must be paused.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from campaign_manager.campaigns import catalog
from campaign_manager.campaigns.errors import CampaignError
from campaign_manager.campaigns.models import (
    Campaign,
    CampaignStatus,
    CampaignTransition,
    Delivery,
    Step,
    TriggerKind,
)
from campaign_manager.campaigns.targets import TargetInput, check_target, target_input_of
from campaign_manager.campaigns.timing import (
    TimingError,
    cron_trigger,
    local_time_step_start,
    local_to_utc,
    parse_clock,
    zone,
)
from campaign_manager.campaigns.workflow import note_edit, transition
from campaign_manager.channels.base import ChannelKind
from campaign_manager.channels.models import AccountStatus
from campaign_manager.core.accounts import AccountError, User, normalize_email
from campaign_manager.core.db import utcnow

UTM_KEYS = ("utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term")
MAX_UTM_LENGTH = 100
MAX_FREQUENCY_CAP = 100


# --- campaigns ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CampaignInput:
    name: str
    goal: str = ""
    timezone: str = "America/New_York"
    utm: Mapping[str, str] = field(default_factory=dict)
    # Messages per contact per rolling 7 days; None uses the global setting.
    frequency_cap: int | None = None
    open_tracking: bool = False
    # Who email steps come from; empty values use the email account's own.
    sender_name: str = ""
    sender_address: str = ""
    reply_to: str = ""


def clean_utm(raw: Mapping[str, str | None]) -> dict[str, str]:
    """UTM parameters with empty values dropped; unknown keys and odd values refused."""
    cleaned = {}
    for key, value in raw.items():
        if key not in UTM_KEYS:
            raise CampaignError(f"{key} is not a UTM parameter ({', '.join(UTM_KEYS)}).")
        value = (value or "").strip()
        if not value:
            continue
        if len(value) > MAX_UTM_LENGTH:
            raise CampaignError(f"{key} is longer than {MAX_UTM_LENGTH} characters.", key)
        if any(ord(c) < 32 for c in value):
            raise CampaignError(f"{key} must be on one line.", key)
        cleaned[key] = value
    return cleaned


def _optional_address(raw: str, field_name: str) -> str:
    if not raw.strip():
        return ""
    try:
        return normalize_email(raw)
    except AccountError as exc:
        raise CampaignError(str(exc), field_name) from None


def _check_campaign(data: CampaignInput) -> dict[str, Any]:
    name = data.name.strip()
    if not name:
        raise CampaignError("Give the campaign a name.", "name")
    if len(name) > 200:
        raise CampaignError("The name is longer than 200 characters.", "name")
    try:
        zone(data.timezone.strip())
    except TimingError as exc:
        raise CampaignError(f"Timezone: {exc}.", "timezone") from None
    cap = data.frequency_cap
    if cap is not None and not 1 <= cap <= MAX_FREQUENCY_CAP:
        raise CampaignError(
            f"The frequency cap must be between 1 and {MAX_FREQUENCY_CAP} messages per 7 days, "
            "or empty to use the global cap.",
            "frequency_cap",
        )
    sender_name = " ".join(data.sender_name.split())
    if len(sender_name) > 200:
        raise CampaignError("The sender name is longer than 200 characters.", "sender_name")
    return {
        "name": name,
        "goal": data.goal.strip(),
        "sender_name": sender_name,
        "sender_address": _optional_address(data.sender_address, "sender_address"),
        "reply_to": _optional_address(data.reply_to, "reply_to"),
        "timezone": data.timezone.strip(),
        "utm": clean_utm(data.utm),
        "frequency_cap": cap,
        "open_tracking": bool(data.open_tracking),
    }


def create_campaign(session: Session, data: CampaignInput, user: User) -> Campaign:
    """A new draft campaign created by `user`."""
    values = _check_campaign(data)
    campaign = Campaign(created_by_id=user.id, wizard={}, **values)
    session.add(campaign)
    session.flush()
    return campaign


def update_campaign(session: Session, campaign: Campaign, data: CampaignInput, user: User) -> None:
    values = _check_campaign(data)
    changed = [k for k, v in values.items() if getattr(campaign, k) != v]
    if not changed:
        return
    note_edit(
        session, campaign, user, "details: " + ", ".join(k.replace("_", " ") for k in changed)
    )
    for key, value in values.items():
        setattr(campaign, key, value)
    session.flush()


# --- steps ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TriggerInput:
    """When a step runs, as a person enters it.

    AT: `on_date` at `clock` ("HH:MM") in `timezone`. CRON: `cron` in `timezone`, up to
    and including the local day `ends_on` if given.
    LOCAL_TIME: `on_date` at `clock` in each recipient's own timezone (`timezone` is used
    for recipients whose timezone is unknown).
    """

    kind: TriggerKind
    timezone: str
    on_date: date | None = None
    clock: str = ""
    cron: str = ""
    # CRON: the last local day it may fire on (None: until the campaign ends).
    ends_on: date | None = None


@dataclass(frozen=True)
class StepInput:
    name: str
    channel_account_id: int | None
    creative_id: int | None
    trigger: TriggerInput
    # Email steps go to a segment; social, web and print steps to a target.
    segment_id: int | None = None
    target: TargetInput = field(default_factory=TargetInput)
    utm: Mapping[str, str] = field(default_factory=dict)


@dataclass
class StepValues:
    """A checked step, ready to be written; `notes` are things the person should know."""

    columns: dict[str, Any]
    notes: list[str] = field(default_factory=list)


def _check_account(session: Session, account_id: int | None) -> tuple[Any, ChannelKind]:
    if account_id is None:
        raise CampaignError("Choose the channel account to send through.", "channel_account_id")
    account = catalog.get_account(session, account_id)
    if account is None:
        raise CampaignError("That channel account no longer exists.", "channel_account_id")
    if account.status is AccountStatus.DISABLED:
        raise CampaignError(
            f"The channel account {account.display_name} is disabled; enable it on the "
            "Channels page or choose another.",
            "channel_account_id",
        )
    kind = catalog.account_kind(account)
    if kind is None:
        raise CampaignError(
            f"The adapter of {account.display_name} ({account.adapter}) is not installed, "
            "so nothing can be sent through it.",
            "channel_account_id",
        )
    return account, kind


def _check_creative(session: Session, creative_id: int | None, kind: ChannelKind, account) -> Any:
    if creative_id is None:
        raise CampaignError(f"Choose the {kind.value} creative to send.", "creative_id")
    creative = catalog.get_creative(session, creative_id)
    if creative is None:
        raise CampaignError("That creative no longer exists.", "creative_id")
    creative_kind = catalog.creative_kind(creative)
    if creative_kind is not kind:
        raise CampaignError(
            f"{creative.name} is a {creative_kind.value} creative; {account.display_name} is "
            f"a {kind.value} account and needs a {kind.value} creative.",
            "creative_id",
        )
    return creative


def check_audience(
    session: Session,
    kind: ChannelKind,
    account: Any,
    creative: Any,
    segment_id: int | None,
    target: TargetInput,
) -> dict[str, Any]:
    """Email steps go to a segment; social, web and print steps to a target."""
    if kind is ChannelKind.EMAIL:
        if segment_id is None:
            raise CampaignError("Choose the segment this email goes to.", "segment_id")
        if catalog.get_segment(session, segment_id) is None:
            raise CampaignError("That segment no longer exists.", "segment_id")
        return {"segment_id": segment_id, "target": {}}
    if segment_id is not None:
        raise CampaignError(
            f"Only email steps go to a segment; leave it empty for a {kind.value} step.",
            "segment_id",
        )
    return {"segment_id": None, "target": check_target(session, kind, account, creative, target)}


def _dst_note(local: datetime, moment: datetime, tz_name: str) -> str | None:
    """Explain a wall-clock time that daylight saving moves or makes ambiguous."""
    tz = zone(tz_name)
    shown = moment.astimezone(tz).replace(tzinfo=None)
    if shown != local:
        return (
            f"{local:%H:%M} does not exist on {local:%Y-%m-%d} in {tz_name} (the clocks "
            f"spring forward), so the step runs at {shown:%H:%M}."
        )
    first, second = local.replace(tzinfo=tz, fold=0), local.replace(tzinfo=tz, fold=1)
    if first.utcoffset() != second.utcoffset():
        return (
            f"{local:%H:%M} happens twice on {local:%Y-%m-%d} in {tz_name} (the clocks fall "
            f"back); the step runs at the first, {first.tzname()}."
        )
    return None


def check_trigger(
    trigger: TriggerInput, now: datetime, current: Step | None = None
) -> tuple[dict[str, Any], list[str]]:
    """The trigger columns of a step, or CampaignError; plus notes on daylight saving.

    A moment in the past is refused, unless it is the step's unchanged stored one (a step
    that already ran can keep its time while its name or UTM values are edited).
    """
    tz_name = trigger.timezone.strip()
    try:
        zone(tz_name)
    except TimingError as exc:
        raise CampaignError(f"Timezone: {exc}.", "timezone") from None
    columns: dict[str, Any] = {
        "trigger": trigger.kind,
        "timezone": tz_name,
        "run_at": None,
        "cron": "",
        "ends_at": None,
        "local_date": None,
        "local_time": "",
    }
    notes: list[str] = []
    if trigger.kind is TriggerKind.CRON:
        expression = " ".join(trigger.cron.split())
        if not expression:
            raise CampaignError(
                "Enter a cron expression, such as 0 9 * * 1 (Mondays 09:00).", "cron"
            )
        ends_at = None
        if trigger.ends_on is not None:
            # Through the whole last day: it ends when the next local day begins.
            ends_at = local_to_utc(
                datetime.combine(trigger.ends_on + timedelta(days=1), time(0)), zone(tz_name)
            )
        try:
            cron = cron_trigger(expression, tz_name, ends_at)
        except ValueError as exc:
            raise CampaignError(f"Cron expression: {exc}.", "cron") from None
        unchanged = current is not None and (current.cron, current.ends_at) == (expression, ends_at)
        if cron.get_next_fire_time(None, now) is None and not unchanged:
            if ends_at is not None:
                raise CampaignError(
                    "The schedule never fires again before its last day; choose a later one.",
                    "ends_on",
                )
            raise CampaignError("That cron expression never fires again.", "cron")
        columns["cron"] = expression
        columns["ends_at"] = ends_at
        return columns, notes

    if trigger.on_date is None:
        raise CampaignError("Choose the date.", "on_date")
    try:
        clock = parse_clock(trigger.clock)
    except TimingError as exc:
        raise CampaignError(f"Time: {exc}.", "clock") from None
    local = datetime.combine(trigger.on_date, clock)
    if trigger.kind is TriggerKind.AT:
        moment = local_to_utc(local, zone(tz_name))
        unchanged = current is not None and current.run_at == moment
        if moment <= now and not unchanged:
            raise CampaignError(
                f"{local:%Y-%m-%d %H:%M} in {tz_name} has already passed; choose a later time.",
                "on_date",
            )
        columns["run_at"] = moment
        note = _dst_note(local, moment, tz_name)
        if note:
            notes.append(note)
        return columns, notes

    # LOCAL_TIME: it starts when the first timezone reaches the time.
    start = local_time_step_start(trigger.on_date, clock)
    unchanged = (
        current is not None
        and current.local_date == trigger.on_date
        and current.local_time == f"{clock:%H:%M}"
    )
    if start <= now and not unchanged:
        raise CampaignError(
            f"The first timezones reach {clock:%H:%M} on {trigger.on_date:%Y-%m-%d} at "
            f"{start:%Y-%m-%d %H:%M} UTC, which has passed; choose a later date.",
            "on_date",
        )
    columns["local_date"] = trigger.on_date
    columns["local_time"] = f"{clock:%H:%M}"
    return columns, notes


def check_step(
    session: Session,
    data: StepInput,
    *,
    now: datetime | None = None,
    current: Step | None = None,
) -> StepValues:
    """Every check a step must pass; the columns to write, or CampaignError."""
    now = now or utcnow()
    name = data.name.strip()
    if not name:
        raise CampaignError("Give the step a name.", "name")
    if len(name) > 200:
        raise CampaignError("The step name is longer than 200 characters.", "name")
    account, kind = _check_account(session, data.channel_account_id)
    creative = _check_creative(session, data.creative_id, kind, account)
    audience = check_audience(session, kind, account, creative, data.segment_id, data.target)
    trigger_columns, notes = check_trigger(data.trigger, now, current)
    options = dict(current.options or {}) if current else {}
    utm = clean_utm(data.utm)
    if utm:
        options["utm"] = utm
    else:
        options.pop("utm", None)
    if account.status is AccountStatus.NEEDS_RECONNECT:
        notes.append(
            f"{account.display_name} needs reconnecting; nothing is sent through it until "
            "new credentials are entered."
        )
    columns = {
        "name": name,
        "channel_account_id": account.id,
        "channel_kind": kind.value,
        "creative_id": data.creative_id,
        "options": options,
        **audience,
        **trigger_columns,
    }
    return StepValues(columns, notes)


def add_step(
    session: Session,
    campaign: Campaign,
    data: StepInput,
    user: User,
    *,
    now: datetime | None = None,
) -> tuple[Step, list[str]]:
    """A new step at the end of the campaign; returns it with notes for the person."""
    values = check_step(session, data, now=now)
    note_edit(session, campaign, user, f"step '{values.columns['name']}' added")
    position = session.scalar(
        select(func.coalesce(func.max(Step.position), -1)).where(Step.campaign_id == campaign.id)
    )
    step = Step(campaign=campaign, position=position + 1, **values.columns)
    session.add(step)
    session.flush()
    return step, values.notes


def update_step(
    session: Session,
    step: Step,
    data: StepInput,
    user: User,
    *,
    now: datetime | None = None,
) -> list[str]:
    values = check_step(session, data, now=now, current=step)
    changed = [k for k, v in values.columns.items() if getattr(step, k) != v]
    if not changed:
        return values.notes
    note_edit(session, step.campaign, user, f"step '{step.name}' changed")
    if step.creative_id != values.columns["creative_id"]:
        # The frozen version belonged to the old creative; approval freezes the new one.
        step.creative_version_id = None
    for key, value in values.columns.items():
        setattr(step, key, value)
    session.flush()
    return values.notes


def step_has_deliveries(session: Session, step: Step) -> bool:
    return bool(session.scalar(select(exists().where(Delivery.step_id == step.id))))


def remove_step(session: Session, step: Step, user: User) -> None:
    """Remove a step that has not made deliveries (those are the record of what was sent)."""
    if step_has_deliveries(session, step):
        raise CampaignError(
            f"The step '{step.name}' has already made deliveries, which are the record of "
            "what was sent; it cannot be removed. Pause or cancel the campaign instead."
        )
    campaign = step.campaign
    note_edit(session, campaign, user, f"step '{step.name}' removed")
    campaign.steps.remove(step)
    session.flush()


def step_input_of(step: Step) -> StepInput:
    """The input that would recreate `step` as it is: what an edit form starts from."""
    on_date, clock, ends_on = step.local_date, step.local_time, None
    if step.trigger is TriggerKind.AT and step.run_at is not None:
        local = step.run_at.astimezone(zone(step.timezone))
        on_date, clock = local.date(), f"{local:%H:%M}"
    if step.ends_at is not None:
        ends_on = step.ends_at.astimezone(zone(step.timezone)).date() - timedelta(days=1)
    return StepInput(
        name=step.name,
        channel_account_id=step.channel_account_id,
        creative_id=step.creative_id,
        segment_id=step.segment_id,
        target=target_input_of(step.target),
        utm=dict((step.options or {}).get("utm", {})),
        trigger=TriggerInput(
            kind=step.trigger,
            timezone=step.timezone,
            on_date=on_date,
            clock=clock or "",
            cron=step.cron,
            ends_on=ends_on,
        ),
    )


def campaign_problems(
    session: Session, campaign: Campaign, now: datetime | None = None
) -> list[str]:
    """What stops the campaign from being submitted, step by step, in plain words.

    Accounts get disabled and creatives deleted after a step was saved, so every step is
    checked again as it stands.
    """
    now = now or utcnow()
    if not campaign.steps:
        return ["The campaign has no steps yet."]
    problems = []
    for step in campaign.steps:
        try:
            check_step(session, step_input_of(step), now=now, current=step)
        except CampaignError as exc:
            problems.append(f"Step '{step.name}': {exc}")
            continue
        if step.trigger is not TriggerKind.CRON and not step.last_occurrence:
            passed = (
                step.run_at is not None and step.run_at <= now
                if step.trigger is TriggerKind.AT
                else step.local_date is not None
                and local_time_step_start(step.local_date, parse_clock(step.local_time)) <= now
            )
            if passed:
                problems.append(f"Step '{step.name}': its time has passed and it never ran.")
    return problems


def submit_for_review(
    session: Session, campaign: Campaign, user: User, comment: str = "", now: datetime | None = None
) -> CampaignTransition:
    """Draft → in review, once every step passes its checks."""
    problems = campaign_problems(session, campaign, now)
    if problems:
        raise CampaignError("Fix these before submitting: " + " ".join(problems))
    return transition(session, campaign, CampaignStatus.IN_REVIEW, user, comment)


def approve_campaign(
    session: Session, campaign: Campaign, user: User, comment: str = ""
) -> CampaignTransition:
    """In review → approved; the transition freezes the creative version of every step."""
    return transition(session, campaign, CampaignStatus.APPROVED, user, comment)
