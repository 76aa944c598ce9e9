"""The campaign page: progress JSON, the approval workflow, pause/resume/cancel with the
in-flight count, step editing and the dry run, all through the UI."""

from sqlalchemy import select

from campaign_manager.campaigns.models import (
    Campaign,
    CampaignStatus,
    Delivery,
    DeliveryStatus,
    Step,
)
from campaign_manager.campaigns.targets import TargetInput
from campaign_manager.campaigns.workflow import transition
from tests.campaigns.conftest import sign_in, social_step


def reload(db, campaign) -> Campaign:
    db.expire_all()
    return db.get(Campaign, campaign.id)


def running_campaign(db, world, make_campaign):
    campaign = make_campaign(
        steps=[
            social_step(world),
            social_step(
                world,
                name="Site page",
                channel_account_id=world.web.id,
                creative_id=world.web_creative.id,
                target=TargetInput(),
            ),
        ]
    )
    transition(db, campaign, CampaignStatus.IN_REVIEW, world.users["marketer"])
    transition(db, campaign, CampaignStatus.APPROVED, world.users["approver"])
    transition(db, campaign, CampaignStatus.RUNNING, None, "step due")
    db.commit()
    return campaign


def test_progress_json_counts_by_step_and_channel(client, db, world, make_campaign, add_deliveries):
    campaign = running_campaign(db, world, make_campaign)
    social, web = campaign.steps
    add_deliveries(social, ["sent", "sent", "pending", "failed", "sending"])
    add_deliveries(web, ["sent", "uncertain"], prefix="page")
    sign_in(client, world.users["viewer"])
    response = client.get(f"/campaigns/{campaign.id}/progress.json")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    data = response.get_json()
    assert data["status"] == "running"
    assert data["in_flight"] == 1
    by_step = {s["label"]: s for s in data["steps"]}
    assert by_step["Monday post"]["counts"] == {
        "pending": 1,
        "sending": 1,
        "sent": 2,
        "failed": 1,
        "suppressed": 0,
        "skipped": 0,
        "uncertain": 0,
    }
    assert by_step["Monday post"]["total"] == 5 and by_step["Monday post"]["done"] == 3
    by_channel = {c["label"]: c for c in data["channels"]}
    assert by_channel["Careers site (web)"]["counts"]["uncertain"] == 1
    assert data["totals"]["counts"]["sent"] == 3 and data["totals"]["total"] == 7
    # The page shows the same numbers, in cells the script updates.
    page = client.get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    assert f'data-step="{social.id}" data-status="sent">2<' in page
    assert 'src="/static/campaign_progress.js"' in page


def test_approval_workflow_through_the_page(client, db, world, make_campaign):
    campaign = make_campaign(steps=[social_step(world)])
    marketer, approver = world.users["marketer"], world.users["approver"]
    sign_in(client, marketer)
    response = client.post_form(f"/campaigns/{campaign.id}/submit", {"comment": "Ready for you"})
    assert response.status_code == 302
    assert reload(db, campaign).status is CampaignStatus.IN_REVIEW
    # The marketer cannot approve.
    assert client.post_form(f"/campaigns/{campaign.id}/approve").status_code == 403

    sign_in(client, approver)
    page = client.get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    assert "Approve" in page and "Send back to draft" in page
    refused = client.post_form(f"/campaigns/{campaign.id}/send-back", {"comment": ""})
    assert refused.status_code == 302
    assert reload(db, campaign).status is CampaignStatus.IN_REVIEW  # needs a comment
    client.post_form(f"/campaigns/{campaign.id}/approve", {"comment": "Looks good"})
    campaign = reload(db, campaign)
    assert campaign.status is CampaignStatus.APPROVED
    assert campaign.approved_by_id == approver.id
    # Approval freezes the creative version the step will send.
    version = world.social_creative.versions[0]
    db.refresh(version)
    assert campaign.steps[0].creative_version_id == version.id
    assert version.frozen_at is not None
    page = client.get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    assert "Looks good" in page and "Ready for you" in page
    assert "in review → approved" in page


