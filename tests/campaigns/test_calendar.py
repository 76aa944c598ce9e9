"""The calendar (month and week views in the viewer's timezone) and the ICS export, parsed
back with the icalendar package."""

from datetime import UTC, date, datetime

import icalendar

from campaign_manager.campaigns.calendar import build_ics, calendar, fold, ics_escape
from campaign_manager.campaigns.editing import TriggerInput
from campaign_manager.campaigns.models import CampaignStatus, TriggerKind
from campaign_manager.campaigns.workflow import transition
from tests.campaigns.conftest import FALL_BACK, sign_in, social_step

STAMP = datetime(2030, 10, 1, 8, 0, tzinfo=UTC)


def schedule(db, world, make_campaign):
    """A one-time step, a weekly cron step and a local-time step around the November change."""
    campaign = make_campaign(
        "Careers; fall, wave",
        steps=[
            social_step(
                world,
                name="Launch",
                trigger=TriggerInput(
                    TriggerKind.AT, "America/New_York", on_date=date(2030, 11, 1), clock="21:30"
                ),
            ),
            social_step(
                world,
                name="Weekly post",
                trigger=TriggerInput(TriggerKind.CRON, "America/Los_Angeles", cron="0 9 * * 1"),
            ),
            social_step(
                world,
                name="Local hello",
                trigger=TriggerInput(
                    TriggerKind.LOCAL_TIME, "America/New_York", on_date=FALL_BACK, clock="08:00"
                ),
            ),
        ],
    )
    cancelled = make_campaign("Dropped", steps=[social_step(world, name="Never")])
    transition(db, cancelled, CampaignStatus.CANCELLED, world.users["marketer"], "no")
    db.commit()
    return campaign


def test_occurrences_in_a_window(db, world, make_campaign):
    schedule(db, world, make_campaign)
    found = calendar(db, date(2030, 10, 28), date(2030, 11, 10), "America/New_York")
    entries = [
        (e.step_name, e.day("America/New_York"), e.time_label("America/New_York"))
        for e in found.entries
    ]
    assert sorted(entries) == sorted(
        [
            ("Launch", date(2030, 11, 1), "21:30"),
            # 09:00 in Los Angeles is 12:00 in New York on both sides of the change.
            ("Weekly post", date(2030, 10, 28), "12:00"),
            ("Weekly post", date(2030, 11, 4), "12:00"),
            ("Local hello", FALL_BACK, "08:00 local"),
        ]
    )
    # Cancelled campaigns are left out; in UTC the launch falls on the next day.
    utc = calendar(db, date(2030, 11, 2), date(2030, 11, 2), "UTC")
    assert [e.step_name for e in utc.entries] == ["Launch"]
    assert utc.entries[0].moment == datetime(2030, 11, 2, 1, 30, tzinfo=UTC)


def test_cron_steps_stop_after_their_last_day(db, world, make_campaign):
    trigger = TriggerInput(TriggerKind.CRON, "UTC", cron="0 9 * * *", ends_on=date(2030, 11, 3))
    make_campaign(steps=[social_step(world, trigger=trigger)])
    found = calendar(db, date(2030, 11, 1), date(2030, 11, 30), "UTC")
    assert [e.day("UTC") for e in found.entries] == [
        date(2030, 11, 1),
        date(2030, 11, 2),
        date(2030, 11, 3),
    ]


def test_frequent_cron_steps_are_capped(db, world, make_campaign):
    make_campaign(
        steps=[
            social_step(world, trigger=TriggerInput(TriggerKind.CRON, "UTC", cron="*/5 * * * *"))
        ]
    )
    found = calendar(db, date(2030, 11, 1), date(2030, 11, 30), "UTC")
    assert len(found.entries) == 200
    assert found.truncated_steps == ["Collision careers: Monday post"]


