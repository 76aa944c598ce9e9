"""Walking the app's URL map: a sample value for every URL argument, and the `samples`
fixture with one record of each kind those URLs name.

The role x route matrix (test_access_matrix.py) and the reliability suite's CSRF, XSS and
form walks (tests/reliability) all start from here, so a new route reaches every one of
them the day it is added; a route whose URL needs a value this file does not know fails
until one is added to SAMPLE_ARGUMENTS.
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
from campaign_manager.core.api_tokens import create_token
from campaign_manager.core.feed_tokens import create_feed_token
from campaign_manager.core.security import TokenSigner
from campaign_manager.core.webhooks import (
    WebhookDeliveryStatus,
    create_subscription,
    queue_test_event,
)
from tests.channels.samples import sample_email
from tests.conftest import TEST_SECRET

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
