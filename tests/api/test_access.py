"""Every API route by every role, with tokens: 401 anonymous, 403 where the role may not.

The routes come from the app's URL map (every view with @api_access), so a new endpoint is
covered the day it is added; one whose URL needs a value this file does not know fails
until a sample is added to SAMPLE_ARGUMENTS.
"""

from __future__ import annotations

import io
from types import SimpleNamespace

import pytest

from audiences.contacts import create_contact
from audiences.models import ImportJob, ImportStatus
from audiences.segments import create_segment
from campaign_manager.api.auth import TOKEN_AUTH_ATTR
from campaign_manager.core.accounts import Role
from campaign_manager.core.webhooks import (
    WebhookDeliveryStatus,
    create_subscription,
    queue_test_event,
)
from campaign_manager.web.authz import allowed_roles_of
from tests.api.conftest import bare_print_job

ANONYMOUS = "anonymous"

SAMPLE_ARGUMENTS = {
    "contact_id": lambda samples: samples.contact.id,
    "segment_id": lambda samples: samples.segment.id,
    "job_id": lambda samples: samples.import_job.id,
    # Records that do not exist: an allowed role gets past the role check to a 404, which is
    # all this walk asks. Rules that depend on a record's state (who may approve which
    # campaign, which vendor sees which job) are tested with each resource.
    "campaign_id": lambda samples: MISSING,
    "step_id": lambda samples: MISSING,
    "account_id": lambda samples: MISSING,
    "delivery_id": lambda samples: MISSING,
    "asset_id": lambda samples: MISSING,
    "creative_id": lambda samples: MISSING,
    "number": lambda samples: 1,
    "key": lambda samples: "parents",
    "position": lambda samples: 0,
    "print_job_id": lambda samples: samples.print_job.id,
    "subscription_id": lambda samples: samples.subscription.id,
    "webhook_delivery_id": lambda samples: samples.webhook_delivery.id,
}
MISSING = 999_999

# What a request to each kind of endpoint carries, so that an allowed role gets past
# validation often enough; what matters here is only whether 401/403 come back.
JSON_BODY = {"email": "matrix@example.org"}

# Intent, written out by hand, checked against what the decorators say.
MUST_BE_FORBIDDEN = {
    ("api_contacts.list_contacts", "GET", Role.VENDOR),
    ("api_contacts.create", "POST", Role.VIEWER),
    ("api_contacts.create", "POST", Role.APPROVER),
    ("api_contacts.delete_contact", "DELETE", Role.MARKETER),
    ("api_contacts.bulk_upsert", "POST", Role.VIEWER),
    ("api_contacts.unsubscribe", "POST", Role.VIEWER),
    ("api_contacts.add_consent", "POST", Role.VENDOR),
    ("api_segments.create", "POST", Role.VIEWER),
    ("api_segments.members", "GET", Role.VENDOR),
    ("api_contact_imports.start", "POST", Role.APPROVER),
    ("api_contact_imports.rejects", "GET", Role.VIEWER),
    ("api_campaigns.list_campaigns", "GET", Role.VENDOR),
    ("api_campaigns.create", "POST", Role.APPROVER),
    ("api_campaigns.approve", "POST", Role.MARKETER),
    ("api_campaigns.submit", "POST", Role.APPROVER),
    ("api_campaigns.cancel", "POST", Role.VIEWER),
    ("api_campaigns.dry_run", "GET", Role.VIEWER),
    ("api_channel_accounts.create", "POST", Role.VIEWER),
    ("api_channel_accounts.get_account", "GET", Role.VENDOR),
    ("api_deliveries.list_deliveries", "GET", Role.VENDOR),
    ("api_events.list_events", "GET", Role.VENDOR),
    ("api_print_jobs.accept", "POST", Role.MARKETER),
    ("api_print_jobs.shipped", "POST", Role.APPROVER),
    ("api_assets.upload", "POST", Role.VIEWER),
    ("api_creatives.patch_creative", "PATCH", Role.APPROVER),
    ("api_webhooks.list_subscriptions", "GET", Role.MARKETER),
    ("api_webhooks.create", "POST", Role.MARKETER),
    ("api_webhooks.new_secret", "POST", Role.APPROVER),
    ("api_webhooks.list_deliveries", "GET", Role.VIEWER),
    ("api_webhooks.redeliver_event", "POST", Role.VENDOR),
}
# A vendor's token reads print jobs (its own company's: tests/api/test_print_jobs.py).
MUST_BE_ALLOWED = {
    ("api_contacts.list_contacts", "GET", Role.VIEWER),
    ("api_contacts.create", "POST", Role.MARKETER),
    ("api_contacts.delete_contact", "DELETE", Role.ADMIN),
    ("api_segments.members", "GET", Role.APPROVER),
    ("api_contact_imports.start", "POST", Role.MARKETER),
    ("api_campaigns.approve", "POST", Role.APPROVER),
    ("api_campaigns.pause", "POST", Role.MARKETER),
    ("api_campaigns.report", "GET", Role.VIEWER),
    ("api_print_jobs.list_print_jobs", "GET", Role.VENDOR),
    ("api_print_jobs.download_pdf", "GET", Role.VENDOR),
    ("api_print_jobs.accept", "POST", Role.VENDOR),
    ("api_channel_accounts.test_connection", "POST", Role.MARKETER),
    ("api_creatives.preview", "GET", Role.VIEWER),
    ("api_print_jobs.list_print_jobs", "GET", Role.VENDOR),
    ("api_print_jobs.get_print_job", "GET", Role.VENDOR),
    ("api_webhooks.create", "POST", Role.ADMIN),
    ("api_webhooks.list_deliveries", "GET", Role.ADMIN),
}


