"""Real Chromium: the campaign page's counts update by themselves as deliveries progress,
and the in-flight notice after a cancel clears once the last message is handed over."""

import pytest
from playwright.sync_api import expect

from campaign_manager.campaigns.models import CampaignStatus, Delivery, DeliveryStatus
from campaign_manager.campaigns.workflow import transition
from tests.campaigns.conftest import social_step
from tests.conftest import TEST_PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.sqlite_only]


def sign_in(page, live_server, email):
    page.goto(live_server + "/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(live_server + "/")


def test_live_progress_and_cancel(live_server, page, db, world, make_campaign, add_deliveries):
    campaign = make_campaign(steps=[social_step(world)])
    transition(db, campaign, CampaignStatus.IN_REVIEW, world.users["marketer"])
    transition(db, campaign, CampaignStatus.APPROVED, world.users["approver"])
    transition(db, campaign, CampaignStatus.RUNNING, None, "due")
    db.commit()
    step = campaign.steps[0]
    rows = add_deliveries(step, ["pending", "pending", "sending"])

    sign_in(page, live_server, world.users["marketer"].email)
    page.goto(f"{live_server}/campaigns/{campaign.id}")
    sent = page.locator(f"td[data-step='{step.id}'][data-status='sent']")
    pending = page.locator(f"td[data-step='{step.id}'][data-status='pending']")
    assert sent.inner_text() == "0" and pending.inner_text() == "2"
    page.evaluate("window.__marker = 'still the same page'")

    # A worker sends one: the counts change without a reload.
    db.get(Delivery, rows[0].id).status = DeliveryStatus.SENT
    db.commit()
    expect(sent).to_have_text("1", timeout=15_000)
    expect(pending).to_have_text("1")
    assert page.evaluate("window.__marker") == "still the same page"

    # Cancel through the confirmation page: one message is still in flight.
    page.get_by_role("link", name="Cancel the campaign…").click()
    page.get_by_label("Comment").fill("Budget cut")
    page.get_by_role("button", name="Cancel the campaign").click()
    notice = page.locator("[data-in-flight-text]")
    expect(notice).to_contain_text("Cancelled: 1 in flight")
    db.expire_all()
    assert db.get(Delivery, rows[1].id).status is DeliveryStatus.SKIPPED

    # The worker finishes the message it held; the notice says so by itself.
    db.get(Delivery, rows[2].id).status = DeliveryStatus.SENT
    db.commit()
    expect(notice).to_have_text("Cancelled: nothing more will be sent.", timeout=15_000)
    expect(page.locator("#campaign-live")).to_have_attribute("data-terminal", "true")
