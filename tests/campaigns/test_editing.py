"""Campaign and step services: every refusal says what is wrong, times are DST-correct."""

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from campaign_manager.campaigns.editing import (
    CampaignError,
    CampaignInput,
    TriggerInput,
    add_step,
    campaign_problems,
    check_trigger,
    create_campaign,
    remove_step,
    step_input_of,
    submit_for_review,
    update_campaign,
    update_step,
)
from campaign_manager.campaigns.models import (
    Campaign,
    CampaignStatus,
    CampaignTransition,
    Step,
    TriggerKind,
)
from campaign_manager.campaigns.targets import TargetInput
from campaign_manager.campaigns.workflow import WorkflowError, transition
from campaign_manager.channels.accounts import set_account_enabled
from campaign_manager.core.db import utcnow
from creatives.content import SocialContent
from creatives.editing import save_variant
from tests.campaigns.conftest import FALL_BACK, NOW, email_step, social_step


def at(day, clock, tz):
    return TriggerInput(TriggerKind.AT, tz, on_date=day, clock=clock)


# --- campaigns -------------------------------------------------------------------------------


BAD_CAMPAIGNS = [
    ({"name": "  "}, "name", "Give the campaign a name"),
    ({"name": "x" * 201}, "name", "longer than 200"),
    ({"timezone": "Mars/Olympus"}, "timezone", "unknown timezone"),
    ({"frequency_cap": 0}, "frequency_cap", "between 1 and 100"),
    ({"utm": {"utm_source": "a\nb"}}, "utm_source", "one line"),
    ({"utm": {"utm_source": "x" * 101}}, "utm_source", "longer than 100"),
    ({"sender_address": "news at example"}, "sender_address", "not a valid email address"),
    ({"reply_to": "@example.org"}, "reply_to", "not a valid email address"),
]


def test_campaign_input_is_checked(db, world):
    for fields, field, message in BAD_CAMPAIGNS:
        data = CampaignInput(**{"name": "Careers", **fields})
        with pytest.raises(CampaignError, match=message) as error:
            create_campaign(db, data, world.users["marketer"])
        assert error.value.field == field, fields
    assert db.scalar(select(Campaign)) is None


def test_unknown_utm_parameter_is_refused(db, world):
    with pytest.raises(CampaignError, match="not a UTM parameter"):
        create_campaign(
            db, CampaignInput(name="Careers", utm={"utm_foo": "x"}), world.users["marketer"]
        )


def test_campaign_is_created_as_a_draft_with_cleaned_values(db, world):
    campaign = create_campaign(
        db,
        CampaignInput(
            name="  Careers  ",
            timezone="America/Los_Angeles",
            utm={"utm_source": " coalition ", "utm_medium": ""},
            frequency_cap=2,
            open_tracking=True,
            sender_name="  Collision   Careers ",
            sender_address="news@Example.ORG",
        ),
        world.users["marketer"],
    )
    assert (campaign.sender_name, campaign.sender_address, campaign.reply_to) == (
        "Collision Careers",
        "news@example.org",
        "",
    )
    assert campaign.status is CampaignStatus.DRAFT
    assert campaign.name == "Careers"
    assert campaign.utm == {"utm_source": "coalition"}
    assert campaign.created_by_id == world.users["marketer"].id


def test_editing_an_approved_campaign_sends_it_back_to_review(db, world, make_campaign):
    campaign = make_campaign(steps=[social_step(world)])
    transition(db, campaign, CampaignStatus.IN_REVIEW, world.users["marketer"])
    transition(db, campaign, CampaignStatus.APPROVED, world.users["approver"], "fine")
    update_campaign(
        db, campaign, CampaignInput(name="Careers 2", goal="More"), world.users["marketer"]
    )
    db.commit()
    assert campaign.status is CampaignStatus.IN_REVIEW
    assert campaign.approved_by_id is None
    last = db.scalars(select(CampaignTransition).order_by(CampaignTransition.id.desc())).first()
    assert (last.from_status, last.to_status) == (CampaignStatus.APPROVED, CampaignStatus.IN_REVIEW)
    assert "name, goal" in last.comment