@pytest.fixture
def samples(db, users):
    print_job = bare_print_job(db, users["vendor"].vendor, "access-walk")
    contact = create_contact(db, "sample@example.org")
    segment = create_segment(db, "Sample", {"type": "all", "rules": []})
    job = ImportJob(
        filename="s.csv", path="/nowhere/s.csv", header=["email"], status=ImportStatus.DONE
    )
    db.add(job)
    # Nothing listens on port 9 (discard): a test event fails at once, as a refused connection.
    subscription, _secret = create_subscription(
        db, url="http://127.0.0.1:9/hook", event_types=["delivery.sent"]
    )
    webhook_delivery = queue_test_event(db, subscription)
    webhook_delivery.status = WebhookDeliveryStatus.FAILED
    db.commit()
    return SimpleNamespace(
        contact=contact,
        segment=segment,
        import_job=job,
        print_job=print_job,
        subscription=subscription,
        webhook_delivery=webhook_delivery,
    )


def api_routes(app):
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        if not getattr(view, TOKEN_AUTH_ATTR, False):
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule, method


def build_url(app, rule, samples) -> str:
    missing = [arg for arg in rule.arguments if arg not in SAMPLE_ARGUMENTS]
    assert not missing, f"add sample values for {missing} (route {rule.rule}) to SAMPLE_ARGUMENTS"
    with app.test_request_context():
        from flask import url_for

        return url_for(rule.endpoint, **{a: SAMPLE_ARGUMENTS[a](samples) for a in rule.arguments})


def send(client, method: str, url: str):
    if method in ("GET", "DELETE"):
        return client.request(method, url, headers={"If-Match": "*"})
    if url.endswith("/contact-imports"):
        data = {"file": (io.BytesIO(b"email\r\nm@example.org\r\n"), "m.csv")}
        return client.request(method, url, data=data, content_type="multipart/form-data")
    return client.request(method, url, json=JSON_BODY, headers={"If-Match": "*"})


def test_the_api_has_routes_to_check(app):
    assert len(list(api_routes(app))) >= 15


@pytest.mark.parametrize("who", [ANONYMOUS, *Role])
def test_every_api_route_for_every_role(app, api, samples, who):
    client = getattr(api, who if who == ANONYMOUS else who.value)
    checked = 0
    for rule, method in api_routes(app):
        allowed = allowed_roles_of(app.view_functions[rule.endpoint])
        url = build_url(app, rule, samples)
        response = send(client, method, url)
        status = response.status_code
        where = f"{method} {url} as {who}"
        assert status < 500, f"{where} gave {status}: {response.get_data(as_text=True)}"
        assert response.mimetype in ("application/json", "application/problem+json", None), where
        if who == ANONYMOUS:
            assert status == 401, f"{where}: {status}"
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
        elif who in allowed:
            assert (rule.endpoint, method, who) not in MUST_BE_FORBIDDEN, f"{where} must be 403"
            assert status not in (401, 403), f"{where} gave {status}"
        else:
            assert (rule.endpoint, method, who) not in MUST_BE_ALLOWED, f"{where} must be allowed"
            assert status == 403, f"{where} gave {status}, expected 403"
            assert response.mimetype == "application/problem+json"
        checked += 1
    assert checked >= 15


def test_every_api_view_declares_its_roles(app):
    for rule, _method in api_routes(app):
        assert allowed_roles_of(app.view_functions[rule.endpoint]), rule.endpoint


def test_every_api_post_honours_idempotency_keys(app):
    """The document promises Idempotency-Key on every POST (api/__init__.py), so each POST
    view must carry @idempotent."""
    for rule, method in api_routes(app):
        if method == "POST":
            view = app.view_functions[rule.endpoint]
            assert getattr(view, "honours_idempotency_key", False), f"{rule.endpoint}: @idempotent"
