"""The delivery log (filters, keyset pages) and the uncertain and failed queues."""

from datetime import UTC, datetime, timedelta

from campaign_manager.campaigns.deliveries import DeliveryFilter, delivery_page
from campaign_manager.campaigns.models import CampaignStatus, Delivery, DeliveryStatus
from campaign_manager.campaigns.workflow import transition
from tests.campaigns.conftest import sign_in, social_step


def two_campaigns(db, world, make_campaign, add_deliveries):
    first = make_campaign(
        "First",
        steps=[
            social_step(world),
            social_step(
                world,
                name="Site",
                channel_account_id=world.web.id,
                creative_id=world.web_creative.id,
            ),
        ],
    )
    second = make_campaign("Second", steps=[social_step(world, name="Other post")])
    social, site = first.steps
    rows = {
        "social": add_deliveries(social, ["sent"] * 3 + ["failed", "uncertain"], prefix="ann"),
        "site": add_deliveries(site, ["sent", "pending"], prefix="bob"),
        "other": add_deliveries(second.steps[0], ["sent", "failed"], prefix="cy"),
    }
    return first, second, rows


def ids(page) -> list[int]:
    return [row.delivery.id for row in page.rows]


def test_filters_combine(db, world, make_campaign, add_deliveries):
    first, _, rows = two_campaigns(db, world, make_campaign, add_deliveries)
    everything = delivery_page(db, DeliveryFilter())
    assert len(everything.rows) == 9
    assert ids(everything) == sorted(ids(everything), reverse=True)  # newest first
    assert len(delivery_page(db, DeliveryFilter(campaign_id=first.id)).rows) == 7
    site_step = first.steps[1]
    assert ids(delivery_page(db, DeliveryFilter(step_id=site_step.id))) == [
        r.id for r in reversed(rows["site"])
    ]
    failed = delivery_page(db, DeliveryFilter(status=DeliveryStatus.FAILED))
    assert {r.campaign_name for r in failed.rows} == {"First", "Second"}
    assert len(delivery_page(db, DeliveryFilter(channel_kind="web")).rows) == 2
    assert len(delivery_page(db, DeliveryFilter(recipient="BOB")).rows) == 2
    assert ids(delivery_page(db, DeliveryFilter(recipient="ann3@"))) == [rows["social"][3].id]
    # LIKE wildcards in the search are taken literally.
    assert delivery_page(db, DeliveryFilter(recipient="%")).rows == []
    both = DeliveryFilter(campaign_id=first.id, status=DeliveryStatus.SENT, channel_kind="social")
    assert len(delivery_page(db, both).rows) == 3


def test_date_filter_uses_the_last_activity(db, world, make_campaign, add_deliveries):
    _, _, rows = two_campaigns(db, world, make_campaign, add_deliveries)
    old = db.get(Delivery, rows["social"][0].id)
    old.updated_at = datetime(2030, 1, 10, 12, tzinfo=UTC)
    db.commit()
    window = DeliveryFilter(
        since=datetime(2030, 1, 10, tzinfo=UTC), until=datetime(2030, 1, 11, tzinfo=UTC)
    )
    assert ids(delivery_page(db, window)) == [old.id]
    assert old.id not in ids(
        delivery_page(db, DeliveryFilter(since=datetime(2030, 1, 11, tzinfo=UTC)))
    )


def test_keyset_pages_walk_forwards_and_back(db, world, make_campaign, add_deliveries):
    campaign = make_campaign(steps=[social_step(world)])
    rows = add_deliveries(campaign.steps[0], ["sent"] * 7)
    newest_first = [r.id for r in reversed(rows)]
    first = delivery_page(db, DeliveryFilter(), limit=3)
    assert ids(first) == newest_first[:3] and first.newer is None
    second = delivery_page(db, DeliveryFilter(), before=first.older, limit=3)
    assert ids(second) == newest_first[3:6]
    last = delivery_page(db, DeliveryFilter(), before=second.older, limit=3)
    assert ids(last) == newest_first[6:] and last.older is None
    back = delivery_page(db, DeliveryFilter(), after=last.newer, limit=3)
    assert ids(back) == newest_first[3:6]
    # Rows arriving meanwhile do not shift a page.
    add_deliveries(campaign.steps[0], ["pending"], prefix="late")
    assert ids(delivery_page(db, DeliveryFilter(), before=first.older, limit=3)) == ids(second)


