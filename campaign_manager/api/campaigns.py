"""Campaigns and their steps: CRUD, the approval workflow, dry runs and the report.

Every rule lives in `campaign_manager.campaigns` (editing.py checks input, workflow.py who may
move a campaign where): editing an approved campaign sends it back to review, a running one
must be paused first, and nobody approves a campaign they created. The views only translate
JSON to the services' inputs and their errors to problems.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import marshmallow as ma
from flask import Response, current_app, url_for
from sqlalchemy import select

from campaign_manager.api.auth import api_access, current_api_user
from campaign_manager.api.blueprint import ApiSchema, Blueprint, id_field
from campaign_manager.api.conditional import check_if_match_when_sent, etag_of, require_if_match
from campaign_manager.api.idempotency import idempotent
from campaign_manager.api.pagination import PageQuerySchema, SortOrders, keyset_page, page_schema
from campaign_manager.api.problems import ApiProblem, FieldError
from campaign_manager.api.responses import json_response, page_response
from campaign_manager.campaigns.editing import (
    UTM_KEYS,
    CampaignError,
    CampaignInput,
    StepInput,
    TriggerInput,
    add_step,
    approve_campaign,
    create_campaign,
    remove_step,
    step_input_of,
    submit_for_review,
    update_campaign,
    update_step,
)
from campaign_manager.campaigns.models import Campaign, CampaignStatus, Step, TriggerKind
from campaign_manager.campaigns.reports import campaign_report
from campaign_manager.campaigns.targets import TargetInput
from campaign_manager.campaigns.workflow import TransitionNotPermitted, WorkflowError, transition
from campaign_manager.extensions import db
from campaign_manager.web.authz import APPROVERS, EDITORS, STAFF
from schedulers.progress import dry_run_step

blp = Blueprint(
    "api_campaigns",
    __name__,
    url_prefix="/api/v1/campaigns",
    description="Campaigns, their steps, the approval workflow, dry runs and reports.",
)

# Who steers a campaign once it runs: the people who build it and those who approve it.
OPERATORS = (*EDITORS, *APPROVERS)
S = CampaignStatus


def _text(max_length: int, **kwargs: Any) -> ma.fields.String:
    return ma.fields.String(validate=ma.validate.Length(max=max_length), **kwargs)


def _utm_field() -> ma.fields.Dict:
    return ma.fields.Dict(
        keys=ma.fields.String(validate=ma.validate.OneOf(UTM_KEYS)),
        values=_text(100),
        metadata={"description": "UTM parameters: " + ", ".join(UTM_KEYS)},
    )


# --- schemas -------------------------------------------------------------------------------


class TransitionSchema(ma.Schema):
    from_status = ma.fields.Enum(CampaignStatus, by_value=True, required=True)
    to_status = ma.fields.Enum(CampaignStatus, by_value=True, required=True)
    user_id = ma.fields.Integer(allow_none=True)
    comment = ma.fields.String()
    created_at = ma.fields.DateTime()


class CampaignSchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    name = ma.fields.String(required=True)
    goal = ma.fields.String()
    status = ma.fields.Enum(CampaignStatus, by_value=True, required=True)
    timezone = ma.fields.String()
    utm = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.String())
    frequency_cap = ma.fields.Integer(allow_none=True)
    open_tracking = ma.fields.Boolean()
    sender_name = ma.fields.String()
    sender_address = ma.fields.String()
    reply_to = ma.fields.String()
    created_by_id = ma.fields.Integer(allow_none=True)
    approved_by_id = ma.fields.Integer(allow_none=True)
    approved_at = ma.fields.DateTime(allow_none=True)
    created_at = ma.fields.DateTime()
    updated_at = ma.fields.DateTime()
    step_ids = ma.fields.List(ma.fields.Integer(), metadata={"description": "in running order"})
    history = ma.fields.List(ma.fields.Nested(TransitionSchema))


class CampaignInSchema(ApiSchema):
    """What a client may set; on PATCH every field is optional and absent ones stay."""

    name = _text(200, required=True)
    goal = _text(5000)
    timezone = _text(64, metadata={"description": "an IANA zone such as America/Chicago"})
    utm = _utm_field()
    frequency_cap = ma.fields.Integer(
        allow_none=True,
        validate=ma.validate.Range(min=1, max=100),
        metadata={"description": "messages per contact per 7 days; null uses the default"},
    )
    open_tracking = ma.fields.Boolean(metadata={"description": "never for minors"})
    sender_name = _text(200)
    sender_address = _text(320)
    reply_to = _text(320)


class CampaignPatchSchema(CampaignInSchema):
    """CampaignIn for PATCH: every field optional (used with partial=True)."""


class CampaignListQuery(PageQuerySchema):
    status = ma.fields.Enum(CampaignStatus, by_value=True)


class TriggerSchema(ApiSchema):
    kind = ma.fields.Enum(TriggerKind, by_value=True, required=True)
    timezone = _text(64, required=True)
    on_date = ma.fields.Date(allow_none=True, metadata={"description": "at and local_time"})
    clock = _text(5, metadata={"description": "HH:MM, 24-hour (at and local_time)"})
    cron = _text(120, metadata={"description": "minute hour day month weekday (cron)"})
    ends_on = ma.fields.Date(allow_none=True, metadata={"description": "last day (cron)"})


class TargetSchema(ApiSchema):
    """Where a social, web or print step goes; email steps use a segment instead."""

    network = _text(40, metadata={"description": "social steps on sandbox accounts"})
    slug = _text(200, metadata={"description": "web steps: the page address"})
    vendor_id = id_field(allow_none=True, metadata={"description": "print steps"})
    quantity = ma.fields.Integer(allow_none=True, validate=ma.validate.Range(min=1, max=1_000_000))
    paper_stock = _text(200)
    due_date = ma.fields.Date(allow_none=True)
    finishing = _text(300)
    ship_to = ma.fields.String(validate=ma.validate.OneOf(["school", "vendor"]))
    variants = _text(2000, metadata={"description": "co-brand partners to print"})


class StepSchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    campaign_id = ma.fields.Integer(required=True)
    position = ma.fields.Integer()
    name = ma.fields.String(required=True)
    channel_account_id = ma.fields.Integer()
    channel_kind = ma.fields.String()
    creative_id = ma.fields.Integer()
    creative_version_id = ma.fields.Integer(
        allow_none=True, metadata={"description": "frozen at approval"}
    )
    segment_id = ma.fields.Integer(allow_none=True)
    target = ma.fields.Nested(TargetSchema)
    trigger = ma.fields.Nested(TriggerSchema)
    utm = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.String())
    run_at = ma.fields.DateTime(allow_none=True, metadata={"description": "UTC, for at steps"})
    notes = ma.fields.List(
        ma.fields.String(),
        metadata={
            "description": "after a create or change: things to know, such as a time "
            "that daylight saving moves"
        },
    )
    last_occurrence = ma.fields.String()
    created_at = ma.fields.DateTime()
    updated_at = ma.fields.DateTime()


class StepInSchema(ApiSchema):
    name = _text(200, required=True)
    channel_account_id = id_field(required=True)
    creative_id = id_field(required=True)
    segment_id = id_field(allow_none=True)
    target = ma.fields.Nested(TargetSchema)
    trigger = ma.fields.Nested(TriggerSchema, required=True)
    utm = _utm_field()


class StepPatchSchema(StepInSchema):
    """StepIn for PATCH: every field optional; nested trigger and target fields merge."""


class CommentSchema(ApiSchema):
    comment = _text(2000, load_default="", metadata={"description": "kept in the history"})


class DryRunSchema(ma.Schema):
    total = ma.fields.Integer(required=True)
    by_status = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer())
    by_reason = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer())


class ReportRowSchema(ma.Schema):
    label = ma.fields.String(required=True)
    counts = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer())


class ReportSchema(ma.Schema):
    campaign_id = ma.fields.Integer(required=True)
    timezone = ma.fields.String()
    bucket = ma.fields.String(metadata={"description": "day or week"})
    totals = ma.fields.Nested(ReportRowSchema)
    by_step = ma.fields.List(ma.fields.Nested(ReportRowSchema))
    by_channel = ma.fields.List(ma.fields.Nested(ReportRowSchema))
    by_segment = ma.fields.List(ma.fields.Nested(ReportRowSchema))
    over_time = ma.fields.List(ma.fields.Nested(ReportRowSchema))


CAMPAIGN_SORTS = SortOrders(
    Campaign.id, {"id": Campaign.id, "updated_at": Campaign.updated_at}, default="-id"
)
STEP_SORTS = SortOrders(Step.id, {"id": Step.id, "position": Step.position}, default="position")


# --- representation and look-ups -----------------------------------------------------------


def represent_campaign(campaign: Campaign) -> dict[str, Any]:
    return {
        **{
            name: getattr(campaign, name)
            for name in CampaignSchema().fields
            if hasattr(Campaign, name)
        },
        "step_ids": [step.id for step in campaign.steps],
        "history": campaign.transitions,
    }


def represent_step(step: Step) -> dict[str, Any]:
    given = step_input_of(step)
    return {
        **{name: getattr(step, name) for name in StepSchema().fields if hasattr(Step, name)},
        "target": dataclasses.asdict(given.target),
        "trigger": {**dataclasses.asdict(given.trigger), "kind": given.trigger.kind},
        "utm": dict(given.utm),
    }


def _campaign_or_404(campaign_id: int, *, for_update: bool = False) -> Campaign:
    query = select(Campaign).where(Campaign.id == campaign_id)
    if for_update:
        query = query.with_for_update()
    campaign = db.session.scalar(query)
    if campaign is None:
        raise ApiProblem(404, f"There is no campaign #{campaign_id}.")
    return campaign


def _step_or_404(campaign: Campaign, step_id: int) -> Step:
    step = db.session.get(Step, step_id)
    if step is None or step.campaign_id != campaign.id:
        raise ApiProblem(404, f"Campaign #{campaign.id} has no step #{step_id}.")
    return step


def _campaign_response(campaign: Campaign, status: int = 200) -> Response:
    location = (
        url_for("api_campaigns.get_campaign", campaign_id=campaign.id) if status == 201 else None
    )
    return json_response(
        CampaignSchema(), represent_campaign(campaign), status=status, location=location
    )


def _step_response(step: Step, status: int = 200, notes: list[str] = ()) -> Response:
    location = (
        url_for("api_campaigns.get_step", campaign_id=step.campaign_id, step_id=step.id)
        if status == 201
        else None
    )
    response = json_response(
        StepSchema(),
        {**represent_step(step), "notes": list(notes)},
        status=status,
        location=location,
    )
    # The same ETag a GET gives, whatever the notes.
    response.headers["ETag"] = etag_of(_step_etag_view(step))
    return response


def _step_etag_view(step: Step) -> dict[str, Any]:
    return StepSchema().dump({**represent_step(step), "notes": []})


# Service field names that sit inside a nested object of the step's JSON.
_NESTED_FIELDS = {
    **{name: "trigger." + name for name in ("on_date", "clock", "cron", "ends_on")},
    **{f.name: "target." + f.name for f in dataclasses.fields(TargetInput)},
}


def _campaign_problem(exc: CampaignError, *, step: bool = False) -> ApiProblem:
    field = exc.field
    if field and step:
        field = _NESTED_FIELDS.get(field, field)
        if field == "timezone":
            field = "trigger.timezone"
    return ApiProblem(422, str(exc), errors=[FieldError(field, str(exc))] if field else [])


def _workflow_problem(exc: WorkflowError) -> ApiProblem:
    # 403: the move exists but not for this person; 409: not from the campaign's state.
    return ApiProblem(403 if isinstance(exc, TransitionNotPermitted) else 409, str(exc))


def _campaign_input(data: dict[str, Any], current: Campaign | None = None) -> CampaignInput:
    if current is None:
        base = CampaignInput(name="")
    else:
        base = CampaignInput(
            name=current.name,
            goal=current.goal,
            timezone=current.timezone,
            utm=dict(current.utm or {}),
            frequency_cap=current.frequency_cap,
            open_tracking=current.open_tracking,
            sender_name=current.sender_name,
            sender_address=current.sender_address,
            reply_to=current.reply_to,
        )
    return dataclasses.replace(base, **data)


def _step_input(data: dict[str, Any], current: StepInput | None = None) -> StepInput:
    changes = dict(data)
    if "target" in changes:
        base_target = current.target if current else TargetInput()
        changes["target"] = dataclasses.replace(base_target, **changes["target"])
    if "trigger" in changes:
        trigger = dict(changes["trigger"])
        if current is not None and "kind" not in trigger:
            trigger["kind"] = current.trigger.kind
        changes["trigger"] = (
            dataclasses.replace(current.trigger, **trigger)
            if current is not None
            else TriggerInput(**trigger)
        )
    if current is None:
        return StepInput(**changes)
    return dataclasses.replace(current, **changes)


# --- campaigns -----------------------------------------------------------------------------


@blp.route("", methods=["GET"])
@api_access(*STAFF)
@blp.arguments(CampaignListQuery, location="query")
@blp.response(200, page_schema(CampaignSchema, "CampaignPage"))
def list_campaigns(args: dict[str, Any]):
    """List campaigns, newest first by default; filter by status."""
    query = select(Campaign)
    if args.get("status"):
        query = query.where(Campaign.status == args["status"])
    page = keyset_page(db.session, query, CAMPAIGN_SORTS, args)
    page = type(page)([represent_campaign(c) for c in page.items], page.next_cursor)
    return page_response(CampaignSchema(), page)


@blp.route("", methods=["POST"])
@api_access(*EDITORS)
@blp.arguments(CampaignInSchema)
@blp.response(201, CampaignSchema)
@idempotent
def create(data: dict[str, Any]):
    """Create a draft campaign; add steps, then submit it for review."""
    try:
        campaign = create_campaign(db.session, _campaign_input(data), current_api_user())
    except CampaignError as exc:
        raise _campaign_problem(exc) from None
    db.session.commit()
    return _campaign_response(campaign, 201)


@blp.route("/<id:campaign_id>", methods=["GET"])
@api_access(*STAFF)
@blp.response(200, CampaignSchema)
def get_campaign(campaign_id: int):
    """One campaign with its approval history, and its ETag for a later PATCH."""
    return _campaign_response(_campaign_or_404(campaign_id))


@blp.route("/<id:campaign_id>", methods=["PATCH"])
@api_access(*EDITORS)
@blp.arguments(CampaignPatchSchema(partial=True))
@blp.response(200, CampaignSchema)
def patch_campaign(data: dict[str, Any], campaign_id: int):
    """Change the fields sent; needs If-Match. An approved or paused campaign goes back to
    review; a running one must be paused first (409)."""
    campaign = _campaign_or_404(campaign_id, for_update=True)
    require_if_match(CampaignSchema().dump(represent_campaign(campaign)))
    try:
        update_campaign(db.session, campaign, _campaign_input(data, campaign), current_api_user())
    except CampaignError as exc:
        raise _campaign_problem(exc) from None
    except WorkflowError as exc:
        raise _workflow_problem(exc) from None
    db.session.commit()
    return _campaign_response(campaign)


# --- the workflow --------------------------------------------------------------------------


def _move(campaign_id: int, to: CampaignStatus, comment: str) -> Response:
    campaign = _campaign_or_404(campaign_id, for_update=True)
    check_if_match_when_sent(CampaignSchema().dump(represent_campaign(campaign)))
    user = current_api_user()
    try:
        if to is S.IN_REVIEW:
            submit_for_review(db.session, campaign, user, comment)
        elif to is S.APPROVED:
            approve_campaign(db.session, campaign, user, comment)
        else:
            transition(db.session, campaign, to, user, comment)
    except CampaignError as exc:
        raise ApiProblem(409, str(exc)) from None
    except WorkflowError as exc:
        raise _workflow_problem(exc) from None
    db.session.commit()
    return _campaign_response(campaign)


@blp.route("/<id:campaign_id>/submit", methods=["POST"])
@api_access(*EDITORS)
@blp.arguments(CommentSchema)
@blp.response(200, CampaignSchema)
@idempotent
def submit(data: dict[str, Any], campaign_id: int):
    """Draft → in review, once every step passes its checks (409 lists what to fix)."""
    return _move(campaign_id, S.IN_REVIEW, data["comment"])


@blp.route("/<id:campaign_id>/approve", methods=["POST"])
@api_access(*APPROVERS)
@blp.arguments(CommentSchema)
@blp.response(200, CampaignSchema)
@idempotent
def approve(data: dict[str, Any], campaign_id: int):
    """In review → approved: its steps are scheduled and their creatives frozen.

    Nobody approves a campaign they created (403), except an admin.
    """
    return _move(campaign_id, S.APPROVED, data["comment"])


@blp.route("/<id:campaign_id>/reject", methods=["POST"])
@api_access(*OPERATORS)
@blp.arguments(CommentSchema)
@blp.response(200, CampaignSchema)
@idempotent
def reject(data: dict[str, Any], campaign_id: int):
    """In review → draft: an approver sends it back (`comment` says what must change), or
    a marketer withdraws it."""
    return _move(campaign_id, S.DRAFT, data["comment"])


@blp.route("/<id:campaign_id>/pause", methods=["POST"])
@api_access(*OPERATORS)
@blp.arguments(CommentSchema)
@blp.response(200, CampaignSchema)
@idempotent
def pause(data: dict[str, Any], campaign_id: int):
    """Approved or running → paused: nothing more is sent until it resumes."""
    return _move(campaign_id, S.PAUSED, data["comment"])


@blp.route("/<id:campaign_id>/resume", methods=["POST"])
@api_access(*OPERATORS)
@blp.arguments(CommentSchema)
@blp.response(200, CampaignSchema)
@idempotent
def resume(data: dict[str, Any], campaign_id: int):
    """Paused → running."""
    return _move(campaign_id, S.RUNNING, data["comment"])


@blp.route("/<id:campaign_id>/cancel", methods=["POST"])
@api_access(*OPERATORS)
@blp.arguments(CommentSchema)
@blp.response(200, CampaignSchema)
@idempotent
def cancel(data: dict[str, Any], campaign_id: int):
    """Cancel: deliveries not yet handed to a provider are skipped."""
    return _move(campaign_id, S.CANCELLED, data["comment"])


# --- steps ---------------------------------------------------------------------------------


@blp.route("/<id:campaign_id>/steps", methods=["GET"])
@api_access(*STAFF)
@blp.arguments(PageQuerySchema, location="query")
@blp.response(200, page_schema(StepSchema, "StepPage"))
def list_steps(args: dict[str, Any], campaign_id: int):
    """The campaign's steps, in running order by default."""
    _campaign_or_404(campaign_id)
    query = select(Step).where(Step.campaign_id == campaign_id)
    page = keyset_page(db.session, query, STEP_SORTS, args)
    page = type(page)([represent_step(s) for s in page.items], page.next_cursor)
    return page_response(StepSchema(), page)


