"""The calendar of every step on every channel, by month or week, in the viewer's chosen
timezone; and the iCalendar export of the same steps."""

from __future__ import annotations

import calendar as month_names
from datetime import date, timedelta

from flask import Blueprint, Response, current_app, render_template, request, session, url_for
from sqlalchemy import select

from campaign_manager.campaigns.calendar import build_ics, calendar
from campaign_manager.campaigns.models import Campaign
from campaign_manager.campaigns.timing import TimingError, zone
from campaign_manager.channels.base import ChannelKind
from campaign_manager.core.db import utcnow
from campaign_manager.extensions import db
from campaign_manager.web.authz import STAFF, requires_role
from campaign_manager.web.campaigns import timezone_choices

bp = Blueprint("calendar", __name__, url_prefix="/calendar")

TIMEZONE_KEY = "calendar_timezone"
# The export's default window: a month back (recent history) and a year ahead.
EXPORT_DAYS_BACK = 31
EXPORT_DAYS_AHEAD = 366
MAX_EXPORT_DAYS = 3 * 366


def _viewer_timezone() -> str:
    """The timezone asked for, else the one chosen before, else the default."""
    asked = request.args.get("tz", "").strip()
    if asked:
        try:
            zone(asked)
        except TimingError:
            asked = ""
        else:
            session[TIMEZONE_KEY] = asked
            return asked
    return session.get(TIMEZONE_KEY) or current_app.extensions["settings"].delivery.default_timezone


def _date_arg(name: str, default: date) -> date:
    try:
        return date.fromisoformat(request.args.get(name, "").strip())
    except ValueError:
        return default


def _int_arg(name: str) -> int | None:
    value = request.args.get(name, "").strip()
    return int(value) if value.isdigit() else None


@bp.route("/")
@requires_role(*STAFF)
def index():
    tz_name = _viewer_timezone()
    today = utcnow().astimezone(zone(tz_name)).date()
    shown = _date_arg("date", today)
    view = "week" if request.args.get("view") == "week" else "month"
    campaign_id = _int_arg("campaign")
    channel = request.args.get("channel", "")
    if channel not in {k.value for k in ChannelKind}:
        channel = ""
    if view == "week":
        first = shown - timedelta(days=shown.weekday())
        last = first + timedelta(days=6)
        previous, following = first - timedelta(days=7), first + timedelta(days=7)
        heading = f"Week of {first:%-d %B %Y}"
    else:
        month_start = shown.replace(day=1)
        month_end = month_start.replace(
            day=month_names.monthrange(month_start.year, month_start.month)[1]
        )
        first = month_start - timedelta(days=month_start.weekday())
        last = month_end + timedelta(days=6 - month_end.weekday())
        previous = (month_start - timedelta(days=1)).replace(day=1)
        following = month_end + timedelta(days=1)
        heading = f"{month_start:%B %Y}"
    found = calendar(
        db.session, first, last, tz_name, campaign_id=campaign_id, channel_kind=channel or None
    )
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    weeks = [days[i : i + 7] for i in range(0, len(days), 7)]
    filters = {"view": view, "tz": tz_name, "campaign": campaign_id or "", "channel": channel}
    return render_template(
        "campaigns/calendar.html",
        title="Calendar",
        view=view,
        heading=heading,
        shown=shown,
        today=today,
        weeks=weeks,
        calendar=found,
        tz_name=tz_name,
        timezones=timezone_choices(),
        campaigns=list(db.session.scalars(select(Campaign).order_by(Campaign.name))),
        channels=list(ChannelKind),
        campaign_id=campaign_id,
        channel=channel,
        previous_url=url_for("calendar.index", **{**filters, "date": previous.isoformat()}),
        next_url=url_for("calendar.index", **{**filters, "date": following.isoformat()}),
        today_url=url_for("calendar.index", **filters),
        other_view_url=url_for(
            "calendar.index",
            **{**filters, "view": "month" if view == "week" else "week", "date": shown.isoformat()},
        ),
        export_url=url_for("calendar.export", campaign=campaign_id or ""),
        month_name=month_names.month_name,
    )


@bp.route("/export.ics")
@requires_role(*STAFF)
def export():
    return ics_response()


def ics_response() -> Response:
    """The iCalendar file of the steps between the query's `from` and `to` dates (a month
    back and a year ahead by default), of one `campaign` or all. The subscription feed
    (api/calendar_feed.py) answers with the same."""
    today = utcnow().date()
    first = _date_arg("from", today - timedelta(days=EXPORT_DAYS_BACK))
    last = _date_arg("to", today + timedelta(days=EXPORT_DAYS_AHEAD))
    if last < first:
        first, last = last, first
    last = min(last, first + timedelta(days=MAX_EXPORT_DAYS))
    settings = current_app.extensions["settings"]
    base_url = settings.app.base_url.rstrip("/")
    text = build_ics(
        db.session,
        first_day=first,
        last_day=last,
        campaign_id=_int_arg("campaign"),
        base_url=base_url,
        calendar_name=f"{settings.app.organization_name} campaigns",
        campaign_url=lambda campaign_id: (
            base_url + url_for("campaigns.show", campaign_id=campaign_id)
        ),
    )
    return Response(
        text,
        mimetype="text/calendar",
        headers={
            "Content-Disposition": 'attachment; filename="campaigns.ics"',
            "Cache-Control": "no-store",
        },
    )