def test_an_approver_cannot_approve_their_own_campaign_but_an_admin_can(
    client, db, world, make_campaign
):
    from campaign_manager.campaigns.editing import CampaignInput, create_campaign

    approver, admin = world.users["approver"], world.users["admin"]
    own = create_campaign(db, CampaignInput(name="Mine"), approver)
    own.status = CampaignStatus.IN_REVIEW
    admins = create_campaign(db, CampaignInput(name="Admin's"), admin)
    admins.status = CampaignStatus.IN_REVIEW
    db.commit()
    sign_in(client, approver)
    response = client.post_form(f"/campaigns/{own.id}/approve", follow_redirects=True)
    assert "You cannot approve a campaign you created" in response.get_data(as_text=True)
    assert reload(db, own).status is CampaignStatus.IN_REVIEW
    sign_in(client, admin)
    client.post_form(f"/campaigns/{admins.id}/approve")
    assert reload(db, admins).status is CampaignStatus.APPROVED


def test_pause_and_resume(client, db, world, make_campaign):
    campaign = running_campaign(db, world, make_campaign)
    sign_in(client, world.users["approver"])
    client.post_form(f"/campaigns/{campaign.id}/pause", {"comment": "Holiday"})
    assert reload(db, campaign).status is CampaignStatus.PAUSED
    page = client.get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    assert "Resume" in page and "Holiday" in page
    client.post_form(f"/campaigns/{campaign.id}/resume")
    assert reload(db, campaign).status is CampaignStatus.RUNNING
    # The viewer sees the page but not the buttons, and may not press them.
    sign_in(client, world.users["viewer"])
    page = client.get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    assert ">Pause<" not in page
    assert client.post_form(f"/campaigns/{campaign.id}/pause").status_code == 403


def test_cancel_skips_pending_and_reports_what_is_in_flight(
    client, db, world, make_campaign, add_deliveries
):
    campaign = running_campaign(db, world, make_campaign)
    rows = add_deliveries(campaign.steps[0], ["pending", "pending", "sending", "sent"])
    sign_in(client, world.users["marketer"])
    confirm = client.get(f"/campaigns/{campaign.id}/cancel").get_data(as_text=True)
    assert "<strong>2</strong> deliveries waiting to be sent will be skipped" in confirm
    assert "1 in flight" in confirm
    client.post_form(f"/campaigns/{campaign.id}/cancel", {"comment": "Budget cut"})
    assert reload(db, campaign).status is CampaignStatus.CANCELLED
    statuses = [db.get(Delivery, r.id).status for r in rows]
    assert statuses == [
        DeliveryStatus.SKIPPED,
        DeliveryStatus.SKIPPED,
        DeliveryStatus.SENDING,
        DeliveryStatus.SENT,
    ]
    page = client.get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    assert "Cancelled: 1 in flight" in page
    assert client.get(f"/campaigns/{campaign.id}/progress.json").get_json()["in_flight"] == 1
    # The worker finishes the one it held; then the page says nothing more will be sent.
    db.get(Delivery, rows[2].id).status = DeliveryStatus.SENT
    db.commit()
    page = client.get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    assert "Cancelled: nothing more will be sent." in page
    assert client.get(f"/campaigns/{campaign.id}/progress.json").get_json()["in_flight"] == 0


def test_step_added_edited_and_removed_through_forms(client, db, world, make_campaign):
    campaign = make_campaign()
    sign_in(client, world.users["marketer"])
    form = {
        "name": "Friday post",
        "channel_account_id": str(world.social.id),
        "creative_id": str(world.web_creative.id),
        "segment_id": "",
        "network": "mastodon",
        "trigger": "at",
        "on_date": "2031-11-07",
        "clock": "12:00",
        "timezone": "America/New_York",
    }
    wrong = client.post_form(f"/campaigns/{campaign.id}/steps/new", form)
    assert wrong.status_code == 400
    assert "Careers page is a web creative" in wrong.get_data(as_text=True)
    form["creative_id"] = str(world.social_creative.id)
    added = client.post_form(f"/campaigns/{campaign.id}/steps/new", form)
    assert added.status_code == 302
    step = db.scalar(select(Step))
    edit_page = client.get(f"/campaigns/{campaign.id}/steps/{step.id}/edit").get_data(as_text=True)
    assert 'value="12:00"' in edit_page and 'value="2031-11-07"' in edit_page
    client.post_form(
        f"/campaigns/{campaign.id}/steps/{step.id}/edit", {**form, "cron": "", "clock": "13:30"}
    )
    db.expire_all()
    assert db.get(Step, step.id).run_at.hour == 18  # 13:30 EST is 18:30 UTC
    confirm = client.get(f"/campaigns/{campaign.id}/steps/{step.id}/remove")
    assert "Remove the step" in confirm.get_data(as_text=True)
    client.post_form(f"/campaigns/{campaign.id}/steps/{step.id}/remove")
    assert db.scalar(select(Step)) is None


