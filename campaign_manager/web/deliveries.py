"""The delivery log with its filters, and the queues that wait for a person: uncertain
deliveries (did it arrive?) and failed ones, with retry and mark-sent actions."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from sqlalchemy import select

from campaign_manager.campaigns.deliveries import (
    DeliveryFilter,
    delivery_page,
    queue_counts,
    resolution_problem,
)
from campaign_manager.campaigns.models import Campaign, Delivery, DeliveryStatus, Step
from campaign_manager.campaigns.timing import local_to_utc, zone
from campaign_manager.channels.base import ChannelKind
from campaign_manager.extensions import db
from campaign_manager.web.authz import APPROVERS, EDITORS, STAFF, requires_role
from schedulers.outbox import resolve_uncertain

bp = Blueprint("deliveries", __name__, url_prefix="/deliveries")

OPERATORS = (*EDITORS, *APPROVERS)
QUEUES = {
    "uncertain": (
        DeliveryStatus.UNCERTAIN,
        "Uncertain deliveries",
        "A worker stopped while handing these to the provider. Check in the provider's "
        "console (or the recipient's inbox) whether each arrived: mark it sent if it did, "
        "retry it if it did not.",
    ),
    "failed": (
        DeliveryStatus.FAILED,
        "Failed deliveries",
        "The provider refused these, or every attempt failed. Fix the cause (the error "
        "says what it was), then retry.",
    ),
}


class EmptyForm(FlaskForm):
    """A form with only the CSRF token, for action buttons."""


def _int_arg(name: str) -> int | None:
    value = request.args.get(name, "").strip()
    return int(value) if value.isdigit() else None


def _date_arg(name: str) -> date | None:
    try:
        return date.fromisoformat(request.args.get(name, "").strip())
    except ValueError:
        return None


def _viewer_timezone() -> str:
    return current_app.extensions["settings"].delivery.default_timezone


def _filters(status: DeliveryStatus | None = None) -> tuple[DeliveryFilter, dict]:
    """The filters from the query string, and their values to show back in the form."""
    tz = zone(_viewer_timezone())
    status_arg = request.args.get("status", "")
    if status is None and status_arg in {s.value for s in DeliveryStatus}:
        status = DeliveryStatus(status_arg)
    since_day, until_day = _date_arg("from"), _date_arg("to")
    channel = request.args.get("channel", "")
    if channel not in {k.value for k in ChannelKind}:
        channel = ""
    filters = DeliveryFilter(
        campaign_id=_int_arg("campaign"),
        step_id=_int_arg("step"),
        status=status,
        channel_kind=channel,
        since=local_to_utc(datetime.combine(since_day, time(0)), tz) if since_day else None,
        until=(
            local_to_utc(datetime.combine(until_day + timedelta(days=1), time(0)), tz)
            if until_day
            else None
        ),
        recipient=request.args.get("q", "")[:200],
    )
    shown = {
        "campaign": filters.campaign_id,
        "step": filters.step_id,
        "status": status.value if status else "",
        "channel": channel,
        "from": since_day.isoformat() if since_day else "",
        "to": until_day.isoformat() if until_day else "",
        "q": filters.recipient,
    }
    return filters, shown


def _render_log(status: DeliveryStatus | None, queue: str | None):
    filters, shown = _filters(status)
    page = delivery_page(db.session, filters, before=_int_arg("before"), after=_int_arg("after"))
    campaigns = list(db.session.scalars(select(Campaign).order_by(Campaign.name)))
    steps = (
        list(
            db.session.scalars(
                select(Step).where(Step.campaign_id == filters.campaign_id).order_by(Step.position)
            )
        )
        if filters.campaign_id
        else []
    )
    title, explanation = (QUEUES[queue][1], QUEUES[queue][2]) if queue else ("Deliveries", "")
    query = {k: v for k, v in shown.items() if v not in ("", None)}
    if queue:
        query.pop("status", None)
    return render_template(
        "campaigns/deliveries.html",
        title=title,
        explanation=explanation,
        queue=queue,
        page=page,
        shown=shown,
        query=query,
        campaigns=campaigns,
        steps=steps,
        statuses=list(DeliveryStatus),
        channels=list(ChannelKind),
        counts=queue_counts(db.session),
        timezone=_viewer_timezone(),
        tz=zone(_viewer_timezone()),
        endpoint=request.endpoint,
    )


@bp.route("/")
@requires_role(*STAFF)
def index():
    return _render_log(None, None)


@bp.route("/uncertain")
@requires_role(*STAFF)
def uncertain():
    return _render_log(DeliveryStatus.UNCERTAIN, "uncertain")


@bp.route("/failed")
@requires_role(*STAFF)
def failed():
    return _render_log(DeliveryStatus.FAILED, "failed")


def _resolve(delivery_id: int, *, mark_sent: bool):
    delivery = db.session.get(Delivery, delivery_id) or abort(404)
    queue = delivery.status.value if delivery.status.value in QUEUES else "failed"
    back = request.args.get("next", "")
    back = back if back.startswith("/deliveries") else url_for(f"deliveries.{queue}")
    problem = resolution_problem(delivery, mark_sent=mark_sent)
    form = EmptyForm()
    if form.validate_on_submit():
        if problem:
            flash(problem, "error")
            return redirect(back)
        resolve_uncertain(db.session, delivery.id, mark_sent=mark_sent)
        db.session.commit()
        flash(
            f"Delivery {delivery.id} marked as sent."
            if mark_sent
            else f"Delivery {delivery.id} will be sent again shortly.",
            "success",
        )
        return redirect(back)
    return render_template(
        "campaigns/resolve.html",
        delivery=delivery,
        mark_sent=mark_sent,
        problem=problem,
        form=form,
        back=back,
    )


@bp.route("/<int:delivery_id>/retry", methods=["GET", "POST"])
@requires_role(*OPERATORS)
def retry(delivery_id: int):
    return _resolve(delivery_id, mark_sent=False)


@bp.route("/<int:delivery_id>/mark-sent", methods=["GET", "POST"])
@requires_role(*OPERATORS)
def mark_sent(delivery_id: int):
    return _resolve(delivery_id, mark_sent=True)
