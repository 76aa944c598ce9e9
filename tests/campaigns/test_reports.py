"""The campaign report: events counted by step, channel, segment and day, with SVG charts
that are well-formed XML and accessible (title, desc, a table with the same numbers)."""

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

from campaign_manager.campaigns.models import Event, EventKind
from campaign_manager.campaigns.reports import campaign_report
from campaign_manager.web.charts import Series, bar_chart, nice_ceiling
from tests.campaigns.conftest import sign_in, social_step

SVG = "{http://www.w3.org/2000/svg}"


def parse_svg(text: str) -> ET.Element:
    """Parse our own chart output: the point is that it is well-formed XML."""
    return ET.fromstring(text)  # noqa: S314 - the app's own output, not untrusted input


def add_events(db, campaign, spec):
    """spec: (kind, step, segment, occurred_at, how many)."""
    for kind, step, segment, moment, count in spec:
        for _ in range(count):
            db.add(
                Event(
                    kind=kind,
                    campaign_id=campaign.id,
                    step_id=step.id,
                    channel_kind=step.channel_kind,
                    segment_slug=segment,
                    occurred_at=moment,
                )
            )
    db.commit()


def sample_campaign(db, world, make_campaign):
    campaign = make_campaign(
        steps=[
            social_step(world),
            social_step(
                world,
                name="Site",
                channel_account_id=world.web.id,
                creative_id=world.web_creative.id,
            ),
        ],
        timezone="America/Los_Angeles",
    )
    social, site = campaign.steps
    day1 = datetime(2030, 9, 2, 3, 30, tzinfo=UTC)  # 1 Sept, 20:30 in Los Angeles
    day2 = datetime(2030, 9, 2, 18, 0, tzinfo=UTC)  # 2 Sept, 11:00 in Los Angeles
    day4 = datetime(2030, 9, 4, 18, 0, tzinfo=UTC)
    add_events(
        db,
        campaign,
        [
            (EventKind.SENT, social, "students", day1, 4),
            (EventKind.SENT, social, "parents", day2, 2),
            (EventKind.CLICK, social, "students", day2, 3),
            (EventKind.OPEN, social, "parents", day2, 1),
            (EventKind.SENT, site, "", day4, 1),
            (EventKind.UNSUBSCRIBE, social, "parents", day4, 1),
            (EventKind.BOUNCE, social, "students", day4, 1),
            (EventKind.FAILED, site, "", day4, 2),
        ],
    )
    other = make_campaign("Other", steps=[social_step(world)])
    add_events(db, other, [(EventKind.SENT, other.steps[0], "students", day1, 9)])
    return campaign


def test_report_counts_by_step_channel_segment_and_local_day(db, world, make_campaign):
    campaign = sample_campaign(db, world, make_campaign)
    report = campaign_report(db, campaign, "America/Los_Angeles")
    assert report.totals.counts == {
        "sent": 7,
        "click": 3,
        "open": 1,
        "unsubscribe": 1,
        "bounce": 1,
        "failed": 2,
    }
    assert [(r.label, r.count(EventKind.SENT)) for r in report.by_step] == [
        ("Monday post", 6),
        ("Site", 1),
    ]
    assert {r.label: r.counts for r in report.by_channel} == {
        "social": {"sent": 6, "click": 3, "open": 1, "unsubscribe": 1, "bounce": 1},
        "web": {"sent": 1, "failed": 2},
    }
    assert {r.label: r.count(EventKind.CLICK) for r in report.by_segment} == {
        "(no segment)": 0,
        "parents": 0,
        "students": 3,
    }
    # Days are Los Angeles days, gaps included.
    assert [(r.label, r.count(EventKind.SENT)) for r in report.over_time] == [
        ("2030-09-01", 4),
        ("2030-09-02", 2),
        ("2030-09-03", 0),
        ("2030-09-04", 1),
    ]
    assert report.bucket == "day"
    assert report.rate(EventKind.CLICK) == 3 / 7
    # In UTC the first events fall on 2 September.
    utc = campaign_report(db, campaign, "UTC")
    assert utc.over_time[0].label == "2030-09-02" and utc.over_time[0].count(EventKind.SENT) == 6


def test_long_campaigns_are_shown_by_week(db, world, make_campaign):
    campaign = make_campaign(steps=[social_step(world)])
    step = campaign.steps[0]
    add_events(
        db,
        campaign,
        [
            (EventKind.SENT, step, "", datetime(2030, 1, 2, 12, tzinfo=UTC), 1),
            (EventKind.SENT, step, "", datetime(2030, 6, 5, 12, tzinfo=UTC), 2),
        ],
    )
    report = campaign_report(db, campaign, "UTC")
    assert report.bucket == "week"
    assert report.over_time[0].label == "2029-12-31"  # the Monday of that week
    assert report.over_time[-1].label == "2030-06-03"
    assert sum(r.count(EventKind.SENT) for r in report.over_time) == 3


def test_bar_chart_is_well_formed_and_accessible():
    svg = bar_chart(
        chart_id="c1",
        title='Clicks & <opens> "by day"',
        description="Two series.",
        categories=["2030-09-01", "2030-09-02"],
        series=[Series("sent", [4, 10]), Series("click", [1, 0])],
    )
    root = parse_svg(str(svg))
    assert root.tag == f"{SVG}svg"
    assert root.get("role") == "img"
    assert root.find(f"{SVG}title").text == 'Clicks & <opens> "by day"'
    assert root.get("aria-labelledby") == root.find(f"{SVG}title").get("id")
    assert root.get("aria-describedby") == root.find(f"{SVG}desc").get("id")
    bars = [r for r in root.iter(f"{SVG}rect") if r.find(f"{SVG}title") is not None]
    assert [b.find(f"{SVG}title").text for b in bars] == [
        "2030-09-01: sent 4",
        "2030-09-01: click 1",
        "2030-09-02: sent 10",
        "2030-09-02: click 0",
    ]
    heights = [float(b.get("height")) for b in bars]
    assert heights[2] == max(heights) and heights[3] == 0
    assert heights[0] == heights[2] * 4 / 10
    empty = parse_svg(
        str(bar_chart(chart_id="c2", title="t", description="d", categories=[], series=[]))
    )
    assert "No events yet" in ET.tostring(empty, encoding="unicode")


def test_nice_ceiling():
    assert [nice_ceiling(v) for v in (0, 1, 3, 10, 11, 49, 501)] == [1, 1, 5, 10, 20, 50, 1000]


def test_report_page_has_charts_and_tables(client, db, world, make_campaign):
    campaign = sample_campaign(db, world, make_campaign)
    sign_in(client, world.users["viewer"])
    response = client.get(f"/campaigns/{campaign.id}/report")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    charts = re.findall(r"<svg .*?</svg>", html, flags=re.DOTALL)
    assert len(charts) == 2
    for chart in charts:
        root = parse_svg(chart)
        assert root.find(f"{SVG}title").text and root.find(f"{SVG}desc").text
    # Each chart has its data beside it.
    assert 'id="table-over-time"' in html and 'id="table-per-channel"' in html
    table = html.split('id="table-per-channel"')[1].split("</table>")[0]
    assert re.search(r'<th scope="row">web</th><td class="num">1</td>', table)