def test_a_running_campaign_must_be_paused_before_editing(db, world, make_campaign):
    campaign = make_campaign(steps=[social_step(world)])
    campaign.status = CampaignStatus.RUNNING
    db.commit()
    with pytest.raises(WorkflowError, match="pause it first"):
        add_step(db, campaign, social_step(world, name="Extra"), world.users["marketer"], now=NOW)


# --- steps: who and what -----------------------------------------------------------------------


def test_step_through_a_disabled_account_is_refused(db, world, make_campaign):
    campaign = make_campaign()
    set_account_enabled(world.social, False)
    db.commit()
    with pytest.raises(CampaignError, match="Coalition social is disabled") as error:
        add_step(db, campaign, social_step(world), world.users["marketer"], now=NOW)
    assert error.value.field == "channel_account_id"
    assert campaign.steps == []


def test_creative_must_match_the_account_kind(db, world, make_campaign):
    campaign = make_campaign()
    with pytest.raises(CampaignError, match="Welcome email is a email creative") as error:
        add_step(
            db,
            campaign,
            social_step(world, creative_id=world.email_creative.id),
            world.users["marketer"],
            now=NOW,
        )
    assert error.value.field == "creative_id"


def test_social_steps_on_a_sandbox_account_name_their_network(db, world, make_campaign):
    campaign = make_campaign()
    marketer = world.users["marketer"]
    with pytest.raises(CampaignError, match="Only email steps go to a segment"):
        add_step(db, campaign, social_step(world, segment_id=world.students.id), marketer, now=NOW)
    with pytest.raises(CampaignError, match="choose the network it stands in for") as error:
        add_step(db, campaign, social_step(world, target=TargetInput()), marketer, now=NOW)
    assert error.value.field == "network"
    with pytest.raises(CampaignError, match="written for mastodon, x, not bluesky"):
        add_step(
            db,
            campaign,
            social_step(world, target=TargetInput(network="bluesky")),
            marketer,
            now=NOW,
        )
    step, _ = add_step(
        db, campaign, social_step(world, target=TargetInput(network="X")), marketer, now=NOW
    )
    assert step.target == {"network": "x"}


def web_step(world, **changes):
    return social_step(
        world,
        name="Landing page",
        channel_account_id=world.web.id,
        creative_id=world.web_creative.id,
        **changes,
    )


def test_web_steps_publish_at_a_page_address(db, world, make_campaign):
    campaign = make_campaign()
    marketer = world.users["marketer"]
    step, _ = add_step(db, campaign, web_step(world, target=TargetInput()), marketer, now=NOW)
    assert step.target == {"slug": "careers"}  # the landing page's own address
    step, _ = add_step(
        db, campaign, web_step(world, target=TargetInput(slug="/jobs/Spring/")), marketer, now=NOW
    )
    assert step.target == {"slug": "jobs/spring"}
    with pytest.raises(CampaignError, match="lower-case letters, digits") as error:
        add_step(db, campaign, web_step(world, target=TargetInput(slug="a b")), marketer, now=NOW)
    assert error.value.field == "slug"


def test_print_steps_carry_a_checked_vendor_order(db, world, make_campaign):
    from tests.channels.print_samples import make_print_samples

    samples = make_print_samples(db)
    campaign = make_campaign()
    marketer = world.users["marketer"]

    def print_step(**target):
        return social_step(
            world,
            name="Flyers",
            channel_account_id=samples.export_account.id,
            creative_id=samples.piece.id,
            target=TargetInput(**target),
        )

    with pytest.raises(CampaignError, match="The print order is not complete") as error:
        add_step(db, campaign, print_step(), marketer, now=NOW)
    assert error.value.field == "vendor_id"
    assert "quantity is required" in str(error.value)
    order = {
        "vendor_id": samples.vendor.id,
        "quantity": 150,
        "paper_stock": "100 lb gloss text",
        "due_date": date(2030, 8, 20),
    }
    with pytest.raises(CampaignError, match="unknown co-brand partner") as error:
        add_step(db, campaign, print_step(**order, variants="nowhere-high"), marketer, now=NOW)
    assert error.value.field == "variants"
    step, _ = add_step(
        db,
        campaign,
        print_step(**order, variants="lincoln-high, roosevelt-high"),
        marketer,
        now=NOW,
    )
    assert step.channel_kind == "print"
    assert step.target["variants"] == ["lincoln-high", "roosevelt-high"]
    assert (step.target["quantity"], step.target["due_date"]) == (150, "2030-08-20")
    # The edit form shows the order back as entered.
    shown = step_input_of(step).target
    assert (shown.vendor_id, shown.variants) == (samples.vendor.id, "lincoln-high, roosevelt-high")


