"""The one place that turns a RenderedMessage into an email: headers, MIME, checks.

Every email adapter uses it: SMTP and the sandbox send the MIME from `build_email_message`;
the HTTP providers (SendGrid, Mailgun, Postmark) take the same headers from `email_headers`
and the same addresses from `format_address`, so every message, whichever way it leaves,
carries a Message-ID, List-Unsubscribe and List-Unsubscribe-Post (RFC 8058) and a
multipart/alternative text + HTML body.
"""

from __future__ import annotations

import email.utils
import re
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from html.parser import HTMLParser

from campaign_manager.channels.base import Problem, RenderedMessage
from campaign_manager.core.db import utcnow

ONE_CLICK = "List-Unsubscribe=One-Click"
# Headers the builder writes itself from the message's fields; a copy in `headers` is ignored.
STRUCTURAL_HEADERS = frozenset(
    h.lower()
    for h in (
        "From",
        "To",
        "Cc",
        "Bcc",
        "Subject",
        "Reply-To",
        "Date",
        "MIME-Version",
        "Content-Type",
        "Content-Transfer-Encoding",
    )
)
_ADDRESS = re.compile(r"^[^@\s<>\"]+@[^@\s<>\"]+\.[^@\s<>\"]+$")
_HTTPS_IN_ANGLES = re.compile(r"<(https://[^>]+)>")


def sender_domain(message: RenderedMessage) -> str:
    return message.from_address.rpartition("@")[2] or "localhost"


def new_message_id(message: RenderedMessage) -> str:
    return email.utils.make_msgid(domain=sender_domain(message))


def email_headers(message: RenderedMessage) -> dict[str, str]:
    """The extra headers every outgoing email carries, in a stable order.

    Message-ID comes from `message.headers` (the engine derives it from the delivery id, so a
    retry keeps it) or is made here. When List-Unsubscribe offers an https URL, the RFC 8058
    one-click header is added, as Gmail and Yahoo require of bulk senders.
    """
    given = {name: value for name, value in message.headers.items() if value}
    lower = {name.lower(): name for name in given}
    headers: dict[str, str] = {}
    message_id = given.get(lower.get("message-id", ""), "") or new_message_id(message)
    headers["Message-ID"] = message_id
    unsubscribe = given.get(lower.get("list-unsubscribe", ""), "")
    if unsubscribe:
        headers["List-Unsubscribe"] = unsubscribe
        if _HTTPS_IN_ANGLES.search(unsubscribe):
            headers["List-Unsubscribe-Post"] = ONE_CLICK
    for name, value in given.items():
        key = name.lower()
        if key in STRUCTURAL_HEADERS or key in (
            "message-id",
            "list-unsubscribe",
            "list-unsubscribe-post",
        ):
            continue
        headers[name] = value
    return headers


def format_address(address: str, name: str = "") -> str:
    """`Name <address>` for an HTTP API: quoted where needed, non-ASCII left for the provider
    to encode in the header it writes."""
    return str(Address(display_name=name, addr_spec=address)) if name else address


def text_from_html(markup: str) -> str:
    """A readable plain-text version of an HTML body, for messages rendered without one."""
    parser = _TextExtractor()
    parser.feed(markup)
    parser.close()
    text = "".join(parser.parts)
    lines = [re.sub(r"[ \t]+", " ", line).strip() for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip() + "\n"


class _TextExtractor(HTMLParser):
    BLOCKS = frozenset({"p", "div", "br", "tr", "h1", "h2", "h3", "h4", "li", "table", "hr"})
    SKIP = frozenset({"style", "script", "head", "title"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0
        self._link: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIP:
            self._skipping += 1
        elif tag in self.BLOCKS:
            self.parts.append("\n")
        elif tag == "a":
            self._link = dict(attrs).get("href")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP:
            self._skipping = max(0, self._skipping - 1)
        elif tag in self.BLOCKS:
            self.parts.append("\n")
        elif tag == "a" and self._link:
            if self._link.startswith(("http://", "https://", "mailto:")):
                self.parts.append(f" ({self._link})")
            self._link = None

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def validate_email_message(message: RenderedMessage) -> list[Problem]:
    """What makes `message` unsendable as email, found before any provider is asked."""
    problems = []
    if not message.to:
        problems.append(Problem("to", "The message has no recipient address."))
    elif not _ADDRESS.match(message.to) or not message.to.isascii():
        problems.append(Problem("to", f"'{message.to}' is not a usable email address."))
    if not message.from_address:
        problems.append(Problem("from_address", "The message has no sender address."))
    elif not _ADDRESS.match(message.from_address) or not message.from_address.isascii():
        problems.append(
            Problem("from_address", f"'{message.from_address}' is not a usable sender address.")
        )
    if not message.subject.strip():
        problems.append(Problem("subject", "The message has no subject."))
    if "\n" in message.subject or "\r" in message.subject:
        problems.append(Problem("subject", "The subject must be a single line."))
    if not (message.text.strip() or message.html.strip()):
        problems.append(Problem("text", "The message has neither a text nor an HTML body."))
    unsubscribe = next(
        (v for k, v in message.headers.items() if k.lower() == "list-unsubscribe"), ""
    )
    if unsubscribe and not _HTTPS_IN_ANGLES.search(unsubscribe):
        problems.append(
            Problem(
                "headers",
                "List-Unsubscribe must offer an https URL in angle brackets "
                "(RFC 8058 one-click unsubscribe).",
            )
        )
    for name, value in message.headers.items():
        if "\n" in value or "\r" in value or "\n" in name or ":" in name:
            problems.append(Problem("headers", f"The header {name!r} is malformed."))
    return problems


def build_email_message(message: RenderedMessage, *, date: datetime | None = None) -> EmailMessage:
    """The MIME message for `message`: multipart/alternative text + HTML, with attachments.

    Non-ASCII names and subjects are encoded by the SMTP policy (RFC 2047); bodies are
    UTF-8, quoted-printable.
    """
    mime = EmailMessage(policy=SMTP)
    mime["From"] = Address(display_name=message.from_name, addr_spec=message.from_address)
    mime["To"] = Address(display_name=message.to_name, addr_spec=message.to)
    if message.reply_to:
        mime["Reply-To"] = message.reply_to
    mime["Subject"] = message.subject
    mime["Date"] = email.utils.format_datetime(date or utcnow())
    for name, value in email_headers(message).items():
        mime[name] = value
    text = message.text if message.text.strip() else text_from_html(message.html)
    # Quoted-printable rather than 8bit: it survives any relay unchanged, and so does the
    # DKIM signature over it.
    mime.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    if message.html.strip():
        mime.add_alternative(message.html, subtype="html", charset="utf-8", cte="quoted-printable")
    for item in message.media:
        maintype, _, subtype = item.content_type.partition("/")
        mime.add_attachment(
            item.data,
            maintype=maintype or "application",
            subtype=subtype or "octet-stream",
            filename=item.filename,
        )
    return mime


def mime_bytes(mime: EmailMessage) -> bytes:
    """The message as it goes on the wire: CRLF line ends, encoded headers."""
    return mime.as_bytes(policy=SMTP)
