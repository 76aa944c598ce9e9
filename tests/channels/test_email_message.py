"""The one MIME builder: structure, headers and encoding of every outgoing email."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime

from campaign_manager.channels.base import MediaItem
from campaign_manager.channels.email_message import (
    build_email_message,
    email_headers,
    mime_bytes,
    text_from_html,
    validate_email_message,
)
from tests.channels.samples import UNSUBSCRIBE_URL, sample_email


def parsed(message) -> email.message.EmailMessage:
    return email.message_from_bytes(
        mime_bytes(build_email_message(message)), policy=email.policy.default
    )


def test_headers_and_alternative_parts():
    when = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)
    data = mime_bytes(build_email_message(sample_email(), date=when))
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert message["Date"] == "Mon, 02 Mar 2026 14:30:00 +0000"
    assert message["Message-ID"] == "<delivery-42.step-7@careers.example.org>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["From"].addresses[0].display_name == "Collision Careers Coalition"
    assert message["Subject"] == "Bourses d’été: collision repair scholarships ✓"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    assert all(p["Content-Transfer-Encoding"] == "quoted-printable" for p in message.iter_parts())
    # On the wire: 7-bit clean, CRLF line ends, no line beyond 998 characters.
    assert data.isascii()
    assert b"\n" not in data.replace(b"\r\n", b"")
    assert max(len(line) for line in data.split(b"\r\n")) <= 998


def test_a_message_id_is_made_when_the_engine_gave_none():
    message = parsed(sample_email(headers={}))
    assert message["Message-ID"].endswith("@careers.example.org>")
    assert message["List-Unsubscribe"] is None and message["List-Unsubscribe-Post"] is None


def test_one_click_needs_an_https_unsubscribe_url():
    mailto_only = sample_email(
        headers={"List-Unsubscribe": "<mailto:unsubscribe@careers.example.org>"}
    )
    assert "List-Unsubscribe-Post" not in email_headers(mailto_only)
    problems = validate_email_message(mailto_only)
    assert [p.field for p in problems] == ["headers"]
    both = sample_email(
        headers={"List-Unsubscribe": f"<mailto:u@careers.example.org>, <{UNSUBSCRIBE_URL}>"}
    )
    assert email_headers(both)["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert validate_email_message(both) == []


def test_extra_headers_pass_but_cannot_override_structure():
    message = parsed(
        sample_email(
            headers={
                "Message-ID": "<a@b.example.org>",
                "X-Campaign": "spring",
                "From": "spoof@evil.example",
                "Subject": "injected",
            }
        )
    )
    assert message["X-Campaign"] == "spring"
    assert message.get_all("From") == ["Collision Careers Coalition <news@careers.example.org>"]
    assert message.get_all("Subject") == ["Bourses d’été: collision repair scholarships ✓"]


def test_html_only_messages_get_a_text_part():
    message = parsed(
        sample_email(
            text="",
            html="<html><head><style>p{color:red}</style></head><body><h1>Scholarships</h1>"
            '<p>Apply <a href="https://careers.example.org/apply">here</a>.</p></body></html>',
        )
    )
    text = message.get_body(("plain",)).get_content()
    assert "Scholarships" in text and "here (https://careers.example.org/apply)" in text
    assert "color:red" not in text


def test_text_from_html_keeps_paragraphs_apart():
    assert text_from_html("<p>One</p><p>Two &amp; three</p>") == "One\n\nTwo & three\n"


def test_attachments_make_a_mixed_message():
    pdf = MediaItem("flyer.pdf", "application/pdf", b"%PDF-1.7 test")
    message = parsed(sample_email(media=(pdf,)))
    assert message.get_content_type() == "multipart/mixed"
    [attachment] = list(message.iter_attachments())
    assert attachment.get_filename() == "flyer.pdf"
    assert attachment.get_content() == b"%PDF-1.7 test"


def test_validation_names_each_problem():
    problems = validate_email_message(
        sample_email(to="", from_address="news", subject="Two\nlines", text="", html="")
    )
    assert [p.field for p in problems] == ["to", "from_address", "subject", "text"]
    bad_header = validate_email_message(sample_email(headers={"X-Evil": "a\r\nBcc: x@y.org"}))
    assert [p.field for p in bad_header] == ["headers"]
