"""The dashboard, the navigation, and the sections that later work fills in."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, redirect, render_template, url_for
from flask_login import current_user

from campaign_manager.core.accounts import Role
from campaign_manager.core.db import utcnow
from campaign_manager.extensions import db
from campaign_manager.web.authz import EVERYONE, can, requires_role
from campaign_manager.web.counts import counts_cache
from schedulers.progress import workspace_overview

bp = Blueprint("main", __name__)


@dataclass(frozen=True)
class NavItem:
    label: str
    endpoint: str

    def is_current(self, endpoint: str | None) -> bool:
        """The current page is this entry, or belongs to the blueprint this entry opens."""
        if endpoint is None:
            return False
        blueprint = self.endpoint.partition(".")[0]
        return endpoint == self.endpoint or (
            blueprint != "main" and endpoint.partition(".")[0] == blueprint
        )


NAV = (
    NavItem("Dashboard", "main.dashboard"),
    NavItem("Audiences", "audiences.contacts"),
    NavItem("Creatives", "creatives.index"),
    NavItem("Campaigns", "campaigns.index"),
    NavItem("Calendar", "calendar.index"),
    NavItem("Deliveries", "deliveries.index"),
    NavItem("Channels", "channels.index"),
    NavItem("Print jobs", "print_jobs.index"),
    NavItem("Settings", "settings.index"),
)


def nav_items() -> list[NavItem]:
    """The navigation entries the current user may open: nobody is shown a door that says 403."""
    if not current_user.is_authenticated:
        return []
    return [item for item in NAV if can(item.endpoint)]


@bp.route("/")
@requires_role(*EVERYONE)
def dashboard():
    if current_user.role is Role.VENDOR:
        return redirect(url_for("print_jobs.index"))
    # The same for every user, so one count serves everyone for a few seconds.
    counted = counts_cache().get(
        "dashboard", lambda: workspace_overview(db.session, utcnow()), refresh_in_background=True
    )
    return render_template(
        "main/dashboard.html", overview=counted.value, counted_as_of=counted.as_of
    )
