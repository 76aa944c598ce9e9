"""A real Chromium edits an email and watches the sandboxed live preview follow."""

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.sqlite_only]


def sign_in(page, live_server, email):
    page.goto(live_server + "/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill("test-password-123")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(live_server + "/")


def test_email_editor_live_preview_follows_typing_and_switches_width(
    live_server,
    users,
    page,
    email_creative,
):
    sign_in(page, live_server, "marketer@example.org")
    page.goto(f"{live_server}/creatives/{email_creative.id}")
    preview = page.frame_locator("#preview-frame")
    # First the saved version, with sample values in the placeholders.
    assert "Hi there, turn a passion" in preview.locator("body").inner_text()

    page.get_by_label("Subject").fill("Scholarships for {{ first_name }} at {{ school }}")
    subject = preview.get_by_text("Subject: Scholarships for there at your school")
    subject.wait_for()

    mjml = page.get_by_label("MJML")
    mjml.fill(mjml.input_value().replace("turn a passion", "build a future"))
    preview.get_by_text("build a future for cars", exact=False).wait_for()

    # A mistake shows in the preview at once, before saving.
    mjml.fill(mjml.input_value().replace("{{ school }}", "{{ shcool }}"))
    preview.get_by_text("Unknown placeholder {{ shcool }}", exact=False).wait_for()

    frame = page.locator("#preview-frame")
    assert frame.get_attribute("sandbox") == ""
    assert frame.bounding_box()["width"] == 640
    page.get_by_label("Phone (375 px)").check()
    page.wait_for_function("document.getElementById('preview-frame').offsetWidth === 375")

    mjml.fill(mjml.input_value().replace("{{ shcool }}", "{{ school }}"))
    page.get_by_label("Plain text").check()
    preview.get_by_text("Unsubscribe (https://example.org/u/sample-unsubscribe-token)").wait_for()
