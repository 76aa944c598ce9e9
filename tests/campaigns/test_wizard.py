"""The campaign wizard end to end through the test client: each stage validated and saved,
nothing half-written, a draft resumable, and submission for approval."""

from datetime import UTC, datetime

from sqlalchemy import func, select

from campaign_manager.campaigns.models import Campaign, CampaignStatus, Step
from tests.campaigns.conftest import sign_in


def stage_url(campaign_id: int, stage: str) -> str:
    return f"/campaigns/{campaign_id}/wizard/{stage}"


def schedule_entry(index: int, **values) -> dict:
    entry = {
        "name": "",
        "trigger": "at",
        "on_date": "2031-11-02",
        "clock": "09:00",
        "timezone": "America/New_York",
        "cron": "",
        # Social steps on a sandbox account name their network; others ignore it.
        "network": "mastodon",
    }
    entry.update(values)
    return {f"p{index}-{key}": value for key, value in entry.items()}


def test_wizard_from_details_to_submission(client, db, world):
    sign_in(client, world.users["marketer"])

    # Details: a bad timezone is refused and nothing is created.
    page = client.post_form("/campaigns/new", {"name": "Careers", "timezone": "Nowhere/Land"})
    assert page.status_code == 400
    assert db.scalar(select(func.count()).select_from(Campaign)) == 0
    created = client.post_form(
        "/campaigns/new",
        {
            "name": "Collision careers",
            "goal": "Recruit technicians",
            "timezone": "America/Los_Angeles",
            "utm_source": "coalition",
        },
    )
    assert created.status_code == 302
    campaign = db.scalar(select(Campaign))
    assert created.headers["Location"] == stage_url(campaign.id, "audience")
    assert campaign.status is CampaignStatus.DRAFT

    # Later stages do not open before the earlier ones are done.
    early = client.get(stage_url(campaign.id, "schedule"))
    assert early.status_code == 302
    assert early.headers["Location"] == f"/campaigns/{campaign.id}/wizard"

    # Audience: at least one account.
    page = client.get(stage_url(campaign.id, "audience"))
    assert page.status_code == 200
    assert 'aria-current="step"' in page.get_data(as_text=True)
    refused = client.post_form(stage_url(campaign.id, "audience"), {})
    assert refused.status_code == 400
    assert "Choose at least one channel account." in refused.get_data(as_text=True)
    saved = client.post_form(
        stage_url(campaign.id, "audience"),
        {
            "account_ids": [str(world.social.id), str(world.web.id)],
        },
    )
    assert saved.headers["Location"] == stage_url(campaign.id, "creatives")

    # Leaving now and coming back resumes at the creatives.
    resume = client.get(f"/campaigns/{campaign.id}/wizard")
    assert resume.headers["Location"] == stage_url(campaign.id, "creatives")

    # Creatives: a creative of the wrong kind is refused.
    wrong = client.post_form(
        stage_url(campaign.id, "creatives"),
        {
            f"creative_{world.social.id}": str(world.social_creative.id),
            f"creative_{world.web.id}": str(world.social_creative.id),
        },
    )
    assert wrong.status_code == 400
    assert "Not a valid choice" in wrong.get_data(as_text=True)
    saved = client.post_form(
        stage_url(campaign.id, "creatives"),
        {
            f"creative_{world.social.id}": str(world.social_creative.id),
            f"creative_{world.web.id}": str(world.web_creative.id),
        },
    )
    assert saved.headers["Location"] == stage_url(campaign.id, "schedule")

    # Schedule: one bad entry and nothing is written.
    page = client.get(stage_url(campaign.id, "schedule"))
    html = page.get_data(as_text=True)
    assert "<legend>Coalition social" in html and "<legend>Careers site" in html
    # Each planned step shows only its kind's target fields.
    assert 'name="p0-network"' in html and 'name="p0-slug"' not in html
    assert 'name="p1-slug"' in html and 'name="p1-network"' not in html
    bad = client.post_form(
        stage_url(campaign.id, "schedule"),
        {
            **schedule_entry(0, name="Monday post"),
            **schedule_entry(1, on_date="2020-01-01"),
        },
    )
    assert bad.status_code == 400
    assert "has already passed" in bad.get_data(as_text=True)
    assert db.scalar(select(func.count()).select_from(Step)) == 0
    saved = client.post_form(
        stage_url(campaign.id, "schedule"),
        {
            **schedule_entry(0, name="Monday post", timezone="America/Los_Angeles"),
            **schedule_entry(
                1, trigger="cron", cron="0 9 * * 1-5", utm_content="site", slug="jobs"
            ),
        },
    )
    assert saved.headers["Location"] == stage_url(campaign.id, "review")
    db.expire_all()
    steps = {s.name: s for s in db.scalars(select(Step))}
    assert steps["Monday post"].run_at == datetime(2031, 11, 2, 17, 0, tzinfo=UTC)  # PST
    assert steps["Monday post"].target == {"network": "mastodon"}
    web_step = steps["Careers site"]
    assert web_step.target == {"slug": "jobs"}
    assert (web_step.cron, web_step.channel_kind) == ("0 9 * * 1-5", "web")
    assert web_step.options == {"utm": {"utm_content": "site"}}

    # Saving the schedule again updates the same steps instead of adding more.
    again = client.post_form(
        stage_url(campaign.id, "schedule"),
        {
            **schedule_entry(0, name="Monday post", clock="10:00"),
            **schedule_entry(1, trigger="cron", cron="0 9 * * 1-5"),
        },
    )
    assert again.status_code == 302
    assert db.scalar(select(func.count()).select_from(Step)) == 2

    # Review shows every step; submitting asks for approval.
    review = client.get(stage_url(campaign.id, "review")).get_data(as_text=True)
    assert "Monday post" in review and "Cron <code>0 9 * * 1-5</code>" in review
    submitted = client.post_form(stage_url(campaign.id, "review"), {"comment": "Ready"})
    assert submitted.headers["Location"] == f"/campaigns/{campaign.id}"
    db.expire_all()
    campaign = db.get(Campaign, campaign.id)
    assert campaign.status is CampaignStatus.IN_REVIEW
    assert [(t.to_status, t.comment) for t in campaign.transitions] == [
        (CampaignStatus.IN_REVIEW, "Ready")
    ]
    # A submitted campaign is no longer built with the wizard.
    assert client.get(stage_url(campaign.id, "audience")).headers["Location"] == (
        f"/campaigns/{campaign.id}"
    )


