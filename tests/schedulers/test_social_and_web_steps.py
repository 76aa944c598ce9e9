"""Social and web steps through the engine into sandbox accounts: one message per target."""

from datetime import timedelta

from sqlalchemy import select

from campaign_manager.campaigns.models import (
    Campaign,
    CampaignStatus,
    Delivery,
    DeliveryStatus,
    Step,
    TriggerKind,
)
from campaign_manager.channels.accounts import create_account
from campaign_manager.channels.sandbox import list_records
from campaign_manager.core.db import utcnow
from creatives.content import SocialContent, WebContent
from creatives.editing import save_variant
from creatives.versions import create_creative, freeze_current_version
from schedulers import jobs
from schedulers.adapters import AccountAdapters
from schedulers.rendering import DeliveryRenderer
from schedulers.worker import DeliveryWorker


def run_due_steps(app, step_ids):
    settings, database = app.extensions["settings"], app.extensions["database"]
    jobs.set_runtime(jobs.EngineRuntime(database, settings))
    adapters = AccountAdapters(database, settings.instance_dir)
    try:
        for step_id in step_ids:
            jobs.run_step(step_id)
        worker = DeliveryWorker(
            database, DeliveryRenderer(settings, app.extensions["token_signer"]), adapters
        )
        while worker.run_batch():
            pass
    finally:
        adapters.close()
        jobs.set_runtime(None)


def test_a_post_and_a_page_reach_their_sandboxes(app, db, users):
    social_account = create_account(
        db, adapter="sandbox_social", display_name="Social", settings={}, credentials={}
    )
    web_account = create_account(
        db, adapter="sandbox_web", display_name="Web", settings={}, credentials={}
    )
    post = create_creative(db, "Careers post", "social")
    save_variant(
        db,
        post.id,
        "",
        SocialContent(
            text="Love cars? Turn that passion into a career #CollisionCareers",
            link="https://careers.example.org/apply",
            networks=["mastodon"],
        ),
    )
    page = create_creative(db, "Careers page", "web", slug="careers")
    save_variant(
        db,
        page.id,
        "",
        WebContent(title="Careers", headline="Turn a passion for cars into a career"),
    )
    campaign = Campaign(
        name="Week one", status=CampaignStatus.APPROVED, created_by_id=users["marketer"].id
    )
    due = utcnow() - timedelta(seconds=1)
    social = Step(
        campaign=campaign,
        name="Post",
        channel_account_id=social_account.id,
        channel_kind="social",
        creative_id=post.id,
        creative_version_id=freeze_current_version(db, post.id).id,
        trigger=TriggerKind.AT,
        run_at=due,
        target={"network": "mastodon"},
    )
    web = Step(
        campaign=campaign,
        name="Page",
        channel_account_id=web_account.id,
        channel_kind="web",
        creative_id=page.id,
        creative_version_id=freeze_current_version(db, page.id).id,
        trigger=TriggerKind.AT,
        run_at=due,
        target={"slug": "careers"},
    )
    db.add_all([campaign, social, web])
    db.commit()

    run_due_steps(app, [social.id, web.id])

    db.expire_all()
    assert {d.status for d in db.scalars(select(Delivery))} == {DeliveryStatus.SENT}
    instance = app.extensions["settings"].instance_dir
    [posted] = list_records(instance, social_account.id)
    assert "Turn that passion into a career" in posted.data["text"]
    assert "https://careers.example.org/apply" in posted.data["text"]  # Mastodon: link in text
    [published] = list_records(instance, web_account.id)
    assert "Turn a passion for cars into a career" in published.data["html"]


def test_the_built_in_publisher_makes_the_approved_page_live(app, db, users, client):
    account = create_account(
        db, adapter="landing_pages", display_name="Our pages", settings={}, credentials={}
    )
    page = create_creative(db, "Scholarships page", "web", slug="scholarships")
    save_variant(db, page.id, "", WebContent(title="Scholarships", headline="Apply by June"))
    version = freeze_current_version(db, page.id)
    # Edited after approval: the new draft must not be what goes live.
    save_variant(db, page.id, "", WebContent(title="Scholarships", headline="DRAFT copy"))
    campaign = Campaign(
        name="Pages", status=CampaignStatus.APPROVED, created_by_id=users["marketer"].id
    )
    step = Step(
        campaign=campaign,
        name="Publish",
        channel_account_id=account.id,
        channel_kind="web",
        creative_id=page.id,
        creative_version_id=version.id,
        trigger=TriggerKind.AT,
        run_at=utcnow() - timedelta(seconds=1),
        target={"slug": "scholarships"},
    )
    db.add_all([campaign, step])
    db.commit()
    assert client.get("/p/scholarships").status_code == 404

    run_due_steps(app, [step.id])

    db.expire_all()
    delivery = db.scalar(select(Delivery))
    assert (delivery.status, delivery.external_id) == (DeliveryStatus.SENT, "/p/scholarships")
    page_html = client.get("/p/scholarships?utm_source=flyer").get_data(as_text=True)
    assert "Apply by June" in page_html and "DRAFT copy" not in page_html
