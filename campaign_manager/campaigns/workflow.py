"""The campaign workflow: draft → in review → approved → running ⇄ paused → completed/cancelled.

Every transition is checked here (who may do it, from which state) and written to the audit
log. Scheduling reacts to the new state: the scheduler reconciles its jobs with the steps
of approved and running campaigns, so nothing here talks to APScheduler.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from campaign_manager.campaigns.models import (
    Campaign,
    CampaignStatus,
    CampaignTransition,
    Delivery,
    DeliveryStatus,
    Step,
)
from campaign_manager.core.accounts import Role, User
from campaign_manager.core.db import utcnow
from campaign_manager.core.webhooks import WebhookEventType, record_event
from creatives.versions import freeze_current_version

S = CampaignStatus

# Which role may move a campaign from one state to another (admins may do all of them).
ALLOWED = {
    (S.DRAFT, S.IN_REVIEW): {Role.MARKETER},
    (S.IN_REVIEW, S.DRAFT): {Role.MARKETER, Role.APPROVER},  # withdraw, or request changes
    (S.IN_REVIEW, S.APPROVED): {Role.APPROVER},
    (S.APPROVED, S.RUNNING): set(),  # the scheduler starts it; people do not
    (S.APPROVED, S.PAUSED): {Role.MARKETER, Role.APPROVER},
    (S.RUNNING, S.PAUSED): {Role.MARKETER, Role.APPROVER},
    (S.PAUSED, S.RUNNING): {Role.MARKETER, Role.APPROVER},
    (S.RUNNING, S.COMPLETED): set(),
    (S.APPROVED, S.CANCELLED): {Role.MARKETER, Role.APPROVER},
    (S.RUNNING, S.CANCELLED): {Role.MARKETER, Role.APPROVER},
    (S.PAUSED, S.CANCELLED): {Role.MARKETER, Role.APPROVER},
    (S.DRAFT, S.CANCELLED): {Role.MARKETER},
    (S.IN_REVIEW, S.CANCELLED): {Role.MARKETER},
}

# States whose steps the scheduler keeps jobs for.
SCHEDULED_STATES = (S.APPROVED, S.RUNNING)
# States in which an edit is allowed (an edit to an approved campaign sends it back).
EDITABLE_STATES = (S.DRAFT, S.IN_REVIEW, S.APPROVED, S.PAUSED)


class WorkflowError(Exception):
    """A transition that is not allowed; the message says why and is safe to show."""


class TransitionNotPermitted(WorkflowError):
    """The transition exists, but not for this person (their role, or their own campaign)."""


def transition(
    session: Session,
    campaign: Campaign,
    to: CampaignStatus,
    user: User | None,
    comment: str = "",
) -> CampaignTransition:
    """Move the campaign to `to`, or raise WorkflowError. `user` None means the system."""
    current = campaign.status
    if (current, to) not in ALLOWED:
        raise WorkflowError(f"A {_label(current)} campaign cannot become {_label(to)}.")
    if user is not None:
        allowed_roles = ALLOWED[(current, to)]
        if user.role is not Role.ADMIN and user.role not in allowed_roles:
            raise TransitionNotPermitted(
                f"Your role ({user.role.value}) cannot move a campaign from "
                f"{_label(current)} to {_label(to)}."
            )
    if to is S.IN_REVIEW and not campaign.steps:
        raise WorkflowError("Add at least one step before submitting the campaign for review.")
    if to is S.APPROVED and user is not None:
        if campaign.created_by_id == user.id and user.role is not Role.ADMIN:
            raise TransitionNotPermitted(
                "You cannot approve a campaign you created; another approver must."
            )
        campaign.approved_by_id = user.id
        campaign.approved_at = utcnow()
    sent_back = to is S.DRAFT and current is S.IN_REVIEW and user and user.role is Role.APPROVER
    if sent_back and not comment.strip():
        raise WorkflowError("Say what must change when sending a campaign back.")
    campaign.status = to
    record = CampaignTransition(
        campaign=campaign,
        from_status=current,
        to_status=to,
        user_id=user.id if user else None,
        comment=comment.strip(),
    )
    session.add(record)
    if to is S.APPROVED:
        freeze_step_creatives(session, campaign)
    if to is S.CANCELLED:
        skip_unsent_deliveries(session, campaign.id, "campaign cancelled")
    session.flush()
    emit_status_changed(session, campaign, record)
    return record


def emit_status_changed(session: Session, campaign: Campaign, record: CampaignTransition) -> None:
    """The campaign.status_changed webhook event, in the transition's own transaction."""
    record_event(
        session,
        WebhookEventType.CAMPAIGN_STATUS_CHANGED,
        {
            "campaign_id": campaign.id,
            "name": campaign.name,
            "from_status": record.from_status.value,
            "to_status": record.to_status.value,
            "user_id": record.user_id,
            "comment": record.comment,
        },
    )


def freeze_step_creatives(session: Session, campaign: Campaign) -> None:
    """Approval fixes what each step sends: the creative's current version, frozen.

    An edit after approval sends the campaign back to review, and the next approval
    freezes the then-current versions; deliveries record the version they used.
    """
    for step in campaign.steps:
        if step.creative_id is not None:
            step.creative_version_id = freeze_current_version(session, step.creative_id).id


def note_edit(session: Session, campaign: Campaign, user: User, what: str) -> None:
    """Record an edit; an approved (not yet running) campaign goes back to review.

    Running campaigns must be paused before editing, so nobody changes a campaign while it
    is being sent.
    """
    if campaign.status not in EDITABLE_STATES:
        raise WorkflowError(
            f"A {_label(campaign.status)} campaign cannot be edited"
            + ("; pause it first." if campaign.status is S.RUNNING else ".")
        )
    if campaign.status in (S.APPROVED, S.PAUSED):
        previous = campaign.status
        campaign.status = S.IN_REVIEW
        campaign.approved_by_id = None
        campaign.approved_at = None
        record = CampaignTransition(
            campaign=campaign,
            from_status=previous,
            to_status=S.IN_REVIEW,
            user_id=user.id,
            comment=f"Edited after approval ({what}); needs approval again.",
        )
        session.add(record)
        skip_unsent_deliveries(session, campaign.id, "campaign edited after approval")
        emit_status_changed(session, campaign, record)


def skip_unsent_deliveries(session: Session, campaign_id: int, reason: str) -> int:
    """Pending deliveries of the campaign become skipped, in the caller's transaction."""
    step_ids = select(Step.id).where(Step.campaign_id == campaign_id).scalar_subquery()
    result = session.execute(
        update(Delivery)
        .where(Delivery.step_id.in_(step_ids), Delivery.status == DeliveryStatus.PENDING)
        .values(status=DeliveryStatus.SKIPPED, reason=reason, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


def in_flight_count(session: Session, campaign_id: int) -> int:
    """Deliveries a worker is handing to a provider right now (status sending)."""
    from sqlalchemy import func

    return session.scalar(
        select(func.count())
        .select_from(Delivery)
        .join(Step, Step.id == Delivery.step_id)
        .where(Step.campaign_id == campaign_id, Delivery.status == DeliveryStatus.SENDING)
    )


def _label(status: CampaignStatus) -> str:
    return status.value.replace("_", " ")
