"""Schemathesis against the live OpenAPI document: no 500s, nothing that contradicts it.

Every operation gets a bounded number of generated requests, valid and invalid, from a
fixed seed (derandomized Hypothesis), sent through the WSGI app with an admin token, with
generated ids and with ids of real records. Each response is checked against the document:
status code, content type, headers and body schema; invalid requests must be refused.
About 20 s per backend on an idle machine.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from audiences.contacts import create_contact
from audiences.models import ImportJob
from audiences.segments import create_segment
from campaign_manager.core.webhooks import create_subscription, queue_test_event
from tests.api.conftest import bare_print_job
from tests.campaigns.samples import make_campaign_samples
from tests.creatives.samples import make_creative_samples

EXAMPLES_PER_OPERATION = 8
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


@pytest.fixture
def existing_ids(db, users):
    """Records for the generated requests to reach, by path parameter name."""
    print_job = bare_print_job(db, users["vendor"].vendor, "fuzzed-job")
    contacts = [create_contact(db, f"fuzz{i}@example.org", first_name=f"F{i}") for i in range(3)]
    segment = create_segment(db, "Fuzzed", {"type": "all", "rules": []})
    job = ImportJob(filename="f.csv", path="/nowhere/f.csv", header=["email"])
    db.add(job)
    campaigns = make_campaign_samples(db, users)
    creatives = make_creative_samples(db)
    # Nothing listens on port 9 (discard): a test event fails at once, as a refused connection.
    subscription, _secret = create_subscription(
        db, url="http://127.0.0.1:9/hook", event_types=["delivery.sent"]
    )
    webhook_delivery = queue_test_event(db, subscription)
    db.commit()
    return {
        "contact_id": contacts[0].id,
        "segment_id": segment.id,
        "job_id": job.id,
        "campaign_id": campaigns.campaign.id,
        "step_id": campaigns.step.id,
        "delivery_id": campaigns.delivery.id,
        "account_id": campaigns.step.channel_account_id,
        "creative_id": creatives.print_creative.id,
        "asset_id": creatives.asset.id,
        "number": 1,
        "key": "parents",
        "position": 0,
        "print_job_id": print_job.id,
        "subscription_id": subscription.id,
        "webhook_delivery_id": webhook_delivery.id,
    }


@pytest.mark.slow
def test_the_api_keeps_its_document(app, tokens, existing_ids):
    app.config["PROPAGATE_EXCEPTIONS"] = False  # a crash must show as a 500, not a raise
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    headers = {"Authorization": f"Bearer {tokens['admin']}"}
    app.extensions["settings"].api.rate_limit_requests = 10**6
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15
    for operation in operations:
        # Generated ids mostly name nothing (404); fixed ones reach the real work too.
        names = {p.name for p in operation.path_parameters}
        fixed = {name: existing_ids[name] for name in names}
        variants = [
            {"generation_mode": mode, "path_parameters": path_parameters}
            for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE)
            for path_parameters in ([None, fixed] if fixed else [None])
        ]
        for variant in variants:

            @given(case=operation.as_strategy(**variant))
            @settings(
                max_examples=EXAMPLES_PER_OPERATION,
                derandomize=True,
                database=None,
                deadline=None,
                suppress_health_check=list(HealthCheck),
            )
            def check(case):
                case.call_and_validate(headers=headers, checks=CHECKS)

            check()
