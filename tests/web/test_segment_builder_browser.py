"""The segment builder in a real Chromium: the live count follows every edit, without reloading."""

import pytest
from playwright.sync_api import expect

from audiences.models import ContactRole
from audiences.segments import ensure_builtin_segments, find_segment
from tests.audiences.conftest import add_contact
from tests.conftest import TEST_PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.sqlite_only]


def test_live_count_and_members_follow_the_edits(live_server, users, page, db):
    ensure_builtin_segments(db)
    db.commit()
    add_contact(db, "ohio.one@example.org", region="Ohio", first_name="Olive")
    add_contact(db, "ohio.two@example.org", region="Ohio", first_name="Oscar")
    add_contact(db, "ohio.parent@example.org", region="Ohio", role=ContactRole.PARENT)
    add_contact(db, "texas.one@example.org", region="Texas")
    add_contact(db, "texas.teacher@example.org", region="Texas", role=ContactRole.EDUCATOR)

    page.goto(live_server + "/login")
    page.get_by_label("Email").fill("marketer@example.org")
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(live_server + "/")
    page.goto(live_server + "/audiences/segments/new")
    page.evaluate("window.stillTheSamePage = true")

    count = page.locator("#preview-count")
    expect(count).to_have_text("5 members")  # no conditions yet: everyone
    expect(page.get_by_label("Rules (JSON)")).to_be_hidden()  # the builder replaced it

    page.get_by_role("button", name="Add a condition").click()
    expect(count).to_have_text("3 members")  # a new condition starts as "role is student"

    page.get_by_label("Condition").select_option("field:region")
    expect(count).to_have_text("Not counted: fix the conditions marked below.")
    expect(page.locator("#preview-problems")).to_have_text("enter a value")

    page.get_by_label("Value").fill("Ohio")
    expect(count).to_have_text("3 members")
    members = page.locator("#preview-members tbody tr")
    expect(members).to_have_count(3)
    expect(members.first).to_contain_text("ohio.one@example.org")

    page.get_by_role("button", name="Add a condition").click()  # and role is student
    expect(count).to_have_text("2 members")
    page.get_by_label("Match").select_option("any")
    expect(count).to_have_text("4 members")  # Ohio, or a student

    assert page.evaluate("window.stillTheSamePage") is True
    page.get_by_label("Name", exact=True).fill("Ohio or students")
    page.get_by_role("button", name="Save segment").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Ohio or students")
    db.expire_all()
    segment = find_segment(db, "ohio-or-students")
    assert segment.cached_count == 4
    assert segment.rules["type"] == "any" and len(segment.rules["rules"]) == 2