def test_ics_parses_back_with_stable_uids(db, world, make_campaign):
    campaign = schedule(db, world, make_campaign)
    text = build_ics(
        db,
        first_day=date(2030, 10, 28),
        last_day=date(2030, 11, 10),
        base_url="https://cm.example.org",
        campaign_url=lambda cid: f"https://cm.example.org/campaigns/{cid}",
        now=STAMP,
    )
    assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", "")
    assert all(len(line.encode()) <= 75 for line in text.split("\r\n"))
    parsed = icalendar.Calendar.from_ical(text)
    assert parsed["VERSION"] == "2.0" and parsed["PRODID"]
    events = {(e["SUMMARY"], e.decoded("DTSTART")) for e in parsed.walk("VEVENT")}
    assert events == {
        ("Careers; fall, wave: Launch (social)", datetime(2030, 11, 2, 1, 30, tzinfo=UTC)),
        ("Careers; fall, wave: Weekly post (social)", datetime(2030, 10, 28, 16, 0, tzinfo=UTC)),
        ("Careers; fall, wave: Weekly post (social)", datetime(2030, 11, 4, 17, 0, tzinfo=UTC)),
        ("Careers; fall, wave: Local hello (social)", FALL_BACK),
    }
    launch = next(e for e in parsed.walk("VEVENT") if "Launch" in str(e["SUMMARY"]))
    launch_step = campaign.steps[0]
    assert launch["UID"] == f"step-{launch_step.id}-once@cm.example.org"
    assert launch.decoded("DTSTAMP") == STAMP
    assert launch["STATUS"] == "TENTATIVE"  # the campaign is a draft
    assert launch["URL"] == f"https://cm.example.org/campaigns/{campaign.id}"
    assert "Channel: social through Coalition social" in launch["DESCRIPTION"]
    local = next(e for e in parsed.walk("VEVENT") if "Local hello" in str(e["SUMMARY"]))
    assert local.decoded("DTEND") == date(2030, 11, 4)
    # Exporting again later gives the same UIDs: calendar apps update instead of duplicating.
    again = icalendar.Calendar.from_ical(
        build_ics(
            db,
            first_day=date(2030, 10, 28),
            last_day=date(2030, 11, 10),
            base_url="https://cm.example.org",
        )
    )
    assert {e["UID"] for e in again.walk("VEVENT")} == {e["UID"] for e in parsed.walk("VEVENT")}


def test_cancelled_campaigns_are_exported_as_cancelled(db, world, make_campaign):
    schedule(db, world, make_campaign)
    parsed = icalendar.Calendar.from_ical(
        build_ics(db, first_day=date(2030, 9, 1), last_day=date(2030, 9, 1), now=STAMP)
    )
    [event] = parsed.walk("VEVENT")
    assert event["SUMMARY"] == "Dropped: Never (social)" and event["STATUS"] == "CANCELLED"


def test_escaping_and_folding():
    assert ics_escape("a\\b;c,d\ne") == "a\\\\b\\;c\\,d\\ne"
    line = "SUMMARY:" + "é" * 60
    folded = fold(line)
    parts = folded.split("\r\n ")
    assert "".join(parts) == line
    assert all(len(p.encode()) <= 75 for p in parts)
    assert len(parts[0].encode()) <= 75 and all(len(p.encode()) <= 74 for p in parts[1:])


def test_month_and_week_pages_in_the_chosen_timezone(client, db, world, make_campaign):
    schedule(db, world, make_campaign)
    sign_in(client, world.users["viewer"])
    month = client.get("/calendar/?date=2030-11-01&tz=America/New_York")
    assert month.status_code == 200
    html = month.get_data(as_text=True)
    assert "November 2030" in html
    assert "21:30" in html and "Careers; fall, wave: Launch" in html
    assert "08:00 local" in html
    assert "Dropped" not in html.split("calendar-month")[1]
    # The choice of timezone is remembered: Tokyo sees the launch on 2 November at 10:30.
    week = client.get("/calendar/?view=week&date=2030-11-02&tz=Asia/Tokyo").get_data(as_text=True)
    assert "Saturday 2 November" in week and "10:30" in week
    again = client.get("/calendar/?view=week&date=2030-11-02").get_data(as_text=True)
    assert "Times in Asia/Tokyo" in again
    # An unknown timezone is ignored, not an error.
    assert client.get("/calendar/?tz=Nowhere/Land").status_code == 200
    filtered = client.get("/calendar/?date=2030-11-01&channel=email").get_data(as_text=True)
    assert "Launch" not in filtered


def test_export_download(client, db, world, make_campaign):
    schedule(db, world, make_campaign)
    sign_in(client, world.users["viewer"])
    response = client.get("/calendar/export.ics?from=2030-10-28&to=2030-11-10")
    assert response.status_code == 200
    assert response.mimetype == "text/calendar"
    assert "attachment" in response.headers["Content-Disposition"]
    parsed = icalendar.Calendar.from_ical(response.data)
    assert len(list(parsed.walk("VEVENT"))) == 4
    assert client.get("/calendar/export.ics?from=junk").status_code == 200
