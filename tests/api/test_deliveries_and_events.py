"""Deliveries and events through the API: read-only, filtered, cursor-paged."""

from __future__ import annotations

from datetime import date

from audiences.contacts import create_contact
from campaign_manager.campaigns.editing import TriggerInput
from campaign_manager.campaigns.models import Event, EventKind, TriggerKind
from tests.campaigns.conftest import (  # noqa: F401 - fixtures
    add_deliveries,
    email_step,
    make_campaign,
    social_step,
    world,
)


def two_steps(world, make_campaign):  # noqa: F811
    campaign = make_campaign(
        steps=[
            email_step(world, world.students),
            social_step(world),
        ]
    )
    return campaign, campaign.steps[0], campaign.steps[1]


def test_filter_by_campaign_step_status_channel_and_contact(
    api,
    db,
    world,  # noqa: F811
    make_campaign,  # noqa: F811
    add_deliveries,  # noqa: F811
):
    campaign, email, social = two_steps(world, make_campaign)
    other = make_campaign(
        "Other",
        steps=[
            email_step(
                world,
                world.parents,
                trigger=TriggerInput(TriggerKind.AT, "UTC", on_date=date(2030, 9, 3), clock="9:00"),
            )
        ],
    )
    sent = add_deliveries(email, ["sent", "failed", "sent"])
    posted = add_deliveries(social, ["sent"], prefix="network")
    add_deliveries(other.steps[0], ["pending"], prefix="other")
    contact = create_contact(db, "maria@example.org")
    db.flush()
    sent[2].contact_id = contact.id
    db.commit()

    def ids(query):
        response = api.viewer.get("/api/v1/deliveries" + query)
        assert response.status_code == 200, response.get_json()
        return [d["id"] for d in response.get_json()["data"]]

    assert ids(f"?campaign={campaign.id}") == [posted[0].id, sent[2].id, sent[1].id, sent[0].id]
    assert ids(f"?step={email.id}&status=sent") == [sent[2].id, sent[0].id]
    assert ids(f"?campaign={campaign.id}&channel=social") == [posted[0].id]
    assert ids(f"?contact={contact.id}") == [sent[2].id]
    assert ids("?status=pending") != []
    body = api.viewer.get(f"/api/v1/deliveries/{sent[1].id}").get_json()
    assert body["status"] == "failed" and body["campaign_id"] == campaign.id
    assert body["channel_kind"] == "email" and body["recipient_key"] == "person1@example.org"


def test_pages_are_stable_under_inserts(api, world, make_campaign, add_deliveries):  # noqa: F811
    _, email, _ = two_steps(world, make_campaign)
    rows = add_deliveries(email, ["sent"] * 5)
    first = api.viewer.get("/api/v1/deliveries?limit=2").get_json()
    assert [d["id"] for d in first["data"]] == [rows[4].id, rows[3].id]
    add_deliveries(email, ["pending"] * 3, prefix="late")
    second = api.viewer.get(f"/api/v1/deliveries?limit=2&cursor={first['next_cursor']}").get_json()
    assert [d["id"] for d in second["data"]] == [rows[2].id, rows[1].id]
    third = api.viewer.get(f"/api/v1/deliveries?limit=2&cursor={second['next_cursor']}").get_json()
    assert [d["id"] for d in third["data"]] == [rows[0].id]
    assert third["next_cursor"] is None


def test_validation_and_roles(api, world):  # noqa: F811
    bad = api.viewer.get("/api/v1/deliveries?status=lost&campaign=x")
    assert bad.status_code == 422
    assert {e["field"] for e in bad.get_json()["errors"]} == {"query.status", "query.campaign"}
    assert api.viewer.get("/api/v1/deliveries?cursor=garbage").status_code == 422
    for role in ("viewer", "marketer", "approver", "admin"):
        assert getattr(api, role).get("/api/v1/deliveries").status_code == 200
        assert getattr(api, role).get("/api/v1/events").status_code == 200
    assert api.vendor.get("/api/v1/deliveries").status_code == 403
    assert api.vendor.get("/api/v1/events").status_code == 403
    assert api.anonymous.get("/api/v1/deliveries").status_code == 401
    assert api.viewer.get("/api/v1/deliveries/999999").status_code == 404
    # Read-only: no method but GET.
    assert api.marketer.post("/api/v1/deliveries", json={}).status_code == 405
    assert api.marketer.delete("/api/v1/deliveries/1").status_code == 405


def test_events_filtered_and_paged(api, db, world, make_campaign):  # noqa: F811
    campaign, email, social = two_steps(world, make_campaign)
    events = [
        Event(kind=EventKind.SENT, campaign_id=campaign.id, step_id=email.id, channel_kind="email"),
        Event(kind=EventKind.OPEN, campaign_id=campaign.id, step_id=email.id, channel_kind="email"),
        Event(
            kind=EventKind.CLICK,
            campaign_id=campaign.id,
            step_id=social.id,
            channel_kind="social",
            url="https://example.org/careers",
        ),
        Event(kind=EventKind.OPEN, campaign_id=None, channel_kind="email"),
    ]
    db.add_all(events)
    db.commit()

    def ids(query):
        response = api.viewer.get("/api/v1/events" + query)
        assert response.status_code == 200, response.get_json()
        return [e["id"] for e in response.get_json()["data"]]

    assert ids(f"?campaign={campaign.id}") == [events[2].id, events[1].id, events[0].id]
    assert ids(f"?campaign={campaign.id}&kind=open") == [events[1].id]
    assert ids("?channel=social") == [events[2].id]
    assert ids(f"?step={email.id}&limit=1") == [events[1].id]
    page = api.viewer.get(f"/api/v1/events?step={email.id}&limit=1").get_json()
    rest = api.viewer.get(f"/api/v1/events?step={email.id}&limit=1&cursor={page['next_cursor']}")
    assert [e["id"] for e in rest.get_json()["data"]] == [events[0].id]
    click = api.viewer.get("/api/v1/events?kind=click").get_json()["data"][0]
    assert click["url"] == "https://example.org/careers"
    assert api.viewer.get("/api/v1/events?kind=nope").status_code == 422
