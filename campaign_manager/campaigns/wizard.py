"""The campaign wizard: details, audience, creatives per channel, schedule, review, submit.

Each stage's choices are checked and saved on the draft campaign (`Campaign.wizard`), so a
person can leave and resume; nothing becomes a step until the schedule stage, which
writes all of them at once or none. The plan (a JSON object) holds:

    segment_ids:  [int]                  who email steps go to
    account_ids:  [int]                  channel accounts to send through
    creatives:    {account_id: int}      the creative each account sends
    steps:        {plan_key: step_id}    the steps the wizard wrote

One step is planned per email account and segment, and one per other account; the target
of a social, web or print step (network, page address, print order) is entered with its
schedule. Steps added on the campaign page outside the wizard are never touched by it.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from campaign_manager.campaigns import catalog
from campaign_manager.campaigns.editing import (
    CampaignError,
    StepInput,
    TriggerInput,
    add_step,
    check_step,
    remove_step,
    update_step,
)
from campaign_manager.campaigns.models import Campaign, CampaignStatus
from campaign_manager.campaigns.targets import TargetInput
from campaign_manager.campaigns.workflow import note_edit
from campaign_manager.channels.base import ChannelKind
from campaign_manager.core.accounts import User
from campaign_manager.core.db import utcnow


class Stage(enum.StrEnum):
    DETAILS = "details"
    AUDIENCE = "audience"
    CREATIVES = "creatives"
    SCHEDULE = "schedule"
    REVIEW = "review"

    @property
    def label(self) -> str:
        return {
            Stage.DETAILS: "Details",
            Stage.AUDIENCE: "Audience and channels",
            Stage.CREATIVES: "Creatives",
            Stage.SCHEDULE: "Schedule",
            Stage.REVIEW: "Review and submit",
        }[self]


STAGES = tuple(Stage)


@dataclass(frozen=True)
class PlannedStep:
    """A step the wizard will write: one account, and for email one segment."""

    key: str
    account: catalog.AccountChoice
    segment: catalog.Choice | None
    creative_id: int | None
    step_id: int | None

    @property
    def default_name(self) -> str:
        if self.segment is None:
            return self.account.label
        return f"{self.account.label} → {self.segment.label}"


@dataclass
class StageErrors(Exception):
    """Field errors of one stage: {field: message}, or {plan_key: {field: message}}."""

    errors: dict[str, object] = field(default_factory=dict)

    def __str__(self) -> str:
        return "; ".join(f"{k}: {v}" for k, v in self.errors.items())


def is_wizard_editable(campaign: Campaign) -> bool:
    return campaign.status is CampaignStatus.DRAFT


def _require_draft(campaign: Campaign) -> None:
    if not is_wizard_editable(campaign):
        raise CampaignError(
            "Only a draft campaign is built with the wizard; edit this one's steps on its page."
        )


def _plan(campaign: Campaign) -> dict:
    return dict(campaign.wizard or {})


def _save_plan(campaign: Campaign, plan: Mapping) -> None:
    # A new object, so SQLAlchemy sees the JSON change.
    campaign.wizard = dict(plan)


def planned_steps(session: Session, campaign: Campaign) -> list[PlannedStep]:
    plan = _plan(campaign)
    accounts = {a.id: a for a in catalog.account_choices(session)}
    segments = {s.id: s for s in catalog.segment_choices(session)}
    creatives = {int(k): v for k, v in (plan.get("creatives") or {}).items()}
    step_ids = plan.get("steps") or {}
    planned = []
    for account_id in plan.get("account_ids") or []:
        account = accounts.get(account_id)
        if account is None:
            continue
        if account.kind is ChannelKind.EMAIL:
            for segment_id in plan.get("segment_ids") or []:
                segment = segments.get(segment_id)
                if segment is None:
                    continue
                key = f"{account_id}:segment:{segment_id}"
                planned.append(
                    PlannedStep(key, account, segment, creatives.get(account_id), step_ids.get(key))
                )
        else:
            key = f"{account_id}:target"
            planned.append(
                PlannedStep(key, account, None, creatives.get(account_id), step_ids.get(key))
            )
    return planned


def stage_done(session: Session, campaign: Campaign | None, stage: Stage) -> bool:
    if campaign is None:
        return False
    plan = _plan(campaign)
    if stage is Stage.DETAILS:
        return True
    if stage is Stage.AUDIENCE:
        return bool(plan.get("account_ids"))
    planned = planned_steps(session, campaign)
    if stage is Stage.CREATIVES:
        return bool(planned) and all(p.creative_id for p in planned)
    if stage is Stage.SCHEDULE:
        existing = {s.id for s in campaign.steps}
        return bool(planned) and all(p.step_id in existing for p in planned)
    return campaign.status is not CampaignStatus.DRAFT


def resume_stage(session: Session, campaign: Campaign) -> Stage:
    """The first stage not done yet: where a person continues a draft."""
    for stage in STAGES:
        if not stage_done(session, campaign, stage):
            return stage
    return Stage.REVIEW


def may_open(session: Session, campaign: Campaign | None, stage: Stage) -> bool:
    """A stage opens once every stage before it is done."""
    index = STAGES.index(stage)
    return all(stage_done(session, campaign, s) for s in STAGES[:index])


# --- stages ----------------------------------------------------------------------------------


def save_audience(
    session: Session,
    campaign: Campaign,
    user: User,
    *,
    segment_ids: Sequence[int],
    account_ids: Sequence[int],
) -> None:
    """Who (segments, for email) and through which channel accounts."""
    _require_draft(campaign)
    errors: dict[str, object] = {}
    accounts = {a.id: a for a in catalog.account_choices(session)}
    segments = {s.id for s in catalog.segment_choices(session)}
    chosen = [accounts.get(i) for i in dict.fromkeys(account_ids)]
    if not chosen:
        errors["account_ids"] = "Choose at least one channel account."
    for account in chosen:
        if account is None:
            errors["account_ids"] = "A chosen channel account no longer exists."
        elif not account.is_usable:
            errors["account_ids"] = (
                f"{account.label} is disabled or its adapter is not installed; choose another."
            )
    has_email = any(a and a.kind is ChannelKind.EMAIL for a in chosen)
    segment_ids = list(dict.fromkeys(segment_ids))
    if has_email and not segment_ids:
        errors["segment_ids"] = "Choose at least one segment for the email accounts."
    if any(s not in segments for s in segment_ids):
        errors["segment_ids"] = "A chosen segment no longer exists."
    if errors:
        raise StageErrors(errors)
    plan = _plan(campaign)
    plan.update(
        segment_ids=segment_ids if has_email else [],
        account_ids=[a.id for a in chosen],
    )
    note_edit(session, campaign, user, "audience")
    _save_plan(campaign, plan)
    session.flush()


def save_creatives(
    session: Session, campaign: Campaign, user: User, creatives: Mapping[int, int | None]
) -> None:
    """The creative each chosen account sends (its kind must match the account's)."""
    _require_draft(campaign)
    plan = _plan(campaign)
    accounts = {a.id: a for a in catalog.account_choices(session)}
    errors: dict[str, object] = {}
    chosen: dict[str, int] = {}
    for account_id in plan.get("account_ids") or []:
        account = accounts.get(account_id)
        if account is None or account.kind is None:
            continue
        creative_id = creatives.get(account_id)
        name = f"creative_{account_id}"
        if creative_id is None:
            errors[name] = f"Choose the {account.kind.value} creative {account.label} sends."
            continue
        creative = catalog.get_creative(session, creative_id)
        if creative is None:
            errors[name] = "That creative no longer exists."
        elif catalog.creative_kind(creative) is not account.kind:
            errors[name] = (
                f"{creative.name} is a {creative.kind.value} creative; {account.label} needs a "
                f"{account.kind.value} creative."
            )
        else:
            chosen[str(account_id)] = creative_id
    if errors:
        raise StageErrors(errors)
    plan["creatives"] = chosen
    note_edit(session, campaign, user, "creatives")
    _save_plan(campaign, plan)
    session.flush()


@dataclass(frozen=True)
class ScheduledStep:
    """The schedule stage's input for one planned step."""

    name: str
    trigger: TriggerInput
    utm: Mapping[str, str] = field(default_factory=dict)
    target: TargetInput = field(default_factory=TargetInput)


def save_schedule(
    session: Session,
    campaign: Campaign,
    user: User,
    schedule: Mapping[str, ScheduledStep],
    *,
    now: datetime | None = None,
) -> list[str]:
    """Write the planned steps, all or none. Returns notes (daylight saving, accounts).

    Every planned step is checked before any is written; steps the wizard wrote earlier
    are updated, and those no longer planned are removed.
    """
    _require_draft(campaign)
    now = now or utcnow()
    planned = planned_steps(session, campaign)
    existing = {s.id: s for s in campaign.steps}
    inputs: dict[str, StepInput] = {}
    errors: dict[str, object] = {}
    notes: list[str] = []
    for item in planned:
        entry = schedule.get(item.key)
        if entry is None:
            errors[item.key] = {"name": "This step has no schedule yet."}
            continue
        data = StepInput(
            name=entry.name.strip() or item.default_name,
            channel_account_id=item.account.id,
            creative_id=item.creative_id,
            segment_id=item.segment.id if item.segment else None,
            target=entry.target,
            trigger=entry.trigger,
            utm=entry.utm,
        )
        try:
            values = check_step(session, data, now=now, current=existing.get(item.step_id))
        except CampaignError as exc:
            errors[item.key] = {exc.field or "name": str(exc)}
            continue
        inputs[item.key] = data
        notes.extend(f"{data.name}: {note}" for note in values.notes)
    if errors:
        raise StageErrors(errors)
    step_ids: dict[str, int] = {}
    for item in planned:
        current = existing.get(item.step_id)
        if current is not None:
            update_step(session, current, inputs[item.key], user, now=now)
            step_ids[item.key] = current.id
        else:
            step, _ = add_step(session, campaign, inputs[item.key], user, now=now)
            step_ids[item.key] = step.id
    kept = set(step_ids.values())
    for old_id in (_plan(campaign).get("steps") or {}).values():
        old = existing.get(old_id)
        if old is not None and old_id not in kept:
            remove_step(session, old, user)
    plan = _plan(campaign)
    plan["steps"] = step_ids
    _save_plan(campaign, plan)
    session.flush()
    return notes


def review_notes(session: Session, campaign: Campaign) -> list[str]:
    """What a person should know before submitting, though it stops nothing: an email step
    whose creative has no variant of its own for the step's segment sends the default."""
    notes = []
    for step in campaign.steps:
        if step.segment_id is None:
            continue
        segment = catalog.get_segment(session, step.segment_id)
        creative = catalog.get_creative(session, step.creative_id)
        if segment is None or creative is None:
            continue
        if segment.slug not in catalog.variant_keys(session, creative.id):
            notes.append(
                f"Step '{step.name}': {creative.name} has no variant for {segment.label}, "
                "so they get its default version."
            )
    return notes