@blp.route("/<id:campaign_id>/steps", methods=["POST"])
@api_access(*EDITORS)
@blp.arguments(StepInSchema)
@blp.response(201, StepSchema)
@idempotent
def create_step(data: dict[str, Any], campaign_id: int):
    """Add a step at the end. An approved campaign goes back to review.

    `notes` tells what a person should know, such as a time that daylight saving moves.
    """
    campaign = _campaign_or_404(campaign_id, for_update=True)
    try:
        step, notes = add_step(db.session, campaign, _step_input(data), current_api_user())
    except CampaignError as exc:
        raise _campaign_problem(exc, step=True) from None
    except WorkflowError as exc:
        raise _workflow_problem(exc) from None
    db.session.commit()
    return _step_response(step, 201, notes)


@blp.route("/<id:campaign_id>/steps/<id:step_id>", methods=["GET"])
@api_access(*STAFF)
@blp.response(200, StepSchema)
def get_step(campaign_id: int, step_id: int):
    """One step, with its ETag for a later PATCH or DELETE."""
    return _step_response(_step_or_404(_campaign_or_404(campaign_id), step_id))


@blp.route("/<id:campaign_id>/steps/<id:step_id>", methods=["PATCH"])
@api_access(*EDITORS)
@blp.arguments(StepPatchSchema(partial=True))
@blp.response(200, StepSchema)
def patch_step(data: dict[str, Any], campaign_id: int, step_id: int):
    """Change the fields sent (nested trigger and target fields merge); needs If-Match."""
    campaign = _campaign_or_404(campaign_id, for_update=True)
    step = _step_or_404(campaign, step_id)
    require_if_match(_step_etag_view(step))
    try:
        notes = update_step(
            db.session, step, _step_input(data, step_input_of(step)), current_api_user()
        )
    except CampaignError as exc:
        raise _campaign_problem(exc, step=True) from None
    except WorkflowError as exc:
        raise _workflow_problem(exc) from None
    db.session.commit()
    return _step_response(step, notes=notes)


