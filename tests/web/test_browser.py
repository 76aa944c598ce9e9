"""A real Chromium (Debian's /usr/bin/chromium, driven by Playwright) against a live server."""

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.sqlite_only]


def test_sign_in_through_the_real_form_reaches_the_dashboard(live_server, users, page):
    page.goto(live_server + "/")
    assert "/login" in page.url
    page.get_by_label("Email").fill("marketer@example.org")
    page.get_by_label("Password").fill("test-password-123")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(live_server + "/")
    assert page.get_by_role("heading", level=1).inner_text() == "Dashboard"
    nav = page.get_by_role("navigation", name="Main")
    for label in (
        "Audiences",
        "Creatives",
        "Campaigns",
        "Calendar",
        "Channels",
        "Print jobs",
        "Settings",
    ):
        assert nav.get_by_role("link", name=label).is_visible()


def test_phone_width_has_no_horizontal_scroll_and_visible_focus(live_server, users, browser):
    context = browser.new_context(viewport={"width": 360, "height": 740})
    page = context.new_page()
    page.goto(live_server + "/login")
    page.get_by_label("Email").fill("admin@example.org")
    page.get_by_label("Password").fill("test-password-123")
    page.keyboard.press("Enter")
    page.wait_for_url(live_server + "/")
    page.goto(live_server + "/settings/users")
    # Wide tables scroll inside their own box; the page itself must fit the screen.
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.textContent")
    assert focused == "Skip to content"
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline == "solid"
    context.close()


def test_wrong_password_shows_the_error_in_the_page(live_server, users, page):
    page.goto(live_server + "/login")
    page.get_by_label("Email").fill("viewer@example.org")
    page.get_by_label("Password").fill("wrong-password")
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_role("status").inner_text().strip() == "Wrong email or password."
