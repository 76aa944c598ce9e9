"""Campaigns: the list, the set-up wizard, the campaign page (live progress, approvals,
pause/resume/cancel, steps and their dry runs) and the report."""

from __future__ import annotations

import functools
import zoneinfo
from collections.abc import Callable
from datetime import datetime
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from wtforms import (
    BooleanField,
    DateField,
    IntegerField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length, NumberRange, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from campaign_manager.campaigns import catalog, wizard
from campaign_manager.campaigns.editing import (
    UTM_KEYS,
    CampaignError,
    CampaignInput,
    StepInput,
    TriggerInput,
    add_step,
    approve_campaign,
    campaign_problems,
    create_campaign,
    remove_step,
    step_has_deliveries,
    step_input_of,
    submit_for_review,
    update_campaign,
    update_step,
)
from campaign_manager.campaigns.models import (
    Campaign,
    CampaignStatus,
    DeliveryStatus,
    Step,
    TriggerKind,
)
from campaign_manager.campaigns.reports import campaign_report
from campaign_manager.campaigns.targets import TargetInput, describe_target, is_sandbox
from campaign_manager.campaigns.timing import zone
from campaign_manager.campaigns.wizard import Stage, StageErrors
from campaign_manager.campaigns.workflow import WorkflowError, transition
from campaign_manager.channels.base import ChannelKind
from campaign_manager.core.accounts import User, Vendor
from campaign_manager.core.db import utcnow
from campaign_manager.extensions import db
from campaign_manager.web.authz import APPROVERS, EDITORS, STAFF, requires_role
from campaign_manager.web.charts import Series, bar_chart
from campaign_manager.web.counts import Counted, counts_cache
from creatives.social_rules import Network
from schedulers.progress import CampaignProgress, campaign_progress, dry_run_step

bp = Blueprint("campaigns", __name__, url_prefix="/campaigns")

# Who may steer a campaign once it runs: the people who build it and those who approve it.
OPERATORS = (*EDITORS, *APPROVERS)
S = CampaignStatus
TERMINAL_STATES = (S.COMPLETED, S.CANCELLED)


class EmptyForm(FlaskForm):
    """A form with only the CSRF token, for action buttons."""


class CommentForm(FlaskForm):
    comment = TextAreaField("Comment", validators=[Optional(), Length(max=2000)])


@functools.cache
def timezone_choices() -> list[str]:
    """IANA zone names people pick from (Area/City, and UTC), without aliases like posix/."""
    names = zoneinfo.available_timezones()
    usable = {
        n for n in names if "/" in n and not n.startswith(("Etc/", "posix/", "right/", "SystemV/"))
    }
    return sorted(usable | {"UTC"})


@bp.app_template_filter("in_zone")
def in_zone(moment: datetime, tz_name: str) -> datetime:
    return moment.astimezone(zone(tz_name))


@bp.app_template_global("describe_target")
def describe_step_target(step: Step) -> str:
    return describe_target(step.channel_kind, step.target)


@bp.app_template_global("step_input")
def step_input(step: Step) -> StepInput:
    """A step as a person entered it (local dates and times), for templates."""
    return step_input_of(step)


def _user() -> User:
    return current_user._get_current_object()


def _campaign_or_404(campaign_id: int) -> Campaign:
    return db.session.get(Campaign, campaign_id) or abort(404)


def _step_or_404(campaign: Campaign, step_id: int) -> Step:
    step = db.session.get(Step, step_id)
    if step is None or step.campaign_id != campaign.id:
        abort(404)
    return step


def _show_error(form: FlaskForm, error: CampaignError) -> None:
    """Put a service's error on the field it names, or at the top of the page."""
    target = form._fields.get(error.field) if error.field else None
    if target is None:
        flash(str(error), "error")
    else:
        target.errors = [*target.errors, str(error)]


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


# --- forms ------------------------------------------------------------------------------------


def _utm_fields(cls: type) -> None:
    """One optional field per UTM parameter, named as the parameter."""
    for key in UTM_KEYS:
        setattr(cls, key, StringField(key, validators=[Optional(), Length(max=100)]))


class CampaignForm(FlaskForm):
    name = StringField("Name", validators=[Length(max=200)])
    goal = TextAreaField("Goal", validators=[Optional(), Length(max=5000)])
    timezone = SelectField("Timezone", default="America/New_York")
    frequency_cap = IntegerField(
        "Frequency cap (messages per contact per 7 days)",
        validators=[Optional(), NumberRange(min=1, max=100, message="Enter 1 to 100.")],
    )
    open_tracking = BooleanField("Track email opens (never for minors)")
    sender_name = StringField("Sender name", validators=[Optional(), Length(max=200)])
    sender_address = StringField("Sender address", validators=[Optional(), Length(max=320)])
    reply_to = StringField("Reply-to address", validators=[Optional(), Length(max=320)])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.timezone.choices = [SelectChoice(name) for name in timezone_choices()]

    def to_input(self) -> CampaignInput:
        return CampaignInput(
            name=self.name.data or "",
            goal=self.goal.data or "",
            timezone=self.timezone.data or "",
            utm={key: self[key].data or "" for key in UTM_KEYS},
            frequency_cap=self.frequency_cap.data,
            open_tracking=bool(self.open_tracking.data),
            sender_name=self.sender_name.data or "",
            sender_address=self.sender_address.data or "",
            reply_to=self.reply_to.data or "",
        )


_utm_fields(CampaignForm)


def campaign_form_data(campaign: Campaign) -> dict[str, Any]:
    return {
        "name": campaign.name,
        "goal": campaign.goal,
        "timezone": campaign.timezone,
        "frequency_cap": campaign.frequency_cap,
        "open_tracking": campaign.open_tracking,
        "sender_name": campaign.sender_name,
        "sender_address": campaign.sender_address,
        "reply_to": campaign.reply_to,
        **{key: (campaign.utm or {}).get(key, "") for key in UTM_KEYS},
    }


TRIGGER_CHOICES = [
    SelectChoice(TriggerKind.AT.value, "Once, at a date and time"),
    SelectChoice(
        TriggerKind.LOCAL_TIME.value, "On a date, at a time in each recipient's own timezone"
    ),
    SelectChoice(TriggerKind.CRON.value, "Repeatedly, on a cron schedule"),
]


class TriggerFormMixin:
    """The fields of a trigger; `to_trigger` turns them into a TriggerInput."""

    trigger = RadioField("When", choices=TRIGGER_CHOICES, default=TriggerKind.AT.value)
    on_date = DateField("Date", validators=[Optional()])
    clock = StringField("Time (HH:MM, 24-hour)", validators=[Optional(), Length(max=5)])
    timezone = SelectField("Timezone")
    cron = StringField(
        "Cron expression (minute hour day month weekday)",
        validators=[Optional(), Length(max=120)],
    )
    ends_on = DateField("Last day (optional)", validators=[Optional()])

    def to_trigger(self) -> TriggerInput:
        return TriggerInput(
            kind=TriggerKind(self.trigger.data or TriggerKind.AT.value),
            timezone=self.timezone.data or "",
            on_date=self.on_date.data,
            clock=self.clock.data or "",
            cron=self.cron.data or "",
            ends_on=self.ends_on.data,
        )

    def utm_values(self) -> dict[str, str]:
        return {key: self[key].data or "" for key in UTM_KEYS}


class TargetFormMixin:
    """The target fields of social, web and print steps; `to_target` reads them."""

    network = SelectField("Network (sandbox social accounts)")
    slug = StringField("Page address (web steps)", validators=[Optional(), Length(max=200)])
    vendor_id = SelectField("Print vendor", coerce=_int_or_none)
    quantity = IntegerField(
        "Copies of each variant",
        validators=[Optional(), NumberRange(min=1, max=1_000_000, message="Enter 1 or more.")],
    )
    paper_stock = StringField("Paper stock", validators=[Optional(), Length(max=200)])
    due_date = DateField("Due at the vendor by", validators=[Optional()])
    finishing = StringField("Finishing (optional)", validators=[Optional(), Length(max=300)])
    ship_to = SelectField(
        "Ship to",
        choices=[
            SelectChoice("school", "Each school (the partner's address)"),
            SelectChoice("vendor", "The vendor"),
        ],
        default="school",
    )
    variants = StringField(
        "Co-brand partners to print (optional)", validators=[Optional(), Length(max=2000)]
    )

    def setup_target_choices(self) -> None:
        self.network.choices = [SelectChoice("", "Choose a network")] + [
            SelectChoice(n.value) for n in Network
        ]
        self.vendor_id.choices = [SelectChoice("", "Choose a vendor")] + [
            SelectChoice(v.id, v.name)
            for v in db.session.scalars(select(Vendor).order_by(Vendor.name))
        ]

    def to_target(self) -> TargetInput:
        return TargetInput(
            network=self.network.data or "",
            slug=self.slug.data or "",
            vendor_id=self.vendor_id.data,
            quantity=self.quantity.data,
            paper_stock=self.paper_stock.data or "",
            due_date=self.due_date.data,
            finishing=self.finishing.data or "",
            ship_to=self.ship_to.data or "school",
            variants=self.variants.data or "",
        )


def target_form_data(target: TargetInput) -> dict[str, Any]:
    return {
        "network": target.network,
        "slug": target.slug,
        "vendor_id": target.vendor_id,
        "quantity": target.quantity,
        "paper_stock": target.paper_stock,
        "due_date": target.due_date,
        "finishing": target.finishing,
        "ship_to": target.ship_to,
        "variants": target.variants,
    }


def trigger_form_data(data: StepInput) -> dict[str, Any]:
    trigger = data.trigger
    return {
        "name": data.name,
        "trigger": trigger.kind.value,
        "on_date": trigger.on_date,
        "clock": trigger.clock,
        "timezone": trigger.timezone,
        "cron": trigger.cron,
        "ends_on": trigger.ends_on,
        **{key: data.utm.get(key, "") for key in UTM_KEYS},
        **target_form_data(data.target),
    }


class ScheduleEntryForm(TriggerFormMixin, TargetFormMixin, FlaskForm):
    """One planned step on the wizard's schedule stage (a sub-form, without its own CSRF)."""

    name = StringField("Step name", validators=[Optional(), Length(max=200)])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.timezone.choices = [SelectChoice(name) for name in timezone_choices()]
        self.setup_target_choices()


_utm_fields(ScheduleEntryForm)


class StepForm(TriggerFormMixin, TargetFormMixin, FlaskForm):
    name = StringField("Step name", validators=[Length(max=200)])
    channel_account_id = SelectField("Channel account", coerce=_int_or_none)
    creative_id = SelectField("Creative", coerce=_int_or_none)
    segment_id = SelectField("Segment (email steps)", coerce=_int_or_none)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.timezone.choices = [SelectChoice(name) for name in timezone_choices()]
        self.setup_target_choices()
        session = db.session
        accounts = catalog.account_choices(session)
        self.channel_account_id.choices = [SelectChoice("", "Choose an account")] + [
            SelectChoice(a.id, a.label, optgroup=a.kind.value if a.kind else "not installed")
            for a in accounts
            if a.is_usable or a.id == self.channel_account_id.data
        ]
        self.creative_id.choices = [SelectChoice("", "Choose a creative")] + [
            SelectChoice(c.id, c.label, optgroup=kind.value)
            for kind in ChannelKind
            for c in catalog.creative_choices(session, kind)
        ]
        self.segment_id.choices = [SelectChoice("", "No segment")] + [
            SelectChoice(s.id, s.label) for s in catalog.segment_choices(session)
        ]

    def to_input(self) -> StepInput:
        return StepInput(
            name=self.name.data or "",
            channel_account_id=self.channel_account_id.data,
            creative_id=self.creative_id.data,
            segment_id=self.segment_id.data,
            target=self.to_target(),
            trigger=self.to_trigger(),
            utm=self.utm_values(),
        )


_utm_fields(StepForm)


def step_form_data(data: StepInput) -> dict[str, Any]:
    return {
        **trigger_form_data(data),
        "channel_account_id": data.channel_account_id,
        "creative_id": data.creative_id,
        "segment_id": data.segment_id,
    }


# --- list -------------------------------------------------------------------------------------


@bp.route("/")
@requires_role(*STAFF)
def index():
    status = request.args.get("status", "")
    query = (
        select(Campaign)
        .options(selectinload(Campaign.steps))
        .order_by(Campaign.updated_at.desc(), Campaign.id.desc())
    )
    if status in {s.value for s in CampaignStatus}:
        query = query.where(Campaign.status == CampaignStatus(status))
    campaigns = list(db.session.scalars(query))
    return render_template(
        "campaigns/index.html",
        campaigns=campaigns,
        statuses=list(CampaignStatus),
        status=status,
    )


# --- the wizard -------------------------------------------------------------------------------


def _wizard_context(campaign: Campaign | None, stage: Stage) -> dict[str, Any]:
    session = db.session
    return {
        "campaign": campaign,
        "stage": stage,
        "stages": [
            {
                "stage": s,
                "done": wizard.stage_done(session, campaign, s),
                "open": campaign is not None and wizard.may_open(session, campaign, s),
            }
            for s in wizard.STAGES
        ],
    }


@bp.route("/new", methods=["GET", "POST"])
@requires_role(*EDITORS)
def new_campaign():
    form = CampaignForm()
    if form.validate_on_submit():
        try:
            campaign = create_campaign(db.session, form.to_input(), _user())
        except CampaignError as exc:
            _show_error(form, exc)
        else:
            db.session.commit()
            flash(f"Draft campaign {campaign.name} saved. Now choose who it reaches.", "success")
            return redirect(
                url_for("campaigns.wizard_stage", campaign_id=campaign.id, stage="audience")
            )
    status = 400 if form.is_submitted() else 200
    return render_template(
        "campaigns/wizard_details.html", form=form, **_wizard_context(None, Stage.DETAILS)
    ), status


@bp.route("/<int:campaign_id>/wizard")
@requires_role(*EDITORS)
def continue_setup(campaign_id: int):
    campaign = _campaign_or_404(campaign_id)
    if not wizard.is_wizard_editable(campaign):
        return redirect(url_for("campaigns.show", campaign_id=campaign.id))
    stage = wizard.resume_stage(db.session, campaign)
    return redirect(url_for("campaigns.wizard_stage", campaign_id=campaign.id, stage=stage.value))


WIZARD_VIEWS: dict[Stage, Callable[[Campaign], Any]] = {}


def _wizard_view(stage: Stage):
    def register(view: Callable[[Campaign], Any]):
        WIZARD_VIEWS[stage] = view
        return view

    return register


@bp.route("/<int:campaign_id>/wizard/<stage>", methods=["GET", "POST"])
@requires_role(*EDITORS)
def wizard_stage(campaign_id: int, stage: str):
    campaign = _campaign_or_404(campaign_id)
    try:
        current = Stage(stage)
    except ValueError:
        abort(404)
    if not wizard.is_wizard_editable(campaign):
        flash(
            "This campaign has been submitted; its steps are edited on its page "
            "(an approved campaign goes back to review when edited).",
            "info",
        )
        return redirect(url_for("campaigns.show", campaign_id=campaign.id))
    if not wizard.may_open(db.session, campaign, current):
        flash("Finish the earlier stages first.", "info")
        return redirect(url_for("campaigns.continue_setup", campaign_id=campaign.id))
    return WIZARD_VIEWS[current](campaign)


def _next_stage(campaign: Campaign, stage: Stage):
    following = wizard.STAGES[wizard.STAGES.index(stage) + 1]
    return redirect(
        url_for("campaigns.wizard_stage", campaign_id=campaign.id, stage=following.value)
    )


@_wizard_view(Stage.DETAILS)
def _details(campaign: Campaign):
    form = (
        CampaignForm(data=campaign_form_data(campaign))
        if request.method == "GET"
        else CampaignForm()
    )
    if form.validate_on_submit():
        try:
            update_campaign(db.session, campaign, form.to_input(), _user())
        except (CampaignError, WorkflowError) as exc:
            _show_error(form, exc if isinstance(exc, CampaignError) else CampaignError(str(exc)))
        else:
            db.session.commit()
            return _next_stage(campaign, Stage.DETAILS)
    status = 400 if form.is_submitted() else 200
    return render_template(
        "campaigns/wizard_details.html", form=form, **_wizard_context(campaign, Stage.DETAILS)
    ), status


def _checkbox_list(label: str) -> SelectMultipleField:
    return SelectMultipleField(
        label, coerce=int, widget=ListWidget(prefix_label=False), option_widget=CheckboxInput()
    )


def _audience_form(accounts: list[catalog.AccountChoice], segments, **kwargs):
    class AudienceForm(FlaskForm):
        segment_ids = _checkbox_list("Segments (who the email steps go to)")
        account_ids = _checkbox_list("Channel accounts to send through")

    form = AudienceForm(**kwargs)
    form.segment_ids.choices = [SelectChoice(s.id, s.label) for s in segments]
    form.account_ids.choices = [
        SelectChoice(a.id, f"{a.label} ({a.kind.value})") for a in accounts if a.is_usable
    ]
    return form


@_wizard_view(Stage.AUDIENCE)
def _audience(campaign: Campaign):
    session = db.session
    plan = dict(campaign.wizard or {})
    accounts = catalog.account_choices(session)
    segments = catalog.segment_choices(session)
    if request.method == "GET":
        form = _audience_form(
            accounts,
            segments,
            data={
                "segment_ids": plan.get("segment_ids", []),
                "account_ids": plan.get("account_ids", []),
            },
        )
    else:
        form = _audience_form(accounts, segments)
    if form.validate_on_submit():
        try:
            wizard.save_audience(
                session,
                campaign,
                _user(),
                segment_ids=form.segment_ids.data or [],
                account_ids=form.account_ids.data or [],
            )
        except StageErrors as exc:
            for name, message in exc.errors.items():
                if name in form:
                    form[name].errors = [*form[name].errors, str(message)]
                else:
                    flash(str(message), "error")
        except (CampaignError, WorkflowError) as exc:
            flash(str(exc), "error")
        else:
            session.commit()
            return _next_stage(campaign, Stage.AUDIENCE)
    status = 400 if form.is_submitted() else 200
    unusable = [a for a in accounts if not a.is_usable]
    return render_template(
        "campaigns/wizard_audience.html",
        form=form,
        unusable=unusable,
        **_wizard_context(campaign, Stage.AUDIENCE),
    ), status


@_wizard_view(Stage.CREATIVES)
def _creatives(campaign: Campaign):
    session = db.session
    plan = dict(campaign.wizard or {})
    chosen_ids = plan.get("account_ids") or []
    accounts = [a for a in catalog.account_choices(session) if a.id in chosen_ids and a.kind]

    class CreativesForm(FlaskForm):
        pass

    for account in accounts:
        setattr(
            CreativesForm,
            f"creative_{account.id}",
            SelectField(f"{account.label} ({account.kind.value})", coerce=_int_or_none),
        )
    chosen = {int(k): v for k, v in (plan.get("creatives") or {}).items()}
    form = (
        CreativesForm(data={f"creative_{a.id}": chosen.get(a.id) for a in accounts})
        if request.method == "GET"
        else CreativesForm()
    )
    options = {}
    for account in accounts:
        options[account.id] = catalog.creative_choices(session, account.kind)
        form[f"creative_{account.id}"].choices = [SelectChoice("", "Choose a creative")] + [
            SelectChoice(c.id, c.label) for c in options[account.id]
        ]
    if form.validate_on_submit():
        try:
            wizard.save_creatives(
                session,
                campaign,
                _user(),
                {a.id: form[f"creative_{a.id}"].data for a in accounts},
            )
        except StageErrors as exc:
            for name, message in exc.errors.items():
                if name in form:
                    form[name].errors = [*form[name].errors, str(message)]
                else:
                    flash(str(message), "error")
        except (CampaignError, WorkflowError) as exc:
            flash(str(exc), "error")
        else:
            session.commit()
            return _next_stage(campaign, Stage.CREATIVES)
    status = 400 if form.is_submitted() else 200
    return render_template(
        "campaigns/wizard_creatives.html",
        form=form,
        accounts=accounts,
        options=options,
        **_wizard_context(campaign, Stage.CREATIVES),
    ), status


@_wizard_view(Stage.SCHEDULE)
def _schedule(campaign: Campaign):
    session = db.session
    planned = wizard.planned_steps(session, campaign)
    existing = {s.id: s for s in campaign.steps}
    parent = EmptyForm()
    entries = []
    for index, item in enumerate(planned):
        prefix = f"p{index}"
        if request.method == "GET":
            current = existing.get(item.step_id)
            data = (
                trigger_form_data(step_input_of(current))
                if current
                else {"name": item.default_name, "timezone": campaign.timezone}
            )
            form = ScheduleEntryForm(prefix=prefix, data=data, meta={"csrf": False})
        else:
            form = ScheduleEntryForm(prefix=prefix, meta={"csrf": False})
        entries.append((item, form))
    if request.method == "POST" and parent.validate_on_submit():
        forms_valid = all(form.validate() for _, form in entries)
        if forms_valid:
            try:
                notes = wizard.save_schedule(
                    session,
                    campaign,
                    _user(),
                    {
                        item.key: wizard.ScheduledStep(
                            name=form.name.data or "",
                            trigger=form.to_trigger(),
                            utm=form.utm_values(),
                            target=form.to_target(),
                        )
                        for item, form in entries
                    },
                )
            except StageErrors as exc:
                by_key = {item.key: form for item, form in entries}
                for key, problems in exc.errors.items():
                    form = by_key.get(key)
                    for name, message in (problems if isinstance(problems, dict) else {}).items():
                        if form is not None and name in form:
                            form[name].errors = [*form[name].errors, message]
                        else:
                            flash(message, "error")
            except (CampaignError, WorkflowError) as exc:
                flash(str(exc), "error")
            else:
                session.commit()
                for note in notes:
                    flash(note, "info")
                return _next_stage(campaign, Stage.SCHEDULE)
    status = 400 if request.method == "POST" else 200
    return render_template(
        "campaigns/wizard_schedule.html",
        form=parent,
        entries=entries,
        sandbox_ids={item.account.id for item, _ in entries if is_sandbox(item.account.adapter)},
        **_wizard_context(campaign, Stage.SCHEDULE),
    ), status


@_wizard_view(Stage.REVIEW)
def _review(campaign: Campaign):
    form = CommentForm()
    if form.validate_on_submit():
        try:
            submit_for_review(db.session, campaign, _user(), form.comment.data or "")
        except (CampaignError, WorkflowError) as exc:
            flash(str(exc), "error")
        else:
            db.session.commit()
            flash("Submitted for approval. An approver will review it.", "success")
            return redirect(url_for("campaigns.show", campaign_id=campaign.id))
    status = 400 if form.is_submitted() else 200
    return render_template(
        "campaigns/wizard_review.html",
        form=form,
        problems=campaign_problems(db.session, campaign),
        notes=wizard.review_notes(db.session, campaign),
        steps=campaign.steps,
        names=_step_names(campaign),
        **_wizard_context(campaign, Stage.REVIEW),
    ), status


def _step_names(campaign: Campaign) -> dict[str, dict[int, str]]:
    """Labels of the accounts, creatives and segments the campaign's steps point at."""
    session = db.session
    accounts = {a.id: a.label for a in catalog.account_choices(session)}
    segments = {s.id: s.label for s in catalog.segment_choices(session)}
    creatives = {
        step.creative_id: (c.name if (c := catalog.get_creative(session, step.creative_id)) else "")
        for step in campaign.steps
    }
    return {"accounts": accounts, "segments": segments, "creatives": creatives}


# --- the campaign page ------------------------------------------------------------------------


def _counted_progress(campaign: Campaign) -> Counted[CampaignProgress]:
    """The campaign's progress: cached for a few seconds while it runs, exact otherwise.

    A running campaign's counts change with every batch the workers finish, and counting a
    million deliveries takes most of a second, so its page and poller share one count for
    `[server] counts_max_age_seconds`. Once it stops running (completed, cancelled, paused)
    its numbers are counted on every request: the poll that sees it finished, and the one
    that stops the poller, show the exact final numbers.
    """
    if campaign.status is not CampaignStatus.RUNNING:
        return Counted(campaign_progress(db.session, campaign), utcnow())
    return counts_cache().get(
        ("campaign progress", campaign.id), lambda: campaign_progress(db.session, campaign)
    )


@bp.route("/<int:campaign_id>")
@requires_role(*STAFF)
def show(campaign_id: int):
    campaign = _campaign_or_404(campaign_id)
    session = db.session
    people = {
        u.id: u
        for u in session.scalars(
            select(User).where(
                User.id.in_(
                    {t.user_id for t in campaign.transitions if t.user_id}
                    | {campaign.created_by_id or 0, campaign.approved_by_id or 0}
                )
            )
        )
    }
    counted = _counted_progress(campaign)
    return render_template(
        "campaigns/campaign.html",
        campaign=campaign,
        progress=counted.value,
        counted_as_of=counted.as_of,
        statuses=[s.value for s in DeliveryStatus],
        people=people,
        names=_step_names(campaign),
        comment_form=CommentForm(),
        action=EmptyForm(),
        wizard_editable=wizard.is_wizard_editable(campaign),
        tz=zone(campaign.timezone),
        terminal=campaign.status in TERMINAL_STATES,
    )


@bp.route("/<int:campaign_id>/progress.json")
@requires_role(*STAFF)
def progress(campaign_id: int):
    campaign = _campaign_or_404(campaign_id)
    counted = _counted_progress(campaign)
    response = jsonify({**counted.value.as_json(), "counted_at": counted.as_of})
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/<int:campaign_id>/edit", methods=["GET", "POST"])
@requires_role(*EDITORS)
def edit(campaign_id: int):
    campaign = _campaign_or_404(campaign_id)
    form = (
        CampaignForm(data=campaign_form_data(campaign))
        if request.method == "GET"
        else CampaignForm()
    )
    if form.validate_on_submit():
        try:
            update_campaign(db.session, campaign, form.to_input(), _user())
        except CampaignError as exc:
            _show_error(form, exc)
        except WorkflowError as exc:
            flash(str(exc), "error")
        else:
            db.session.commit()
            flash("Campaign saved.", "success")
            return redirect(url_for("campaigns.show", campaign_id=campaign.id))
    status = 400 if form.is_submitted() else 200
    return render_template("campaigns/campaign_form.html", form=form, campaign=campaign), status


# --- steps ------------------------------------------------------------------------------------


def _flash_notes(notes: list[str]) -> None:
    for note in notes:
        flash(note, "info")


@bp.route("/<int:campaign_id>/steps/new", methods=["GET", "POST"])
@requires_role(*EDITORS)
def new_step(campaign_id: int):
    campaign = _campaign_or_404(campaign_id)
    form = StepForm(data={"timezone": campaign.timezone}) if request.method == "GET" else StepForm()
    if form.validate_on_submit():
        try:
            step, notes = add_step(db.session, campaign, form.to_input(), _user())
        except CampaignError as exc:
            _show_error(form, exc)
        except WorkflowError as exc:
            flash(str(exc), "error")
        else:
            db.session.commit()
            flash(f"Step {step.name} added.", "success")
            _flash_notes(notes)
            return redirect(url_for("campaigns.show", campaign_id=campaign.id))
    status = 400 if form.is_submitted() else 200
    return render_template(
        "campaigns/step_form.html", form=form, campaign=campaign, step=None
    ), status


@bp.route("/<int:campaign_id>/steps/<int:step_id>/edit", methods=["GET", "POST"])
@requires_role(*EDITORS)
def edit_step(campaign_id: int, step_id: int):
    campaign = _campaign_or_404(campaign_id)
    step = _step_or_404(campaign, step_id)
    form = (
        StepForm(data=step_form_data(step_input_of(step)))
        if request.method == "GET"
        else StepForm()
    )
    if form.validate_on_submit():
        try:
            notes = update_step(db.session, step, form.to_input(), _user())
        except CampaignError as exc:
            _show_error(form, exc)
        except WorkflowError as exc:
            flash(str(exc), "error")
        else:
            db.session.commit()
            flash(f"Step {step.name} saved.", "success")
            _flash_notes(notes)
            return redirect(url_for("campaigns.show", campaign_id=campaign.id))
    status = 400 if form.is_submitted() else 200
    return render_template(
        "campaigns/step_form.html", form=form, campaign=campaign, step=step
    ), status


@bp.route("/<int:campaign_id>/steps/<int:step_id>/remove", methods=["GET", "POST"])
@requires_role(*EDITORS)
def remove_step_view(campaign_id: int, step_id: int):
    campaign = _campaign_or_404(campaign_id)
    step = _step_or_404(campaign, step_id)
    form = EmptyForm()
    if form.validate_on_submit():
        try:
            remove_step(db.session, step, _user())
        except (CampaignError, WorkflowError) as exc:
            flash(str(exc), "error")
        else:
            db.session.commit()
            flash(f"Step {step.name} removed.", "success")
        return redirect(url_for("campaigns.show", campaign_id=campaign.id))
    return render_template(
        "campaigns/confirm.html",
        form=form,
        title=f"Remove the step {step.name}?",
        explanation=(
            "It has already made deliveries and cannot be removed."
            if step_has_deliveries(db.session, step)
            else "The step is deleted. An approved campaign goes back to review."
        ),
        confirm_label="Remove the step",
        back=url_for("campaigns.show", campaign_id=campaign.id),
        danger=True,
    )


@bp.route("/<int:campaign_id>/steps/<int:step_id>/dry-run")
@requires_role(*OPERATORS)
def dry_run(campaign_id: int, step_id: int):
    campaign = _campaign_or_404(campaign_id)
    step = _step_or_404(campaign, step_id)
    names = _step_names(campaign)
    # The dry run opens its own transaction; on SQLite ours would hold the write lock.
    db.session.commit()
    settings = current_app.extensions["settings"]
    try:
        result = dry_run_step(current_app.extensions["database"], settings, step.id)
        problem = None
    except NotImplementedError as exc:
        result, problem = None, f"A dry run is not possible for this step yet: {exc}."
    return render_template(
        "campaigns/dry_run.html",
        campaign=campaign,
        step=step,
        result=result,
        problem=problem,
        names=names,
    )


# --- the workflow -----------------------------------------------------------------------------


def _transition(campaign_id: int, to: CampaignStatus, done: str):
    campaign = _campaign_or_404(campaign_id)
    form = CommentForm()
    if not form.validate_on_submit():
        flash("The form expired; please try again.", "error")
        return redirect(url_for("campaigns.show", campaign_id=campaign.id))
    try:
        if to is S.IN_REVIEW:
            submit_for_review(db.session, campaign, _user(), form.comment.data or "")
        elif to is S.APPROVED:
            approve_campaign(db.session, campaign, _user(), form.comment.data or "")
        else:
            transition(db.session, campaign, to, _user(), form.comment.data or "")
    except (CampaignError, WorkflowError) as exc:
        flash(str(exc), "error")
    else:
        db.session.commit()
        flash(done, "success")
    return redirect(url_for("campaigns.show", campaign_id=campaign.id))


@bp.route("/<int:campaign_id>/submit", methods=["POST"])
@requires_role(*EDITORS)
def submit(campaign_id: int):
    return _transition(campaign_id, S.IN_REVIEW, "Submitted for approval.")


@bp.route("/<int:campaign_id>/approve", methods=["POST"])
@requires_role(*APPROVERS)
def approve(campaign_id: int):
    return _transition(campaign_id, S.APPROVED, "Approved: its steps are scheduled.")


@bp.route("/<int:campaign_id>/send-back", methods=["POST"])
@requires_role(*OPERATORS)
def send_back(campaign_id: int):
    return _transition(campaign_id, S.DRAFT, "Sent back to draft.")


@bp.route("/<int:campaign_id>/pause", methods=["POST"])
@requires_role(*OPERATORS)
def pause(campaign_id: int):
    return _transition(campaign_id, S.PAUSED, "Paused: nothing more is sent until it resumes.")


@bp.route("/<int:campaign_id>/resume", methods=["POST"])
@requires_role(*OPERATORS)
def resume_sending(campaign_id: int):
    return _transition(campaign_id, S.RUNNING, "Resumed.")


@bp.route("/<int:campaign_id>/cancel", methods=["GET", "POST"])
@requires_role(*OPERATORS)
def cancel(campaign_id: int):
    campaign = _campaign_or_404(campaign_id)
    if request.method == "POST":
        return _transition(
            campaign_id,
            S.CANCELLED,
            "Cancelled. Messages not yet handed to a provider will not be sent.",
        )
    progress = campaign_progress(db.session, campaign)
    return render_template(
        "campaigns/cancel.html",
        campaign=campaign,
        progress=progress,
        form=CommentForm(),
    )


# --- the report -------------------------------------------------------------------------------

CHART_KINDS = ("sent", "open", "click", "bounce", "unsubscribe", "failed")


@bp.route("/<int:campaign_id>/report")
@requires_role(*STAFF)
def report(campaign_id: int):
    campaign = _campaign_or_404(campaign_id)
    data = campaign_report(db.session, campaign, campaign.timezone)
    over_time = bar_chart(
        chart_id="chart-over-time",
        title=f"Events per {data.bucket}",
        description=(
            f"Bars per {data.bucket} ({campaign.timezone}) of messages sent, opens, clicks, "
            "bounces, unsubscribes and failures. The same numbers are in the table below."
        ),
        categories=[row.label for row in data.over_time],
        series=[
            Series(kind, [row.counts.get(kind, 0) for row in data.over_time])
            for kind in CHART_KINDS
        ],
    )
    per_channel = bar_chart(
        chart_id="chart-per-channel",
        title="Events per channel",
        description=(
            "Bars per channel of messages sent, opens, clicks, bounces, unsubscribes and "
            "failures. The same numbers are in the table below."
        ),
        categories=[row.label for row in data.by_channel],
        series=[
            Series(kind, [row.counts.get(kind, 0) for row in data.by_channel])
            for kind in CHART_KINDS
        ],
    )
    return render_template(
        "campaigns/report.html",
        campaign=campaign,
        report=data,
        kinds=CHART_KINDS,
        over_time_chart=over_time,
        per_channel_chart=per_channel,
    )
