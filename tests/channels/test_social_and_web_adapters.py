"""What every social and web adapter promises, checked across all of them at once."""

from __future__ import annotations

from importlib.metadata import entry_points

import pytest
import responses

from campaign_manager.channels.base import ChannelAdapter, ChannelKind, Failed, RenderedMessage
from campaign_manager.channels.bluesky import BlueskyAdapter
from campaign_manager.channels.facebook import GRAPH, FacebookPageAdapter
from campaign_manager.channels.http import REDACTED
from campaign_manager.channels.linkedin import LinkedInAdapter
from campaign_manager.channels.mastodon import MastodonAdapter
from campaign_manager.channels.webhook import WebhookAdapter
from campaign_manager.channels.wordpress import WordPressAdapter
from campaign_manager.channels.x import XAdapter
from tests.channels.adapter_kit import build, capture_all_logs, social

ADAPTERS = {
    "mastodon": (MastodonAdapter, ChannelKind.SOCIAL, True),
    "bluesky": (BlueskyAdapter, ChannelKind.SOCIAL, False),
    "linkedin": (LinkedInAdapter, ChannelKind.SOCIAL, False),
    "facebook_page": (FacebookPageAdapter, ChannelKind.SOCIAL, False),
    "x": (XAdapter, ChannelKind.SOCIAL, False),
    "wordpress": (WordPressAdapter, ChannelKind.WEB, False),
    "webhook": (WebhookAdapter, ChannelKind.WEB, True),
}
SECRET_FIELDS = {
    "mastodon": {"access_token"},
    "bluesky": {"app_password"},
    "linkedin": {"client_secret", "access_token", "refresh_token"},
    "facebook_page": {"access_token"},
    "x": {"client_secret", "access_token", "refresh_token"},
    "wordpress": {"application_password"},
    "webhook": {"signing_secret"},
}


def test_each_adapter_is_registered_under_its_name():
    registered = {ep.name: ep for ep in entry_points(group="campaign_manager.channels")}
    for name, (adapter_class, _kind, _idempotent) in ADAPTERS.items():
        assert registered[name].load() is adapter_class
        assert adapter_class.name == name


@pytest.mark.parametrize("name", ADAPTERS)
def test_each_adapter_follows_the_protocol(name):
    adapter_class, kind, idempotent = ADAPTERS[name]
    adapter = build(adapter_class, {}, {}).adapter

    assert isinstance(adapter, ChannelAdapter)
    assert adapter_class.kind is kind
    assert adapter_class.idempotent is idempotent
    assert adapter_class.display_name
    assert {f.name for f in adapter_class.fields if f.secret} == SECRET_FIELDS[name]
    assert all(f.input_type == "password" for f in adapter_class.fields if f.secret)
    adapter.close()


# Each adapter's main call answered with an error whose message echoes the credential, as
# careless providers do ("Invalid token <token>"): the reason must not repeat it.
LEAKED = "leaked-credential-0123456789"
ECHOES = {
    "mastodon": (
        MastodonAdapter,
        {"instance_url": "https://m.example"},
        {"access_token": LEAKED},
        ("POST", "https://m.example/api/v1/statuses", {"error": f"Bad token {LEAKED}"}, 401),
    ),
    "bluesky": (
        BlueskyAdapter,
        {"handle": "a.bsky.social", "service_url": "https://pds.example"},
        {"app_password": LEAKED},
        (
            "POST",
            "https://pds.example/xrpc/com.atproto.server.createSession",
            {"error": "AuthenticationRequired", "message": f"bad password {LEAKED}"},
            401,
        ),
    ),
    "linkedin": (
        LinkedInAdapter,
        {"author_urn": "urn:li:person:abc"},
        {"access_token": LEAKED},
        (
            "POST",
            "https://api.linkedin.com/rest/posts",
            {"status": 401, "code": "INVALID_ACCESS_TOKEN", "message": f"token {LEAKED}"},
            401,
        ),
    ),
    "facebook_page": (
        FacebookPageAdapter,
        {"page_id": "123"},
        {"access_token": LEAKED},
        (
            "POST",
            f"{GRAPH}/123/feed",
            {"error": {"message": f"Invalid OAuth access token {LEAKED}", "code": 190}},
            400,
        ),
    ),
    "x": (
        XAdapter,
        {"client_id": "c"},
        {"access_token": LEAKED},
        ("POST", "https://api.x.com/2/tweets", {"detail": f"token {LEAKED} unknown"}, 401),
    ),
    "wordpress": (
        WordPressAdapter,
        {"site_url": "https://wp.example", "username": "u"},
        {"application_password": LEAKED},
        (
            "POST",
            "https://wp.example/wp-json/wp/v2/posts",
            {"code": "incorrect_password", "message": f"{LEAKED} is wrong", "data": None},
            401,
        ),
    ),
    "webhook": (
        WebhookAdapter,
        {"url": "https://hook.example"},
        {"signing_secret": LEAKED},
        ("POST", "https://hook.example", {"error": f"expected secret {LEAKED}"}, 403),
    ),
}


@pytest.mark.parametrize("name", ECHOES)
def test_a_credential_echoed_by_the_provider_is_redacted(name, caplog):
    capture_all_logs(caplog)
    adapter_class, settings, credentials, (method, url, body, status) = ECHOES[name]
    adapter = build(adapter_class, settings, credentials).adapter
    message = social("hello")
    if name == "wordpress":
        message = RenderedMessage(kind=ChannelKind.WEB, title="Open day", html="<p>Come</p>")

    with responses.RequestsMock() as api:
        api.add(method, url, json=body, status=status)
        outcome = adapter.send(message, idempotency_key="k")

    assert isinstance(outcome, Failed) and outcome.needs_reconnect
    assert LEAKED not in outcome.reason and REDACTED in outcome.reason
    for record in caplog.records:
        assert LEAKED not in record.getMessage()
    adapter.close()
