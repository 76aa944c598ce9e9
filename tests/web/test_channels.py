"""The Channels pages: accounts with write-only credentials, connection tests, the
reconnect alert, sandbox recordings, and the public webhook endpoint."""

from __future__ import annotations

import json
import logging
import re

import pytest
import responses
from sqlalchemy import select, text

from campaign_manager.channels.accounts import build_adapter
from campaign_manager.channels.models import AccountStatus, ChannelAccount, ChannelEvent
from tests.channels.samples import sample_email
from tests.channels.test_postmark import BOUNCE

API_KEY = "SG.web-secret.Zq8mV3xL0pR7tW2yB5nC9dF4gH6jK1"
NEW_KEY = "SG.replacement.Aa1Bb2Cc3Dd4Ee5Ff6Gg7Hh8Ii9Jj0"
SCOPES_URL = "https://api.sendgrid.com/v3/scopes"


@pytest.fixture
def marketer(client, users):
    client.login(users["marketer"].email)
    return client


def create_sendgrid(client) -> ChannelAccount:
    response = client.post_form(
        "/channels/new/sendgrid",
        {
            "display_name": "Coalition SendGrid",
            "s_api_key": API_KEY,
            "s_region": "global",
            "s_webhook_public_key": "",
            "rate_per_second": "20",
            "rate_per_hour": "",
            "rate_per_day": "50000",
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    account_id = int(re.search(r"/channels/(\d+)$", response.headers["Location"]).group(1))
    return account_id


def test_the_channels_page_lists_adapters_and_the_nav_points_to_it(marketer):
    page = marketer.get("/channels/").get_data(as_text=True)
    assert "Installed adapters" in page
    for name in ("smtp", "sendgrid", "mailgun", "postmark", "sandbox_email"):
        assert f"<code>{name}</code>" in page
    assert 'href="/channels/"' in marketer.get("/").get_data(as_text=True)


def test_create_and_edit_without_ever_showing_the_key(marketer, db, caplog):
    caplog.set_level(logging.DEBUG)
    account_id = create_sendgrid(marketer)
    stored = db.execute(
        text("SELECT credentials FROM channel_accounts WHERE id = :id"), {"id": account_id}
    ).scalar_one()
    assert API_KEY not in stored

    pages = [
        marketer.get(f"/channels/{account_id}").get_data(as_text=True),
        marketer.get(f"/channels/{account_id}/edit").get_data(as_text=True),
        marketer.get("/channels/").get_data(as_text=True),
    ]
    assert all(API_KEY not in page for page in pages)
    assert "stored (never shown)" in pages[0]
    assert "Leave empty to keep it" in pages[1]
    assert "20 per second, 50000 per day" in pages[0]

    # Saving with the key left empty keeps it.
    response = marketer.post_form(
        f"/channels/{account_id}/edit",
        {"display_name": "Coalition SendGrid EU", "s_api_key": "", "s_region": "eu"},
    )
    assert response.status_code == 302
    db.expire_all()
    account = db.get(ChannelAccount, account_id)
    assert account.credentials == {"api_key": API_KEY}
    assert account.settings["region"] == "eu" and account.rate_limits.per_day is None
    assert API_KEY not in caplog.text


def test_a_rejected_form_does_not_echo_the_secret(marketer, db):
    response = marketer.post_form(
        "/channels/new/sendgrid",
        {"display_name": "SG", "s_api_key": API_KEY, "s_region": "global", "rate_per_hour": "0"},
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Enter a whole number of 1 or more." in page
    assert API_KEY not in page
    assert db.scalars(select(ChannelAccount)).all() == []

    missing = marketer.post_form(
        "/channels/new/sendgrid", {"display_name": "SG", "s_api_key": "", "s_region": "global"}
    )
    assert missing.status_code == 400 and "API key is required." in missing.get_data(as_text=True)


def test_failed_connection_test_raises_the_reconnect_alert(client, users, db, caplog):
    caplog.set_level(logging.DEBUG)
    client.login(users["marketer"].email)
    account_id = create_sendgrid(client)
    with responses.RequestsMock() as mock:
        mock.get(
            SCOPES_URL,
            status=401,
            json={"errors": [{"field": None, "message": "authorization required"}]},
        )
        response = client.post_form(f"/channels/{account_id}/test", follow_redirects=True)
    page = response.get_data(as_text=True)
    assert "The provider refused the credentials" in page
    assert "1 channel account needs reconnecting" in page
    db.expire_all()
    assert db.get(ChannelAccount, account_id).status is AccountStatus.NEEDS_RECONNECT

    # Every staff role sees the alert; vendors do not.
    viewer = client.application.test_client()
    viewer.login(users["viewer"].email)
    assert "needs reconnecting" in viewer.get("/settings/").get_data(as_text=True)
    vendor = client.application.test_client()
    vendor.login(users["vendor"].email)
    assert "needs reconnecting" not in vendor.get("/settings/").get_data(as_text=True)

    # New credentials, a passing test: the alert is gone.
    client.post_form(
        f"/channels/{account_id}/edit",
        {"display_name": "Coalition SendGrid", "s_api_key": NEW_KEY, "s_region": "global"},
    )
    with responses.RequestsMock() as mock:
        mock.get(SCOPES_URL, json={"scopes": ["mail.send"]})
        page = client.post_form(f"/channels/{account_id}/test", follow_redirects=True).get_data(
            as_text=True
        )
        assert mock.calls[0].request.headers["Authorization"] == f"Bearer {NEW_KEY}"
    assert "The connection works." in page and "needs reconnecting" not in page
    assert API_KEY not in caplog.text and NEW_KEY not in caplog.text


def test_disable_and_enable(marketer, db):
    account_id = create_sendgrid(marketer)
    page = marketer.post_form(f"/channels/{account_id}/disable", follow_redirects=True)
    assert "nothing will be sent through it" in page.get_data(as_text=True)
    db.expire_all()
    assert db.get(ChannelAccount, account_id).status is AccountStatus.DISABLED
    marketer.post_form(f"/channels/{account_id}/enable")
    db.expire_all()
    assert db.get(ChannelAccount, account_id).status is AccountStatus.ACTIVE


def test_sandbox_recordings_are_viewable(marketer, db, make_account, instance_path):
    account = make_account("sandbox_email", name="Demo email sandbox")
    adapter = build_adapter(account, instance_path=instance_path)
    db.commit()
    adapter.send(sample_email(), idempotency_key="delivery-42")

    page = marketer.get(f"/channels/{account.id}").get_data(as_text=True)
    assert "Sandbox" in page and "To jordan.lee@student.example.org" in page
    record = marketer.get(f"/channels/{account.id}/sandbox/delivery-42").get_data(as_text=True)
    assert "was not sent anywhere" in record
    assert "List-Unsubscribe=One-Click" in record
    preview = marketer.get(f"/channels/{account.id}/sandbox/delivery-42/preview")
    assert preview.mimetype == "text/html" and b"Apply by May 1" in preview.data
    assert "script-src" not in preview.headers["Content-Security-Policy"]
    assert "frame-ancestors 'self'" in preview.headers["Content-Security-Policy"]
    assert marketer.get(f"/channels/{account.id}/sandbox/nothing-here").status_code == 404


def test_webhook_endpoint_stores_events_without_csrf(app, db, make_account):
    account = make_account("postmark", {}, {"server_token": "pm-token-123"})
    anonymous = app.test_client()
    url = f"/webhooks/{account.id}/{account.webhook_token}"
    response = anonymous.post(url, data=json.dumps(BOUNCE), content_type="application/json")
    assert response.status_code == 200
    assert response.get_json() == {"received": 1, "stored": 1, "duplicates": 0}
    assert len(db.scalars(select(ChannelEvent)).all()) == 1
    replay = anonymous.post(url, data=json.dumps(BOUNCE), content_type="application/json")
    assert replay.get_json() == {"received": 1, "stored": 0, "duplicates": 1}

    wrong = anonymous.post(f"/webhooks/{account.id}/not-the-token", data=json.dumps(BOUNCE))
    assert wrong.status_code == 404 and wrong.get_json() == {"error": "not found"}
    garbage = anonymous.post(url, data="<xml/>", content_type="application/xml")
    assert garbage.status_code == 400
    assert anonymous.get(url).status_code == 405


def test_webhook_with_a_bad_signature_is_refused(app, db, make_account):
    account = make_account(
        "mailgun", {"domain": "mg.example.org"}, {"api_key": "k-1", "webhook_signing_key": "s-1"}
    )
    body = {
        "signature": {"timestamp": "1", "token": "t", "signature": "00"},
        "event-data": {"event": "failed", "recipient": "x@example.org"},
    }
    response = app.test_client().post(
        f"/webhooks/{account.id}/{account.webhook_token}",
        data=json.dumps(body),
        content_type="application/json",
    )
    assert response.status_code == 403
    assert db.scalars(select(ChannelEvent)).all() == []


def test_the_webhook_address_is_shown_to_editors_only(client, users, make_account):
    account = make_account("postmark", {}, {"server_token": "pm-token-123"})
    client.login(users["marketer"].email)
    assert account.webhook_token in client.get(f"/channels/{account.id}").get_data(as_text=True)
    viewer = client.application.test_client()
    viewer.login(users["viewer"].email)
    page = viewer.get(f"/channels/{account.id}").get_data(as_text=True)
    assert account.webhook_token not in page and "pm-token-123" not in page


def test_an_account_whose_adapter_was_uninstalled_still_shows_and_webhooks_wait(
    app, db, client, users
):
    orphan = ChannelAccount(adapter="telegraph", display_name="Old telegraph", settings={})
    orphan.credentials = {}
    db.add(orphan)
    db.commit()
    client.login(users["viewer"].email)
    assert "not installed" in client.get("/channels/").get_data(as_text=True)
    assert "is not installed" in client.get(f"/channels/{orphan.id}").get_data(as_text=True)
    response = app.test_client().post(
        f"/webhooks/{orphan.id}/{orphan.webhook_token}", data="{}", content_type="application/json"
    )
    # Our problem, not the provider's: it should try again later.
    assert response.status_code == 503