@blp.route("/<id:campaign_id>/steps/<id:step_id>", methods=["DELETE"])
@api_access(*EDITORS)
@blp.response(204)
def delete_step(campaign_id: int, step_id: int):
    """Remove a step that has made no deliveries (409 otherwise); needs If-Match."""
    campaign = _campaign_or_404(campaign_id, for_update=True)
    step = _step_or_404(campaign, step_id)
    require_if_match(_step_etag_view(step))
    try:
        remove_step(db.session, step, current_api_user())
    except CampaignError as exc:
        raise ApiProblem(409, str(exc)) from None
    except WorkflowError as exc:
        raise _workflow_problem(exc) from None
    db.session.commit()
    return Response(status=204)


@blp.route("/<id:campaign_id>/steps/<id:step_id>/dry-run", methods=["GET"])
@api_access(*OPERATORS)
@blp.response(200, DryRunSchema)
def dry_run(campaign_id: int, step_id: int):
    """How many deliveries the step's next occurrence would make, by status and reason,
    without writing anything."""
    step = _step_or_404(_campaign_or_404(campaign_id), step_id)
    step_id = step.id
    # The dry run opens its own transaction; on SQLite ours would hold the write lock.
    db.session.commit()
    try:
        result = dry_run_step(
            current_app.extensions["database"], current_app.extensions["settings"], step_id
        )
    except NotImplementedError as exc:
        raise ApiProblem(409, f"A dry run is not possible for this step yet: {exc}.") from None
    return json_response(
        DryRunSchema(),
        {
            "total": result.total,
            "by_status": dict(result.by_status),
            "by_reason": dict(result.by_reason),
        },
        etag=False,
    )


# --- the report ----------------------------------------------------------------------------


@blp.route("/<id:campaign_id>/report", methods=["GET"])
@api_access(*STAFF)
@blp.response(200, ReportSchema)
def report(campaign_id: int):
    """Event counts (sent, open, click, bounce, unsubscribe, failed...) in total, by step,
    by channel, by segment and over time (days or weeks in the campaign's timezone)."""
    campaign = _campaign_or_404(campaign_id)
    data = campaign_report(db.session, campaign, campaign.timezone)
    return json_response(
        ReportSchema(),
        {
            "campaign_id": campaign.id,
            "timezone": data.timezone,
            "bucket": data.bucket,
            "totals": data.totals,
            "by_step": data.by_step,
            "by_channel": data.by_channel,
            "by_segment": data.by_segment,
            "over_time": data.over_time,
        },
    )
