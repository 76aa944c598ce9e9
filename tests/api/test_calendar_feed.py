"""The ICS feed: opened by a calendar-feed token in the URL, read-only, revocable in Settings;
API tokens do not open it and feed tokens do not open the API."""

from __future__ import annotations

import re

from campaign_manager.core.feed_tokens import (
    CalendarFeedToken,
    create_feed_token,
    revoke_feed_token,
)
from tests.campaigns.conftest import (  # noqa: F401 - fixtures
    email_step,
    make_campaign,
    world,
)


def feed_secret(db, user, name="Outlook"):
    secret = create_feed_token(db, user, name).secret
    db.commit()
    return secret


def test_the_feed_lists_steps_for_a_feed_token(app, db, users, world, make_campaign):  # noqa: F811
    make_campaign("Collision careers", steps=[email_step(world, world.students)])
    secret = feed_secret(db, users["viewer"])
    client = app.test_client(use_cookies=False)
    response = client.get(f"/api/v1/calendar/feed.ics?token={secret}&from=2030-08-01&to=2030-10-01")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/calendar"
    text = response.get_data(as_text=True)
    assert text.startswith("BEGIN:VCALENDAR")
    assert "Collision careers" in text and f"Email to {world.students.name}" in text
    assert re.search(r"DTSTART[^:]*:20300902", text)
    token = db.query(CalendarFeedToken).one()
    db.refresh(token)
    assert token.last_used_at is not None


def test_bad_missing_revoked_and_api_tokens_are_refused(app, db, users, tokens):
    client = app.test_client(use_cookies=False)
    missing = client.get("/api/v1/calendar/feed.ics")
    assert missing.status_code == 422
    assert missing.mimetype == "application/problem+json"
    assert client.get("/api/v1/calendar/feed.ics?token=cmcal_nope").status_code == 401
    # A personal API token in the URL does not open the feed ...
    assert client.get(f"/api/v1/calendar/feed.ics?token={tokens['admin']}").status_code == 401
    # ... and a feed token does not open the API.
    secret = feed_secret(db, users["admin"])
    api_call = client.get("/api/v1/campaigns", headers={"Authorization": f"Bearer {secret}"})
    assert api_call.status_code == 401
    assert client.get(f"/api/v1/calendar/feed.ics?token={secret}").status_code == 200
    revoke_feed_token(db.query(CalendarFeedToken).one())
    db.commit()
    revoked = client.get(f"/api/v1/calendar/feed.ics?token={secret}")
    assert revoked.status_code == 401
    assert secret not in revoked.get_data(as_text=True)


def test_a_vendor_or_disabled_user_cannot_have_a_working_feed(app, db, users):
    import pytest

    from campaign_manager.core.accounts import AccountError

    with pytest.raises(AccountError):
        create_feed_token(db, users["vendor"], "portal")
    secret = feed_secret(db, users["marketer"])
    users["marketer"].is_active = False
    db.commit()
    client = app.test_client(use_cookies=False)
    assert client.get(f"/api/v1/calendar/feed.ics?token={secret}").status_code == 401


def test_the_feed_is_read_only(app, db, users):
    secret = feed_secret(db, users["admin"])
    client = app.test_client(use_cookies=False)
    assert client.post(f"/api/v1/calendar/feed.ics?token={secret}").status_code == 405


def test_settings_creates_shows_once_and_revokes_a_feed(client, db, users):
    client.login("approver@example.org")
    page = client.get("/settings/calendar-feeds")
    assert page.status_code == 200
    created = client.post_form("/settings/calendar-feeds", {"name": "Outlook at work"})
    assert created.status_code == 200
    html = created.get_data(as_text=True)
    url = re.search(r'id="new-feed-url">([^<]+)<', html).group(1)
    secret = url.split("token=")[1]
    assert secret.startswith("cmcal_")
    assert secret not in client.get("/settings/calendar-feeds").get_data(as_text=True)
    feed = db.query(CalendarFeedToken).one()
    assert feed.token_hash != secret and feed.user_id == users["approver"].id

    feed_client = client.application.test_client(use_cookies=False)
    assert feed_client.get(f"/api/v1/calendar/feed.ics?token={secret}").status_code == 200
    revoked = client.post_form(f"/settings/calendar-feeds/{feed.id}/revoke")
    assert revoked.status_code == 302
    assert feed_client.get(f"/api/v1/calendar/feed.ics?token={secret}").status_code == 401


def test_only_the_owner_revokes_a_feed_and_vendors_have_none(client, db, users):
    feed_secret(db, users["admin"])
    feed = db.query(CalendarFeedToken).one()
    client.login("marketer@example.org")
    assert client.post_form(f"/settings/calendar-feeds/{feed.id}/revoke").status_code == 404
    db.refresh(feed)
    assert feed.revoked_at is None
    client.post_form("/logout")
    client.login("vendor@example.org")
    assert client.get("/settings/calendar-feeds").status_code == 403
