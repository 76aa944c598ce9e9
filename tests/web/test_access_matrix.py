"""Every route by every role: 200/302 where allowed, 403 where not, login redirect when anonymous.

The routes come from the app's URL map, so a new route is covered the day it is added; a
route whose URL needs a value this file does not know fails the test until one is added
to SAMPLE_ARGUMENTS.
"""

from types import SimpleNamespace

import pytest
from flask import Flask

from audiences.contacts import create_contact
from audiences.models import ContactRole, ImportJob, ImportStatus, SuppressionReason
from audiences.segments import create_segment
from audiences.suppression import suppress
from audiences.unsubscribe import unsubscribe_token
from campaign_manager.api.auth import TOKEN_AUTH_ATTR
from campaign_manager.channels.accounts import build_adapter
from campaign_manager.core.accounts import Role
from campaign_manager.core.api_tokens import create_token
from campaign_manager.core.feed_tokens import create_feed_token
from campaign_manager.core.security import TokenSigner
from campaign_manager.core.webhooks import (
    WebhookDeliveryStatus,
    create_subscription,
    queue_test_event,
)
from campaign_manager.web.authz import PUBLIC, allowed_roles_of
from tests.channels.samples import sample_email
from tests.conftest import TEST_SECRET

ANONYMOUS = "anonymous"

# Sample values for URL arguments, taken from the `samples` fixture's data.
SAMPLE_ARGUMENTS = {
    "user_id": lambda samples: samples.users["viewer"].id,
    "account_id": lambda samples: samples.channel_account.id,
    "adapter_name": lambda samples: "sandbox_email",
    "record_name": lambda samples: "matrix-record",
    "creative_id": lambda samples: samples.creatives.print_creative.id,
    "asset_id": lambda samples: samples.creatives.asset.id,
    "brand_kit_id": lambda samples: samples.creatives.brand_kit.id,
    "slug": lambda samples: samples.creatives.landing_page.slug,
    "name": lambda samples: samples.creatives.asset.sha256 + ".jpg",
    "contact_id": lambda samples: samples.contact.id,
    "segment_id": lambda samples: samples.segment.id,
    "job_id": lambda samples: samples.import_job.id,
    "suppression_id": lambda samples: samples.suppression.id,
    "token": lambda samples: samples.unsubscribe_token,
    "campaign_id": lambda samples: samples.campaigns.campaign.id,
    "step_id": lambda samples: samples.campaigns.step.id,
    "delivery_id": lambda samples: samples.campaigns.delivery.id,
    "stage": lambda samples: "review",
    "position": lambda samples: 0,
    # The admin's own token: other users revoking it get 404, as if it did not exist.
    "token_id": lambda samples: samples.api_token.id,
    # The admin's own calendar feed, likewise.
    "feed_id": lambda samples: samples.feed_token.id,
    "subscription_id": lambda samples: samples.webhook_delivery.subscription_id,
    "webhook_delivery_id": lambda samples: samples.webhook_delivery.id,
}


@pytest.fixture
def samples(users, db, make_account, instance_path):
    """Users plus one record of each kind that URLs name, so every GET can answer 200."""
    from tests.campaigns.samples import make_campaign_samples
    from tests.channels.print_samples import make_print_job, make_print_samples
    from tests.creatives.samples import make_creative_samples

    account = make_account("sandbox_email", name="Matrix sandbox")
    adapter = build_adapter(account, instance_path=instance_path)
    db.commit()
    adapter.send(sample_email(), idempotency_key="matrix-record")
    print_samples = make_print_samples(db)
    contact = create_contact(db, "sample.contact@example.org", role=ContactRole.STUDENT)
    segment = create_segment(db, "Sample segment", {"type": "all", "rules": []})
    # Another segment uses the sample one, so the walk's POST to its delete route is refused
    # instead of deleting it from under the routes that come after.
    create_segment(
        db, "Uses the sample", {"type": "all", "rules": [{"type": "segment", "slug": segment.slug}]}
    )
    import_job = ImportJob(
        filename="sample.csv",
        path="/nowhere/sample.csv",
        header=["email"],
        status=ImportStatus.DONE,
    )
    db.add(import_job)
    suppression = suppress(db, "sample.suppressed@example.org", SuppressionReason.MANUAL, "test")
    api_token = create_token(db, users["admin"], "matrix token").token
    feed_token = create_feed_token(db, users["admin"], "matrix feed").token
    # A receiver on a closed local port: the walk's "send test event" fails at once, offline.
    subscription, _secret = create_subscription(
        db, url="http://127.0.0.1:9/hook", event_types=["delivery.sent"]
    )
    webhook_delivery = queue_test_event(db, subscription)
    webhook_delivery.status = WebhookDeliveryStatus.FAILED
    db.commit()
    return SimpleNamespace(
        users=users,
        api_token=api_token,
        feed_token=feed_token,
        webhook_delivery=webhook_delivery,
        campaigns=make_campaign_samples(db, users),
        contact=contact,
        segment=segment,
        import_job=import_job,
        suppression=suppression,
        unsubscribe_token=unsubscribe_token(TokenSigner(TEST_SECRET), contact.id),
        channel_account=account,
        creatives=make_creative_samples(db),
        print_job=make_print_job(db, print_samples, "matrix-job", variants=["lincoln-high"]),
    )


# Where two routes use one argument name for different things: by endpoint or blueprint.
ENDPOINT_ARGUMENTS = {
    ("webhooks.receive", "token"): lambda samples: samples.channel_account.webhook_token,
    ("print_jobs", "job_id"): lambda samples: samples.print_job.id,
}


# Decisions that must hold whatever the decorators say, written out by hand so the matrix
# is checked against intent and not only against itself.
MUST_BE_FORBIDDEN = {
    ("settings.users", Role.MARKETER),
    ("settings.users", Role.VIEWER),
    ("settings.users", Role.APPROVER),
    ("settings.users", Role.VENDOR),
    ("settings.vendors", Role.MARKETER),
    ("settings.vendors", Role.VENDOR),
    ("outgoing_webhooks.index", Role.MARKETER),
    ("outgoing_webhooks.index", Role.VIEWER),
    ("outgoing_webhooks.show", Role.APPROVER),
    ("outgoing_webhooks.new", Role.MARKETER),
    ("outgoing_webhooks.send_test", Role.MARKETER),
    ("outgoing_webhooks.redeliver_event", Role.VENDOR),
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


def routes(app: Flask):
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        if getattr(app.view_functions[rule.endpoint], TOKEN_AUTH_ATTR, False):
            # The REST API takes bearer tokens and never the session cookie this walk signs
            # in with; tests/api/test_access.py walks every API route x role with tokens.
            continue
        for method in sorted(rule.methods & {"GET", "POST"}):
            yield rule, method


def build_url(app: Flask, rule, samples) -> str:
    blueprint = rule.endpoint.partition(".")[0]

    def specific(arg: str):
        return ENDPOINT_ARGUMENTS.get((rule.endpoint, arg)) or ENDPOINT_ARGUMENTS.get(
            (blueprint, arg)
        )

    def sample(arg: str):
        return (specific(arg) or SAMPLE_ARGUMENTS[arg])(samples)

    missing = [arg for arg in rule.arguments if arg not in SAMPLE_ARGUMENTS and not specific(arg)]
    assert not missing, f"add sample values for {missing} (route {rule.rule}) to SAMPLE_ARGUMENTS"
    values = {arg: sample(arg) for arg in rule.arguments}
    with app.test_request_context():
        from flask import url_for

        return url_for(rule.endpoint, **values)


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
