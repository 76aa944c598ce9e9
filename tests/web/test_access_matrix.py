"""Every route by every role: 200/302 where allowed, 403 where not, login redirect when anonymous.

The routes come from the app's URL map (see route_walk.py), so a new route is covered the
day it is added.
"""

import pytest
from flask import Flask

from campaign_manager.core.accounts import Role
from campaign_manager.web.authz import PUBLIC, allowed_roles_of
from tests.web import route_walk
from tests.web.route_walk import build_url, routes

samples = route_walk.samples  # the fixture, shared with tests/reliability

# Part of the reliability and security suite (python -m pytest -m reliability).
pytestmark = pytest.mark.reliability

ANONYMOUS = "anonymous"


# Decisions that must hold whatever the decorators say, written out by hand so the matrix
# is checked against intent and not only against itself.
MUST_BE_FORBIDDEN = {
    ("outgoing_webhooks.index", Role.MARKETER),
    ("outgoing_webhooks.index", Role.VIEWER),
    ("outgoing_webhooks.show", Role.APPROVER),
    ("outgoing_webhooks.new", Role.MARKETER),
    ("outgoing_webhooks.send_test", Role.MARKETER),
    ("outgoing_webhooks.redeliver_event", Role.VENDOR),
    ("settings.users", Role.MARKETER),
    ("settings.users", Role.VIEWER),
    ("settings.users", Role.APPROVER),
    ("settings.users", Role.VENDOR),
    ("settings.vendors", Role.MARKETER),
    ("settings.vendors", Role.VENDOR),
    ("settings.create_organization", Role.VIEWER),
    ("settings.create_organization", Role.APPROVER),
    ("settings.create_organization", Role.VENDOR),
    ("audiences.contacts", Role.VENDOR),
    ("audiences.contact", Role.VENDOR),
    ("audiences.erase", Role.MARKETER),
    ("audiences.erase", Role.VIEWER),
    ("audiences.upload_import", Role.VIEWER),
    ("audiences.upload_import", Role.APPROVER),
    ("audiences.new_segment", Role.VIEWER),
    ("audiences.preview_segment", Role.VIEWER),
    ("audiences.export_contacts", Role.VIEWER),
    ("audiences.privacy_export", Role.VIEWER),
    ("audiences.add_suppression", Role.VIEWER),
    ("campaigns.index", Role.VENDOR),
    ("campaigns.show", Role.VENDOR),
    ("campaigns.progress", Role.VENDOR),
    ("campaigns.new_campaign", Role.VIEWER),
    ("campaigns.new_campaign", Role.APPROVER),
    ("campaigns.wizard_stage", Role.APPROVER),
    ("campaigns.edit_step", Role.VIEWER),
    ("campaigns.approve", Role.MARKETER),
    ("campaigns.approve", Role.VIEWER),
    ("campaigns.pause", Role.VIEWER),
    ("campaigns.cancel", Role.VIEWER),
    ("campaigns.dry_run", Role.VIEWER),
    ("campaigns.report", Role.VENDOR),
    ("deliveries.index", Role.VENDOR),
    ("deliveries.retry", Role.VIEWER),
    ("deliveries.mark_sent", Role.VIEWER),
    ("deliveries.mark_sent", Role.VENDOR),
    ("calendar.index", Role.VENDOR),
    ("calendar.export", Role.VENDOR),
    ("channels.index", Role.VENDOR),
    ("channels.account", Role.VENDOR),
    ("channels.sandbox_record", Role.VENDOR),
    ("channels.new_account", Role.VIEWER),
    ("channels.new_account", Role.APPROVER),
    ("channels.edit_account", Role.VIEWER),
    ("channels.test_connection", Role.VIEWER),
    ("channels.disable_account", Role.APPROVER),
    ("channels.new_account", Role.VENDOR),
    ("creatives.index", Role.VENDOR),
    ("creatives.assets", Role.VENDOR),
    ("creatives.upload", Role.VIEWER),
    ("creatives.upload", Role.APPROVER),
    ("creatives.upload", Role.VENDOR),
    ("creatives.save", Role.VIEWER),
    ("creatives.save", Role.APPROVER),
    ("creatives.new", Role.VIEWER),
    ("creatives.publish", Role.APPROVER),
    ("creatives.live_preview", Role.VIEWER),
    ("creatives.print_pdf", Role.VENDOR),
    ("creatives.update_brand_kit", Role.VIEWER),
    ("print_jobs.accept", Role.VIEWER),
    ("print_jobs.accept", Role.MARKETER),
    ("print_jobs.reject", Role.APPROVER),
    ("print_jobs.printed", Role.MARKETER),
    ("print_jobs.shipped", Role.VIEWER),
}
MUST_BE_ALLOWED = {
    ("print_jobs.index", Role.VENDOR),
    ("print_jobs.index", Role.VIEWER),
    ("print_jobs.job", Role.VENDOR),
    ("print_jobs.job", Role.APPROVER),
    ("print_jobs.download", Role.VENDOR),
    ("print_jobs.download", Role.MARKETER),
    ("print_jobs.accept", Role.VENDOR),
    ("print_jobs.reject", Role.VENDOR),
    ("print_jobs.shipped", Role.VENDOR),
    ("settings.index", Role.VENDOR),
    ("settings.create_organization", Role.MARKETER),
    ("campaigns.index", Role.VIEWER),
    ("campaigns.show", Role.VIEWER),
    ("campaigns.progress", Role.VIEWER),
    ("campaigns.report", Role.VIEWER),
    ("campaigns.new_campaign", Role.MARKETER),
    ("campaigns.approve", Role.APPROVER),
    ("campaigns.send_back", Role.APPROVER),
    ("campaigns.pause", Role.APPROVER),
    ("campaigns.cancel", Role.MARKETER),
    ("campaigns.dry_run", Role.APPROVER),
    ("deliveries.failed", Role.VIEWER),
    ("deliveries.retry", Role.APPROVER),
    ("deliveries.mark_sent", Role.MARKETER),
    ("calendar.index", Role.VIEWER),
    ("calendar.export", Role.APPROVER),
    ("channels.index", Role.VIEWER),
    ("channels.account", Role.APPROVER),
    ("channels.sandbox_record", Role.VIEWER),
    ("channels.new_account", Role.MARKETER),
    ("channels.test_connection", Role.MARKETER),
    ("creatives.editor", Role.VIEWER),
    ("creatives.preview", Role.APPROVER),
    ("creatives.proof", Role.APPROVER),
    ("creatives.save", Role.MARKETER),
    ("creatives.upload", Role.MARKETER),
    ("public_pages.landing_page", Role.VENDOR),
    ("audiences.contacts", Role.VIEWER),
    ("audiences.segment", Role.APPROVER),
    ("audiences.upload_import", Role.MARKETER),
    ("audiences.preview_segment", Role.MARKETER),
    ("audiences.record_contact_consent", Role.MARKETER),
}


