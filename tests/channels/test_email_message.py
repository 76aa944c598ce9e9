"""The one MIME builder: structure, headers and encoding of every outgoing email."""

from __future__ import annotations

import email
import email.header
import email.policy
import email.utils
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from campaign_manager.channels.base import MediaItem
from campaign_manager.channels.email_message import (
    email_headers,
    encode_email,
    text_from_html,
    validate_email_message,
)
from tests.channels.samples import UNSUBSCRIBE_URL, sample_email


def parsed(message) -> email.message.EmailMessage:
    return email.message_from_bytes(encode_email(message).data, policy=email.policy.default)


def test_headers_and_alternative_parts():
    when = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)
    data = encode_email(sample_email(), date=when).data
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


# Names, subjects and bodies as campaign authors and contacts write them: accents, curly
# quotes, emoji, the address specials that need quoting, long lines and leading dots.
_WORDS = st.text(
    alphabet=st.characters(
        categories=("L", "N", "P", "S", "Zs"), exclude_characters="\x85\xa0\u2028\u2029"
    ),
    max_size=120,
).map(lambda value: " ".join(value.split()))
_BODY = st.lists(
    st.one_of(_WORDS, st.just(".leading dot"), st.just("From here"), st.text("x=", min_size=990)),
    max_size=8,
).map("\n".join)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(subject=_WORDS.filter(str.strip), to_name=_WORDS, from_name=_WORDS, text=_BODY, html=_BODY)
def test_what_is_encoded_reads_back_unchanged(subject, to_name, from_name, text, html):
    message = sample_email(
        subject=subject, to_name=to_name, from_name=from_name, text=text or "-", html=html
    )
    data = encode_email(message).data
    assert data.isascii() and max(len(line) for line in data.split(b"\r\n")) <= 998
    parsed = email.message_from_bytes(data, policy=email.policy.default)
    assert parsed["Subject"] == subject
    raw = email.message_from_bytes(data)  # compat32: headers exactly as written
    assert _display_name(raw["To"]) == to_name
    assert parsed["To"].addresses[0].addr_spec == message.to
    assert _display_name(raw["From"]) == from_name
    plain = parsed.get_body(("plain",)).get_content().replace("\r\n", "\n")
    # A blank text part is made from the HTML (test_html_only_messages_get_a_text_part).
    expected = message.text if message.text.strip() else text_from_html(message.html)
    assert plain == _ending_in_newline(expected)
    if html.strip():
        html_part = parsed.get_body(("html",)).get_content().replace("\r\n", "\n")
        assert html_part == _ending_in_newline(html)
    else:
        assert parsed.get_content_type() == "text/plain"


def _display_name(header: str) -> str:
    """The name in `Name <address>`, decoded as RFC 2047 says: the whitespace between two
    encoded words is ignored (the standard library's address parser keeps it)."""
    unfolded = header.replace("\r\n", "").replace("\n", "")
    if "=?" not in unfolded:
        return email.utils.parseaddr(unfolded)[0]
    encoded_name = unfolded.rpartition(" <")[0]
    return str(email.header.make_header(email.header.decode_header(encoded_name)))


def _ending_in_newline(text: str) -> str:
    return text if text.endswith("\n") else text + "\n"


def test_attachment_names_with_quotes_and_accents_read_back():
    files = (
        MediaItem('Fiche "été".pdf', "application/pdf", b"%PDF-1.7 one"),
        MediaItem('plain "quoted" name.png', "image/png", b"\x89PNG two"),
    )
    message = parsed(sample_email(media=files))
    attachments = list(message.iter_attachments())
    assert [a.get_filename() for a in attachments] == [f.filename for f in files]
    assert [a.get_content() for a in attachments] == [f.data for f in files]
    assert [a.get_content_type() for a in attachments] == ["application/pdf", "image/png"]


def test_long_headers_fold_only_between_words():
    long_url = UNSUBSCRIBE_URL + "?" + "x" * 120
    subject = " ".join(["Scholarships, entry-level training, mentorship, a careers job board"] * 3)
    data = encode_email(
        sample_email(subject=subject, headers={"List-Unsubscribe": f"<{long_url}>"})
    ).data
    head = data.split(b"\r\n\r\n")[0]
    assert b"List-Unsubscribe: <" + long_url.encode() + b">\r\n" in head
    assert all(len(line) <= 78 for line in head.split(b"\r\n") if b"List-Unsubscribe:" not in line)
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert message["List-Unsubscribe"] == f"<{long_url}>"
    assert message["Subject"] == subject