def test_removing_an_account_from_the_audience_removes_its_planned_step(client, db, world):
    sign_in(client, world.users["marketer"])
    client.post_form("/campaigns/new", {"name": "Careers", "timezone": "UTC"})
    campaign = db.scalar(select(Campaign))
    both = {"account_ids": [str(world.social.id), str(world.web.id)]}
    client.post_form(stage_url(campaign.id, "audience"), both)
    client.post_form(
        stage_url(campaign.id, "creatives"),
        {
            f"creative_{world.social.id}": str(world.social_creative.id),
            f"creative_{world.web.id}": str(world.web_creative.id),
        },
    )
    client.post_form(stage_url(campaign.id, "schedule"), {**schedule_entry(0), **schedule_entry(1)})
    assert db.scalar(select(func.count()).select_from(Step)) == 2
    client.post_form(stage_url(campaign.id, "audience"), {"account_ids": [str(world.social.id)]})
    saved = client.post_form(stage_url(campaign.id, "schedule"), schedule_entry(0, name="Only"))
    assert saved.status_code == 302
    db.expire_all()
    assert [s.name for s in db.scalars(select(Step))] == ["Only"]


def test_viewers_and_approvers_cannot_build_campaigns(client, world):
    for role in ("viewer", "approver"):
        sign_in(client, world.users[role])
        assert client.get("/campaigns/new").status_code == 403


def test_email_steps_one_per_segment_with_variant_notes(client, db, world):
    from creatives.editing import save_variant
    from tests.creatives.conftest import email_content

    save_variant(db, world.email_creative.id, "students", email_content(subject="Students"))
    db.commit()
    sign_in(client, world.users["marketer"])
    client.post_form("/campaigns/new", {"name": "Waves", "timezone": "America/New_York"})
    campaign = db.scalar(select(Campaign))
    no_segment = client.post_form(
        stage_url(campaign.id, "audience"), {"account_ids": [str(world.email.id)]}
    )
    assert no_segment.status_code == 400
    assert "Choose at least one segment" in no_segment.get_data(as_text=True)
    client.post_form(
        stage_url(campaign.id, "audience"),
        {
            "account_ids": [str(world.email.id), str(world.social.id)],
            "segment_ids": [str(world.students.id), str(world.parents.id)],
        },
    )
    client.post_form(
        stage_url(campaign.id, "creatives"),
        {
            f"creative_{world.email.id}": str(world.email_creative.id),
            f"creative_{world.social.id}": str(world.social_creative.id),
        },
    )
    saved = client.post_form(
        stage_url(campaign.id, "schedule"),
        {**schedule_entry(0), **schedule_entry(1), **schedule_entry(2)},
    )
    assert saved.status_code == 302
    db.expire_all()
    steps = {s.name: s for s in db.scalars(select(Step))}
    assert steps["Newsletter → Students"].segment_id == world.students.id
    assert steps["Newsletter → Parents"].segment_id == world.parents.id
    assert steps["Coalition social"].segment_id is None
    review = client.get(stage_url(campaign.id, "review")).get_data(as_text=True)
    assert "Welcome email has no variant for Parents, so they get its default version." in review
    assert "no variant for Students" not in review