@pytest.mark.parametrize("who", [ANONYMOUS, *Role])
def test_every_route_for_every_role(app, samples, who):
    users = samples.users
    client = app.test_client()
    if who != ANONYMOUS:
        client.login(users[who.value].email)
    checked = 0
    for rule, method in routes(app):
        allowed = allowed_roles_of(app.view_functions[rule.endpoint])
        assert allowed is not None, f"{rule.endpoint} declares no access rule"
        url = build_url(app, rule, samples)
        if method == "GET":
            response = client.get(url)
        else:
            response = (
                client.post_form(url)
                if who != ANONYMOUS
                else client.post(url, data={"csrf_token": client.fetch_csrf_token("/login")})
            )
        status = response.status_code
        where = f"{method} {url} as {who}"
        assert status < 500, f"{where} gave {status}"
        if allowed == PUBLIC:
            pass
        elif who == ANONYMOUS:
            assert status == 302 and response.headers["Location"].startswith("/login"), (
                f"{where}: {status}"
            )
        elif who in allowed:
            assert (rule.endpoint, who) not in MUST_BE_FORBIDDEN, f"{where} must be forbidden"
            if method == "GET":
                assert status in (200, 302), f"{where} gave {status}"
            else:
                assert status not in (401, 403), f"{where} gave {status}"
        else:
            assert (rule.endpoint, who) not in MUST_BE_ALLOWED, f"{where} must be allowed"
            assert status == 403, f"{where} gave {status}, expected 403"
        checked += 1
        if who != ANONYMOUS and rule.endpoint == "auth.logout":
            client.login(users[who.value].email)
    assert checked >= 15


def test_every_view_declares_access(app):
    undeclared = [
        e for e, v in app.view_functions.items() if e != "static" and allowed_roles_of(v) is None
    ]
    assert undeclared == []


def test_an_undeclared_view_stops_start_up():
    from campaign_manager.web.authz import check_every_view_declares_access

    app = Flask("probe")
    app.add_url_rule("/open", "open", lambda: "oops")
    with pytest.raises(RuntimeError, match="open"):
        check_every_view_declares_access(app)
