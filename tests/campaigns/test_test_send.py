"""A test send of an email creative through a real SMTP server."""

import email
import email.policy

import pytest

from campaign_manager.channels.accounts import create_account
from tests.channels.smtp_server import SmtpServer
from tests.creatives.conftest import email_content


@pytest.fixture
def sink():
    server = SmtpServer().start()
    yield server
    server.stop()


def test_a_marketer_sends_a_test_to_an_inbox(client, db, users, sink):
    from creatives.editing import save_variant
    from creatives.versions import create_creative

    creative = create_creative(db, "Careers email", "email")
    save_variant(db, creative.id, "", email_content())
    account = create_account(
        db,
        adapter="smtp",
        display_name="Office SMTP",
        settings={"host": "127.0.0.1", "port": sink.port, "security": "none"},
        credentials={},
    )
    db.commit()
    client.login("marketer@example.org")
    editor = client.get(f"/creatives/{creative.id}").get_data(as_text=True)
    assert "Send a test" in editor and "Office SMTP" in editor

    response = client.post_form(
        f"/creatives/{creative.id}/test-send",
        {
            "to": "me@example.org",
            "from_address": "hello@careers.example.org",
            "account_id": account.id,
        },
        follow_redirects=True,
    )
    assert "Test sent to me@example.org." in response.get_data(as_text=True)
    [received] = sink.handler.messages
    message = email.message_from_bytes(received.data, policy=email.policy.default)
    assert received.rcpt_tos == ["me@example.org"]
    assert message["Subject"] == "[Test] Hi Jordan"


def test_bad_addresses_and_viewers_are_refused(client, db, users, sink):
    from creatives.versions import create_creative

    creative = create_creative(db, "Careers email", "email")
    db.commit()
    client.login("marketer@example.org")
    response = client.post_form(
        f"/creatives/{creative.id}/test-send",
        {"to": "not an address", "from_address": "hello@careers.example.org", "account_id": 0},
        follow_redirects=True,
    )
    assert "Test not sent" in response.get_data(as_text=True)
    assert sink.handler.messages == []
    client.post_form("/logout")
    client.login("viewer@example.org")
    forbidden = client.post_form(
        f"/creatives/{creative.id}/test-send",
        {"to": "a@example.org", "from_address": "b@example.org"},
    )
    assert forbidden.status_code == 403