def test_email_step_needs_a_segment(db, world, make_campaign):
    campaign = make_campaign()
    data = social_step(
        world,
        channel_account_id=world.email.id,
        creative_id=world.email_creative.id,
        target=TargetInput(),
    )
    with pytest.raises(CampaignError, match="Choose the segment") as error:
        add_step(db, campaign, data, world.users["marketer"], now=NOW)
    assert error.value.field == "segment_id"


def test_email_step_goes_to_a_segment(db, world, make_campaign):
    campaign = make_campaign()
    step, _ = add_step(
        db, campaign, email_step(world, world.students), world.users["marketer"], now=NOW
    )
    assert (step.segment_id, step.target, step.channel_kind) == (world.students.id, {}, "email")
    with pytest.raises(CampaignError, match="That segment no longer exists") as error:
        add_step(
            db,
            campaign,
            email_step(world, world.students, segment_id=999_999),
            world.users["marketer"],
            now=NOW,
        )
    assert error.value.field == "segment_id"


def test_missing_account_and_creative_are_named(db, world, make_campaign):
    campaign = make_campaign()
    marketer = world.users["marketer"]
    with pytest.raises(CampaignError, match="Choose the channel account"):
        add_step(db, campaign, social_step(world, channel_account_id=None), marketer, now=NOW)
    with pytest.raises(CampaignError, match="Choose the social creative"):
        add_step(db, campaign, social_step(world, creative_id=None), marketer, now=NOW)
    with pytest.raises(CampaignError, match="no longer exists"):
        add_step(db, campaign, social_step(world, creative_id=999_999), marketer, now=NOW)


# --- steps: when ------------------------------------------------------------------------------


NOVEMBER_CHANGE = [
    # New York: EDT (UTC-4) until the first Sunday of November, EST (UTC-5) after.
    ("America/New_York", date(2030, 11, 2), "09:00", datetime(2030, 11, 2, 13, 0)),
    ("America/New_York", FALL_BACK, "09:00", datetime(2030, 11, 3, 14, 0)),
    ("America/New_York", date(2030, 11, 4), "09:00", datetime(2030, 11, 4, 14, 0)),
    # Los Angeles: PDT (UTC-7), then PST (UTC-8).
    ("America/Los_Angeles", date(2030, 11, 2), "09:00", datetime(2030, 11, 2, 16, 0)),
    ("America/Los_Angeles", FALL_BACK, "09:00", datetime(2030, 11, 3, 17, 0)),
    # 01:30 happens twice on the change day: the first one (daylight time) is meant.
    ("America/New_York", FALL_BACK, "01:30", datetime(2030, 11, 3, 5, 30)),
    ("America/Los_Angeles", FALL_BACK, "01:30", datetime(2030, 11, 3, 8, 30)),
]


def test_one_time_steps_are_stored_in_utc_across_the_november_change(db, world, make_campaign):
    campaign = make_campaign()
    for tz, day, clock, expected_utc in NOVEMBER_CHANGE:
        step, _ = add_step(
            db,
            campaign,
            social_step(world, trigger=at(day, clock, tz)),
            world.users["marketer"],
            now=NOW,
        )
        db.commit()
        db.expire_all()
        stored = db.get(Step, step.id)
        assert stored.run_at == expected_utc.replace(tzinfo=UTC), (tz, day, clock)
        assert stored.timezone == tz
        # The edit form shows it back as entered.
        shown = step_input_of(stored).trigger
        assert (shown.on_date, shown.clock) == (day, clock)