def test_editing_an_approved_campaign_on_its_page_sends_it_back(client, db, world, make_campaign):
    campaign = make_campaign(steps=[social_step(world)])
    transition(db, campaign, CampaignStatus.IN_REVIEW, world.users["marketer"])
    transition(db, campaign, CampaignStatus.APPROVED, world.users["approver"])
    db.commit()
    sign_in(client, world.users["marketer"])
    page = client.get(f"/campaigns/{campaign.id}/edit").get_data(as_text=True)
    assert "Saving a change sends it back to review" in page
    client.post_form(
        f"/campaigns/{campaign.id}/edit", {"name": "Renamed", "timezone": "America/New_York"}
    )
    campaign = reload(db, campaign)
    assert campaign.name == "Renamed"
    assert campaign.status is CampaignStatus.IN_REVIEW


def test_dry_run_counts_what_a_step_would_make(client, db, world, make_campaign):
    campaign = make_campaign(steps=[social_step(world)])
    step = campaign.steps[0]
    sign_in(client, world.users["approver"])
    page = client.get(f"/campaigns/{campaign.id}/steps/{step.id}/dry-run")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "<dd>1</dd>" in html and '<td>pending</td><td class="num">1</td>' in html
    assert db.scalar(select(Delivery)) is None  # nothing written
    sign_in(client, world.users["viewer"])
    assert client.get(f"/campaigns/{campaign.id}/steps/{step.id}/dry-run").status_code == 403


def test_campaign_list_filters_by_status(client, db, world, make_campaign):
    make_campaign("Draft one")
    running_campaign(db, world, make_campaign)
    sign_in(client, world.users["viewer"])
    everything = client.get("/campaigns/").get_data(as_text=True)
    assert "Draft one" in everything and "Collision careers" in everything
    running = client.get("/campaigns/?status=running").get_data(as_text=True)
    assert "Draft one" not in running and "Collision careers" in running


def test_running_progress_is_counted_every_few_seconds_and_exact_once_it_stops(
    app, client, db, world, make_campaign, add_deliveries
):
    from campaign_manager.web.counts import counts_cache

    clock = [1000.0]
    with app.app_context():
        counts_cache().clock = lambda: clock[0]
    campaign = running_campaign(db, world, make_campaign)
    social, _ = campaign.steps
    add_deliveries(social, ["sent", "pending"])
    sign_in(client, world.users["viewer"])
    url = f"/campaigns/{campaign.id}/progress.json"
    first = client.get(url).get_json()
    assert first["totals"]["counts"]["sent"] == 1 and first["counted_at"].endswith(" UTC")
    page = client.get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    assert f"as of <span data-counted-at>{first['counted_at']}</span>" in page

    add_deliveries(social, ["sent", "sent"], prefix="later")
    clock[0] += 2
    # While it runs, the poller gets the count of 2 s ago, with that time.
    assert client.get(url).get_json() == first
    clock[0] += 4
    assert client.get(url).get_json()["totals"]["counts"]["sent"] == 3

    add_deliveries(social, ["sent"], prefix="last")
    transition(db, campaign, CampaignStatus.COMPLETED, None, "all sent")
    db.commit()
    # Finished: counted on every request, so the poll that stops the poller is exact
    # without waiting for the cached count to age.
    final = client.get(url).get_json()
    assert final["status"] == "completed" and final["totals"]["counts"]["sent"] == 4