def test_log_page_filters_and_pages(client, db, world, make_campaign, add_deliveries):
    first, _, rows = two_campaigns(db, world, make_campaign, add_deliveries)
    extra = add_deliveries(first.steps[0], ["sent"] * 55, prefix="many")
    sign_in(client, world.users["viewer"])
    page = client.get("/deliveries/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert html.count("<tr>\n    <td>") == 50
    assert f"<td>{extra[-1].id}</td>" in html and 'rel="next"' in html
    older = client.get(f"/deliveries/?before={extra[-50].id}").get_data(as_text=True)
    assert f"<td>{rows['social'][0].id}</td>" in older and 'rel="prev"' in older
    filtered = client.get(f"/deliveries/?campaign={first.id}&status=failed&q=ann").get_data(
        as_text=True
    )
    assert f"<td>{rows['social'][3].id}</td>" in filtered
    assert filtered.count("<tr>\n    <td>") == 1
    # The step filter is offered once a campaign is chosen.
    assert 'name="step"' in filtered
    assert client.get("/deliveries/?status=nonsense&from=yesterday").status_code == 200


def test_uncertain_delivery_marked_sent_after_confirmation(
    client, db, world, make_campaign, add_deliveries
):
    _, _, rows = two_campaigns(db, world, make_campaign, add_deliveries)
    uncertain = rows["social"][4]
    sign_in(client, world.users["marketer"])
    queue = client.get("/deliveries/uncertain").get_data(as_text=True)
    assert f"/deliveries/{uncertain.id}/mark-sent" in queue
    confirm = client.get(f"/deliveries/{uncertain.id}/mark-sent")
    assert "Yes, it arrived: mark it sent" in confirm.get_data(as_text=True)
    db.expire_all()
    assert db.get(Delivery, uncertain.id).status is DeliveryStatus.UNCERTAIN  # not yet
    done = client.post_form(f"/deliveries/{uncertain.id}/mark-sent")
    assert done.headers["Location"] == "/deliveries/uncertain"
    db.expire_all()
    row = db.get(Delivery, uncertain.id)
    assert row.status is DeliveryStatus.SENT and row.reason == "marked sent by a person"


def test_failed_delivery_retried_but_never_marked_sent(
    client, db, world, make_campaign, add_deliveries
):
    _, _, rows = two_campaigns(db, world, make_campaign, add_deliveries)
    failed = rows["social"][3]
    sign_in(client, world.users["approver"])
    refused = client.get(f"/deliveries/{failed.id}/mark-sent").get_data(as_text=True)
    assert "Only an uncertain delivery can be marked as sent" in refused
    client.post_form(f"/deliveries/{failed.id}/mark-sent")
    db.expire_all()
    assert db.get(Delivery, failed.id).status is DeliveryStatus.FAILED
    before = datetime.now(UTC) - timedelta(seconds=1)
    client.post_form(f"/deliveries/{failed.id}/retry")
    db.expire_all()
    row = db.get(Delivery, failed.id)
    assert row.status is DeliveryStatus.PENDING and row.next_attempt_at >= before
    # A cancelled campaign's deliveries are not sent again.
    other = rows["other"][1]
    campaign = db.get(Delivery, other.id).step.campaign
    transition(db, campaign, CampaignStatus.CANCELLED, world.users["admin"], "stop")
    db.commit()
    client.post_form(f"/deliveries/{other.id}/retry")
    db.expire_all()
    assert db.get(Delivery, other.id).status is DeliveryStatus.FAILED
    # Viewers see the queue but cannot act.
    sign_in(client, world.users["viewer"])
    assert client.get("/deliveries/failed").status_code == 200
    assert client.post_form(f"/deliveries/{failed.id}/retry").status_code == 403