def test_ambiguous_and_missing_local_times_are_explained():
    _, notes = check_trigger(at(FALL_BACK, "01:30", "America/New_York"), NOW)
    assert notes == [
        "01:30 happens twice on 2030-11-03 in America/New_York (the clocks fall back); "
        "the step runs at the first, EDT."
    ]
    columns, notes = check_trigger(at(date(2031, 3, 9), "02:30", "America/New_York"), NOW)
    assert columns["run_at"] == datetime(2031, 3, 9, 7, 30, tzinfo=UTC)  # 03:30 EDT
    assert "does not exist" in notes[0] and "runs at 03:30" in notes[0]
    assert check_trigger(at(date(2030, 11, 4), "09:00", "America/New_York"), NOW)[1] == []


def test_cron_steps_are_checked_and_fire_at_local_wall_clock_time(db, world, make_campaign):
    with pytest.raises(CampaignError, match="5 fields") as error:
        check_trigger(TriggerInput(TriggerKind.CRON, "America/New_York", cron="0 9 * *"), NOW)
    assert error.value.field == "cron"
    with pytest.raises(CampaignError, match="Cron expression"):
        check_trigger(TriggerInput(TriggerKind.CRON, "America/New_York", cron="0 25 * * *"), NOW)
    with pytest.raises(CampaignError, match="Enter a cron expression"):
        check_trigger(TriggerInput(TriggerKind.CRON, "America/New_York", cron=" "), NOW)
    campaign = make_campaign()
    step, _ = add_step(
        db,
        campaign,
        social_step(
            world,
            trigger=TriggerInput(TriggerKind.CRON, "America/Los_Angeles", cron="0  9 * * 1"),
        ),
        world.users["marketer"],
        now=NOW,
    )
    assert step.cron == "0 9 * * 1"
    from campaign_manager.campaigns.timing import cron_trigger

    trigger = cron_trigger(step.cron, step.timezone)
    before = trigger.get_next_fire_time(None, datetime(2030, 10, 27, tzinfo=UTC))
    after = trigger.get_next_fire_time(None, datetime(2030, 11, 3, tzinfo=UTC))
    assert before.astimezone(UTC) == datetime(2030, 10, 28, 16, 0, tzinfo=UTC)  # PDT
    assert after.astimezone(UTC) == datetime(2030, 11, 4, 17, 0, tzinfo=UTC)  # PST


def test_cron_steps_may_end_on_a_local_day(db, world, make_campaign):
    weekly = TriggerInput(
        TriggerKind.CRON, "America/New_York", cron="0 9 * * 1", ends_on=date(2030, 11, 4)
    )
    columns, _ = check_trigger(weekly, NOW)
    # The whole last day counts: it ends at the next local midnight (EST by then).
    assert columns["ends_at"] == datetime(2030, 11, 5, 5, 0, tzinfo=UTC)
    with pytest.raises(CampaignError, match="never fires again before its last day") as error:
        check_trigger(
            TriggerInput(TriggerKind.CRON, "UTC", cron="0 9 * * 1", ends_on=date(2030, 6, 2)),
            NOW,
        )
    assert error.value.field == "ends_on"
    campaign = make_campaign()
    step, _ = add_step(
        db, campaign, social_step(world, trigger=weekly), world.users["marketer"], now=NOW
    )
    assert step_input_of(step).trigger.ends_on == date(2030, 11, 4)
    # Other kinds of trigger never end.
    assert check_trigger(at(date(2030, 9, 1), "09:00", "UTC"), NOW)[0]["ends_at"] is None


def test_local_time_steps_keep_the_date_and_clock(db, world, make_campaign):
    campaign = make_campaign()
    trigger = TriggerInput(
        TriggerKind.LOCAL_TIME, "America/New_York", on_date=FALL_BACK, clock="9:05"
    )
    step, _ = add_step(
        db, campaign, social_step(world, trigger=trigger), world.users["marketer"], now=NOW
    )
    assert (step.local_date, step.local_time, step.run_at) == (FALL_BACK, "09:05", None)


