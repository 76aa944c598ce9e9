"""Campaigns and steps through the API: CRUD, the approval workflow and its rules, ETags,
Idempotency-Key replays, dry runs and the report."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from campaign_manager.campaigns.models import Campaign, CampaignStatus, Event, EventKind, Step
from tests.campaigns.conftest import add_deliveries, make_campaign, world  # noqa: F401

PROBLEM = "application/problem+json"


def step_body(world, **changes):  # noqa: F811 - the fixture's value, passed in
    body = {
        "name": "Email to students",
        "channel_account_id": world.email.id,
        "creative_id": world.email_creative.id,
        "segment_id": world.students.id,
        "trigger": {
            "kind": "at",
            "timezone": "America/New_York",
            "on_date": "2030-09-02",
            "clock": "10:00",
        },
    }
    body.update(changes)
    return body


def social_body(world):  # noqa: F811
    return {
        "name": "Monday post",
        "channel_account_id": world.social.id,
        "creative_id": world.social_creative.id,
        "target": {"network": "mastodon"},
        "trigger": {
            "kind": "at",
            "timezone": "America/New_York",
            "on_date": "2030-09-01",
            "clock": "09:00",
        },
    }


@pytest.fixture
def draft(api, world):  # noqa: F811
    """A draft made through the API by the marketer, with one email step."""
    created = api.marketer.post(
        "/api/v1/campaigns", json={"name": "Collision careers", "timezone": "America/Chicago"}
    )
    assert created.status_code == 201, created.get_json()
    campaign_id = created.get_json()["id"]
    step = api.marketer.post(f"/api/v1/campaigns/{campaign_id}/steps", json=step_body(world))
    assert step.status_code == 201, step.get_json()
    return campaign_id


def test_create_read_list_and_steps(api, db, world):  # noqa: F811
    response = api.marketer.post(
        "/api/v1/campaigns",
        json={
            "name": "Collision careers",
            "goal": "Recruit technicians",
            "timezone": "America/Chicago",
            "utm": {"utm_source": "coalition"},
            "frequency_cap": 3,
        },
    )
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["status"] == "draft"
    assert body["utm"]["utm_source"] == "coalition"
    assert body["created_by_id"] == world.users["marketer"].id
    assert response.headers["Location"] == f"/api/v1/campaigns/{body['id']}"

    step = api.marketer.post(f"/api/v1/campaigns/{body['id']}/steps", json=step_body(world))
    assert step.status_code == 201, step.get_json()
    step_json = step.get_json()
    assert step_json["channel_kind"] == "email"
    assert step_json["trigger"]["clock"] == "10:00"
    assert step_json["trigger"]["on_date"] == "2030-09-02"
    assert step_json["run_at"].startswith("2030-09-02T14:00")  # 10:00 EDT in UTC
    assert db.scalar(select(Step.campaign_id).where(Step.id == step_json["id"])) == body["id"]

    fetched = api.viewer.get(f"/api/v1/campaigns/{body['id']}").get_json()
    assert fetched["step_ids"] == [step_json["id"]]
    listed = api.approver.get(f"/api/v1/campaigns/{body['id']}/steps").get_json()
    assert [s["id"] for s in listed["data"]] == [step_json["id"]]
    assert [
        c["id"] for c in api.viewer.get("/api/v1/campaigns?status=draft").get_json()["data"]
    ] == [body["id"]]
    assert api.viewer.get("/api/v1/campaigns?status=running").get_json()["data"] == []


def test_list_pages_by_cursor_and_new_campaigns_do_not_shift_pages(api, make_campaign):  # noqa: F811
    ids = [make_campaign(f"Campaign {n}").id for n in range(5)]
    first = api.viewer.get("/api/v1/campaigns?limit=2").get_json()
    assert [c["id"] for c in first["data"]] == ids[::-1][:2]
    make_campaign("Inserted meanwhile")
    second = api.viewer.get(f"/api/v1/campaigns?limit=2&cursor={first['next_cursor']}")
    assert [c["id"] for c in second.get_json()["data"]] == ids[::-1][2:4]
    assert 'rel="next"' in second.headers["Link"]


def test_validation_errors_name_the_field(api, world):  # noqa: F811
    response = api.marketer.post("/api/v1/campaigns", json={"name": "x", "frequency_cap": 0})
    assert response.status_code == 422
    assert response.mimetype == PROBLEM
    assert [e["field"] for e in response.get_json()["errors"]] == ["frequency_cap"]

    response = api.marketer.post("/api/v1/campaigns", json={"name": "x", "timezone": "Mars/Base"})
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["field"] == "timezone"

    response = api.marketer.post("/api/v1/campaigns", json={"name": "  "})
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["field"] == "name"

    campaign_id = api.marketer.post("/api/v1/campaigns", json={"name": "Ok"}).get_json()["id"]
    past = step_body(
        world, trigger={"kind": "at", "timezone": "UTC", "on_date": "2001-01-01", "clock": "10:00"}
    )
    response = api.marketer.post(f"/api/v1/campaigns/{campaign_id}/steps", json=past)
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["field"].startswith("trigger.")

    wrong_kind = step_body(world, creative_id=world.social_creative.id)
    response = api.marketer.post(f"/api/v1/campaigns/{campaign_id}/steps", json=wrong_kind)
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["field"] == "creative_id"

    response = api.marketer.post(
        f"/api/v1/campaigns/{campaign_id}/steps", json={"name": "no trigger"}
    )
    assert response.status_code == 422
    fields = {e["field"] for e in response.get_json()["errors"]}
    assert {"trigger", "channel_account_id", "creative_id"} <= fields


def test_roles_who_may_do_what(api, draft):
    for role in ("viewer", "approver", "vendor"):
        assert api.__dict__[role].post("/api/v1/campaigns", json={"name": "x"}).status_code == 403
    assert api.vendor.get("/api/v1/campaigns").status_code == 403
    assert api.vendor.get(f"/api/v1/campaigns/{draft}").status_code == 403
    assert api.anonymous.get("/api/v1/campaigns").status_code == 401
    for role in ("viewer", "approver", "marketer", "admin"):
        assert api.__dict__[role].get(f"/api/v1/campaigns/{draft}/report").status_code == 200
    etag = api.viewer.get(f"/api/v1/campaigns/{draft}").headers["ETag"]
    patched = api.approver.patch(
        f"/api/v1/campaigns/{draft}", json={"name": "y"}, headers={"If-Match": etag}
    )
    assert patched.status_code == 403
    assert api.viewer.post(f"/api/v1/campaigns/{draft}/submit", json={}).status_code == 403
    assert api.marketer.post(f"/api/v1/campaigns/{draft}/approve", json={}).status_code == 403
    assert api.viewer.get(f"/api/v1/campaigns/{draft}/steps/1/dry-run").status_code == 403


def test_the_approval_workflow_and_self_approval(api, db, users, draft):
    submitted = api.marketer.post(f"/api/v1/campaigns/{draft}/submit", json={"comment": "ready"})
    assert submitted.status_code == 200, submitted.get_json()
    assert submitted.get_json()["status"] == "in_review"

    # An approver who created the campaign may not approve it.
    campaign = db.get(Campaign, draft)
    campaign.created_by_id = users["approver"].id
    db.commit()
    refused = api.approver.post(f"/api/v1/campaigns/{draft}/approve", json={})
    assert refused.status_code == 403
    assert "created" in refused.get_json()["detail"]
    campaign.created_by_id = users["marketer"].id
    db.commit()

    # Sending back needs a comment from an approver.
    assert api.approver.post(f"/api/v1/campaigns/{draft}/reject", json={}).status_code == 409
    rejected = api.approver.post(
        f"/api/v1/campaigns/{draft}/reject", json={"comment": "Fix the date"}
    )
    assert rejected.get_json()["status"] == "draft"
    api.marketer.post(f"/api/v1/campaigns/{draft}/submit", json={})
    approved = api.approver.post(f"/api/v1/campaigns/{draft}/approve", json={"comment": "go"})
    assert approved.status_code == 200
    body = approved.get_json()
    assert body["status"] == "approved"
    assert body["approved_by_id"] == users["approver"].id
    step = api.viewer.get(f"/api/v1/campaigns/{draft}/steps").get_json()["data"][0]
    assert step["creative_version_id"] is not None  # frozen at approval
    assert [(h["from_status"], h["to_status"]) for h in body["history"]] == [
        ("draft", "in_review"),
        ("in_review", "draft"),
        ("draft", "in_review"),
        ("in_review", "approved"),
    ]

    # Approving twice is a state conflict, not a permission problem.
    assert api.approver.post(f"/api/v1/campaigns/{draft}/approve", json={}).status_code == 409
    assert api.marketer.post(f"/api/v1/campaigns/{draft}/pause", json={}).get_json()["status"] == (
        "paused"
    )
    assert (
        api.approver.post(f"/api/v1/campaigns/{draft}/resume", json={}).get_json()["status"]
        == "running"
    )
    cancelled = api.marketer.post(f"/api/v1/campaigns/{draft}/cancel", json={})
    assert cancelled.get_json()["status"] == "cancelled"
    db.expire_all()
    assert db.get(Campaign, draft).status is CampaignStatus.CANCELLED


def test_submit_with_problems_is_a_conflict(api, world):  # noqa: F811
    campaign_id = api.marketer.post("/api/v1/campaigns", json={"name": "Empty"}).get_json()["id"]
    response = api.marketer.post(f"/api/v1/campaigns/{campaign_id}/submit", json={})
    assert response.status_code == 409
    assert "no steps" in response.get_json()["detail"]


def test_editing_an_approved_campaign_sends_it_back_to_review(api, draft):
    api.marketer.post(f"/api/v1/campaigns/{draft}/submit", json={})
    api.approver.post(f"/api/v1/campaigns/{draft}/approve", json={})
    etag = api.marketer.get(f"/api/v1/campaigns/{draft}").headers["ETag"]
    response = api.marketer.patch(
        f"/api/v1/campaigns/{draft}", json={"goal": "More mentors"}, headers={"If-Match": etag}
    )
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["status"] == "in_review" and body["approved_by_id"] is None
    assert body["goal"] == "More mentors" and body["name"] == "Collision careers"
    assert "needs approval again" in body["history"][-1]["comment"]


def test_a_running_campaign_must_be_paused_before_editing(api, db, draft):
    api.marketer.post(f"/api/v1/campaigns/{draft}/submit", json={})
    api.approver.post(f"/api/v1/campaigns/{draft}/approve", json={})
    db.get(Campaign, draft).status = CampaignStatus.RUNNING
    db.commit()
    etag = api.marketer.get(f"/api/v1/campaigns/{draft}").headers["ETag"]
    response = api.marketer.patch(
        f"/api/v1/campaigns/{draft}", json={"goal": "x"}, headers={"If-Match": etag}
    )
    assert response.status_code == 409
    assert "pause it first" in response.get_json()["detail"]


def test_patch_needs_if_match_and_a_stale_etag_is_412(api, draft):
    path = f"/api/v1/campaigns/{draft}"
    assert api.marketer.patch(path, json={"goal": "a"}).status_code == 428
    etag = api.marketer.get(path).headers["ETag"]
    assert api.marketer.patch(path, json={"goal": "a"}, headers={"If-Match": etag}).status_code == (
        200
    )
    stale = api.marketer.patch(path, json={"goal": "b"}, headers={"If-Match": etag})
    assert stale.status_code == 412
    assert stale.mimetype == PROBLEM
    assert api.viewer.get(path).get_json()["goal"] == "a"


def test_idempotency_key_replays_the_first_campaign(api, db, world):  # noqa: F811
    headers = {"Idempotency-Key": "9c1f-campaign"}
    first = api.marketer.post("/api/v1/campaigns", json={"name": "Once"}, headers=headers)
    again = api.marketer.post("/api/v1/campaigns", json={"name": "Once"}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json()
    assert db.scalar(select(func.count()).select_from(Campaign)) == 1
    other = api.marketer.post("/api/v1/campaigns", json={"name": "Other"}, headers=headers)
    assert other.status_code == 422


def test_patch_and_delete_a_step(api, db, world, draft):  # noqa: F811
    step = api.viewer.get(f"/api/v1/campaigns/{draft}/steps").get_json()["data"][0]
    path = f"/api/v1/campaigns/{draft}/steps/{step['id']}"
    etag = api.marketer.get(path).headers["ETag"]
    patched = api.marketer.patch(
        path, json={"name": "Renamed", "trigger": {"clock": "11:30"}}, headers={"If-Match": etag}
    )
    assert patched.status_code == 200, patched.get_json()
    body = patched.get_json()
    assert body["name"] == "Renamed"
    assert body["trigger"]["clock"] == "11:30" and body["trigger"]["on_date"] == "2030-09-02"
    assert api.marketer.delete(path, headers={"If-Match": etag}).status_code == 412
    assert api.viewer.delete(path, headers={"If-Match": patched.headers["ETag"]}).status_code == 403
    assert api.marketer.delete(path, headers={"If-Match": patched.headers["ETag"]}).status_code == (
        204
    )
    assert db.get(Step, step["id"]) is None
    assert api.viewer.get(path).status_code == 404


def test_a_step_of_another_campaign_is_404(api, world, draft, make_campaign):  # noqa: F811
    other = make_campaign("Other")
    step_id = api.viewer.get(f"/api/v1/campaigns/{draft}/steps").get_json()["data"][0]["id"]
    assert api.viewer.get(f"/api/v1/campaigns/{other.id}/steps/{step_id}").status_code == 404


def test_dry_run_counts_without_writing(api, db, world):  # noqa: F811
    campaign_id = api.marketer.post("/api/v1/campaigns", json={"name": "Social"}).get_json()["id"]
    step = api.marketer.post(f"/api/v1/campaigns/{campaign_id}/steps", json=social_body(world))
    step_id = step.get_json()["id"]
    response = api.approver.get(f"/api/v1/campaigns/{campaign_id}/steps/{step_id}/dry-run")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["total"] == 1 and body["by_status"] == {"pending": 1}
    from campaign_manager.campaigns.models import Delivery

    assert db.scalar(select(func.count()).select_from(Delivery)) == 0


def test_report_by_step_channel_and_segment(api, db, world, draft):  # noqa: F811
    step_id = api.viewer.get(f"/api/v1/campaigns/{draft}/steps").get_json()["data"][0]["id"]
    db.add_all(
        [
            Event(
                kind=kind,
                campaign_id=draft,
                step_id=step_id,
                channel_kind="email",
                segment_slug="students",
            )
            for kind in (EventKind.SENT, EventKind.SENT, EventKind.OPEN)
        ]
    )
    db.commit()
    report = api.viewer.get(f"/api/v1/campaigns/{draft}/report").get_json()
    assert report["totals"]["counts"]["sent"] == 2
    assert report["totals"]["counts"]["open"] == 1
    assert report["by_channel"][0]["counts"]["sent"] == 2
    assert any(row["counts"].get("open") == 1 for row in report["by_segment"])
    assert report["by_step"][0]["counts"]["sent"] == 2
    assert api.viewer.get("/api/v1/campaigns/999999/report").status_code == 404


def test_a_transition_with_a_stale_if_match_is_412(api, draft):
    path = f"/api/v1/campaigns/{draft}"
    etag = api.marketer.get(path).headers["ETag"]
    fresh = api.marketer.patch(path, json={"goal": "changed"}, headers={"If-Match": etag})
    assert fresh.status_code == 200
    stale = api.marketer.post(f"{path}/submit", json={}, headers={"If-Match": etag})
    assert stale.status_code == 412
    assert api.viewer.get(path).get_json()["status"] == "draft"
    ok = api.marketer.post(f"{path}/submit", json={}, headers={"If-Match": fresh.headers["ETag"]})
    assert ok.status_code == 200 and ok.get_json()["status"] == "in_review"


def test_a_step_at_an_ambiguous_local_time_comes_with_a_note(api, world):  # noqa: F811
    campaign_id = api.marketer.post("/api/v1/campaigns", json={"name": "DST"}).get_json()["id"]
    body = step_body(
        world,
        trigger={
            "kind": "at",
            "timezone": "America/New_York",
            "on_date": "2030-11-03",
            "clock": "01:30",
        },
    )
    created = api.marketer.post(f"/api/v1/campaigns/{campaign_id}/steps", json=body)
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["notes"], created.get_json()
    fetched = api.viewer.get(created.headers["Location"])
    assert fetched.get_json()["notes"] == []
    assert fetched.headers["ETag"] == created.headers["ETag"]


def test_an_action_needs_no_body(api, draft):
    response = api.marketer.post(f"/api/v1/campaigns/{draft}/submit")
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["status"] == "in_review"