@pytest.mark.parametrize(
    ("trigger", "field", "message"),
    [
        (at(date(2030, 5, 1), "09:00", "America/New_York"), "on_date", "already passed"),
        (at(None, "09:00", "America/New_York"), "on_date", "Choose the date"),
        (at(date(2030, 9, 1), "9am", "America/New_York"), "clock", "HH:MM"),
        (at(date(2030, 9, 1), "25:00", "America/New_York"), "clock", "HH:MM"),
        (at(date(2030, 9, 1), "09:00", "Europe/Atlantis"), "timezone", "unknown timezone"),
        (
            TriggerInput(TriggerKind.LOCAL_TIME, "UTC", on_date=date(2030, 6, 1), clock="20:00"),
            "on_date",
            "first timezones reach 20:00",
        ),
    ],
)
def test_bad_triggers_are_refused_with_the_field(trigger, field, message):
    with pytest.raises(CampaignError, match=message) as error:
        check_trigger(trigger, NOW)
    assert error.value.field == field


def test_a_step_that_ran_keeps_its_past_time_when_other_fields_change(db, world, make_campaign):
    campaign = make_campaign(steps=[social_step(world)])
    step = campaign.steps[0]
    later = datetime(2030, 9, 2, tzinfo=UTC)
    data = step_input_of(step)
    update_step(
        db,
        step,
        social_step(world, name="Renamed", trigger=data.trigger),
        world.users["marketer"],
        now=later,
    )
    assert step.name == "Renamed"
    with pytest.raises(CampaignError, match="already passed"):
        update_step(
            db,
            step,
            social_step(world, trigger=at(date(2030, 9, 1), "10:00", "America/New_York")),
            world.users["marketer"],
            now=later,
        )


# --- steps: UTM, removal, problems ------------------------------------------------------------


def test_step_utm_overrides_are_kept_in_options(db, world, make_campaign):
    campaign = make_campaign()
    step, _ = add_step(
        db,
        campaign,
        social_step(world, utm={"utm_content": "wave-1", "utm_term": ""}),
        world.users["marketer"],
        now=NOW,
    )
    assert step.options == {"utm": {"utm_content": "wave-1"}}
    update_step(db, step, social_step(world, utm={}), world.users["marketer"], now=NOW)
    assert step.options == {}


def test_changing_the_creative_forgets_the_frozen_version(db, world, make_campaign):
    from creatives.versions import create_creative, freeze_current_version

    campaign = make_campaign(steps=[social_step(world)])
    step = campaign.steps[0]
    step.creative_version_id = freeze_current_version(db, world.social_creative.id).id
    other = create_creative(db, "Second post", "social")
    save_variant(db, other.id, "", SocialContent(text="Apply now", networks=["mastodon"]))
    update_step(
        db, step, social_step(world, creative_id=other.id), world.users["marketer"], now=NOW
    )
    assert step.creative_version_id is None


def test_a_step_with_deliveries_cannot_be_removed(db, world, make_campaign, add_deliveries):
    campaign = make_campaign(steps=[social_step(world), social_step(world, name="Second")])
    first, second = campaign.steps
    add_deliveries(first, ["sent"])
    with pytest.raises(CampaignError, match="already made deliveries"):
        remove_step(db, first, world.users["marketer"])
    remove_step(db, second, world.users["marketer"])
    db.commit()
    assert [s.name for s in db.get(Campaign, campaign.id).steps] == ["Monday post"]


def test_problems_found_again_before_submitting(db, world, make_campaign):
    campaign = make_campaign(steps=[social_step(world)])
    assert campaign_problems(db, campaign, NOW) == []
    set_account_enabled(world.social, False)
    problems = campaign_problems(db, campaign, NOW)
    assert problems == [
        "Step 'Monday post': The channel account Coalition social is disabled; enable it on "
        "the Channels page or choose another."
    ]
    with pytest.raises(CampaignError, match="Fix these before submitting"):
        submit_for_review(db, campaign, world.users["marketer"], now=NOW)
    set_account_enabled(world.social, True)
    late = datetime(2030, 9, 2, tzinfo=UTC)
    assert campaign_problems(db, campaign, late) == [
        "Step 'Monday post': its time has passed and it never ran."
    ]
    submit_for_review(db, campaign, world.users["marketer"], "please", now=NOW)
    assert campaign.status is CampaignStatus.IN_REVIEW
    assert campaign.transitions[-1].comment == "please"


def test_an_empty_campaign_has_a_problem(db, world, make_campaign):
    assert campaign_problems(db, make_campaign(), utcnow()) == ["The campaign has no steps yet."]
