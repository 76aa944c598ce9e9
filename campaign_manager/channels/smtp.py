"""SMTP: any mail server or relay, with STARTTLS or implicit TLS, login, and DKIM signing.

One connection is opened on first use and reused for every message until it drops or the
adapter is closed. A connection that dropped while idle is reopened and the message tried
again at once; a drop after the message itself went out is reported as possibly delivered,
because the server may have accepted it before the line went dead.
"""

from __future__ import annotations

import contextlib
import logging
import re
import smtplib
import ssl
from typing import ClassVar

import dkim

from campaign_manager.channels.base import (
    AdapterConfig,
    ChannelKind,
    ConnectionCheckFailed,
    Failed,
    Problem,
    RenderedMessage,
    RetryLater,
    SendResult,
    Sent,
    SettingField,
)
from campaign_manager.channels.email_message import (
    encode_email,
    is_plain_address,
    validate_email_message,
)

log = logging.getLogger(__name__)

CONNECT_RETRY_SECONDS = 60.0
# 4xx replies (greylisting, mailbox busy, rate limits) ask for a later try.
TEMPORARY_RETRY_SECONDS = 300.0
AUTH_REPLY_CODES = {530, 534, 535}  # authentication required / too weak / refused
# Headers the DKIM signature covers; RFC 8058 requires the two List-Unsubscribe headers.
DKIM_HEADERS = [
    b"from", b"to", b"subject", b"date", b"message-id", b"reply-to", b"mime-version",
    b"content-type", b"list-unsubscribe", b"list-unsubscribe-post",
]  # fmt: skip
_LEADING_DOT = re.compile(rb"(?m)^\.")


class _DroppedBeforeData(Exception):
    """The connection died before the message was transmitted: nothing was delivered."""


class SmtpAdapter:
    name: ClassVar[str] = "smtp"
    kind: ClassVar[ChannelKind] = ChannelKind.EMAIL
    display_name: ClassVar[str] = "SMTP server"
    # SMTP has no idempotency key: a message sent before a crash cannot be recognised.
    idempotent: ClassVar[bool] = False
    fields: ClassVar[tuple[SettingField, ...]] = (
        SettingField("host", "Server host name", help="e.g. smtp.example.org"),
        SettingField("port", "Port", input_type="number", default="587",
                     help="587 with STARTTLS, 465 with TLS."),
        SettingField("security", "Connection security", input_type="choice",
                     choices=("starttls", "tls", "none"), default="starttls",
                     help="'none' only for a relay on this machine or a trusted network."),
        SettingField("username", "User name", required=False,
                     help="Empty if the server needs no login."),
        SettingField("password", "Password", secret=True, required=False, input_type="password"),
        SettingField("envelope_from", "Bounce address (envelope sender)", required=False,
                     help="Where bounces go; empty uses each message's From address."),
        SettingField("helo_name", "Name to greet the server with (EHLO)", required=False,
                     help="This machine's public host name; empty asks the operating system."),
        SettingField("tls_ca_file", "CA certificate file", required=False,
                     help="Only for a server whose certificate is signed by a private CA."),
        SettingField("dkim_domain", "DKIM domain", required=False,
                     help="Sign messages with DKIM for this domain (d=). Empty: no signing."),
        SettingField("dkim_selector", "DKIM selector", required=False,
                     help="The selector of the published key (s=), e.g. 'campaign'."),
        SettingField("dkim_private_key", "DKIM private key (PEM)", secret=True, required=False,
                     input_type="textarea"),
    )  # fmt: skip

    def __init__(self, config: AdapterConfig) -> None:
        self.config = config
        self._connection: smtplib.SMTP | None = None

    # --- connection ------------------------------------------------------------------------

    def _setting(self, name: str) -> str:
        return str(self.config.settings.get(name) or "").strip()

    def _open(self) -> smtplib.SMTP:
        host = self._setting("host")
        security = self._setting("security") or "starttls"
        port = int(self.config.settings.get("port") or (465 if security == "tls" else 587))
        helo = self._setting("helo_name") or None
        timeout = self.config.timeout_seconds
        context = ssl.create_default_context(cafile=self._setting("tls_ca_file") or None)
        connection: smtplib.SMTP
        if security == "tls":
            connection = smtplib.SMTP_SSL(
                host, port, local_hostname=helo, timeout=timeout, context=context
            )
        else:
            connection = smtplib.SMTP(host, port, local_hostname=helo, timeout=timeout)
        try:
            connection.ehlo()
            if security == "starttls":
                connection.starttls(context=context)
                connection.ehlo()
            username = self._setting("username")
            if username:
                connection.login(username, str(self.config.credentials.get("password", "")))
        except BaseException:
            connection.close()
            raise
        return connection

    def _discard(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(OSError):
                self._connection.close()
            self._connection = None

    def close(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                self._connection.quit()
        self._discard()

    def check_connection(self) -> None:
        self.close()
        try:
            connection = self._open()
            connection.noop()
        except smtplib.SMTPAuthenticationError as exc:
            raise ConnectionCheckFailed(
                f"the server refused the login: {_reply_text(exc.smtp_code, exc.smtp_error)}",
                needs_reconnect=True,
            ) from None
        except smtplib.SMTPNotSupportedError as exc:
            raise ConnectionCheckFailed(_not_supported(exc)) from None
        except ssl.SSLError as exc:
            raise ConnectionCheckFailed(f"TLS failed: {exc.reason or exc}") from None
        except (smtplib.SMTPException, OSError) as exc:
            raise ConnectionCheckFailed(f"cannot talk to the server: {_describe(exc)}") from None
        self._connection = connection
        if self._dkim_configured():
            try:
                self._dkim_sign(b"From: check@example.org\r\nSubject: check\r\n\r\ncheck\r\n")
            except ValueError as exc:
                raise ConnectionCheckFailed(str(exc)) from None

    # --- DKIM ------------------------------------------------------------------------------

    def _dkim_configured(self) -> bool:
        return bool(self._setting("dkim_domain"))

    def _dkim_sign(self, data: bytes) -> bytes:
        domain, selector = self._setting("dkim_domain"), self._setting("dkim_selector")
        key = str(self.config.credentials.get("dkim_private_key") or "")
        if not (selector and key):
            raise ValueError("DKIM needs a selector and a private key as well as a domain")
        try:
            signature = dkim.sign(
                data,
                selector.encode("ascii"),
                domain.encode("ascii"),
                key.encode("ascii"),
                include_headers=DKIM_HEADERS,
            )
        except (dkim.DKIMException, UnicodeEncodeError, ValueError):
            raise ValueError("DKIM signing failed: the private key is not a usable key") from None
        return signature + data

    # --- sending ---------------------------------------------------------------------------

    def validate(self, message: RenderedMessage) -> list[Problem]:
        problems = validate_email_message(message)
        if self._dkim_configured() and not (
            self._setting("dkim_selector") and self.config.credentials.get("dkim_private_key")
        ):
            problems.append(Problem("account", "DKIM is on but the selector or key is missing."))
        return problems

    def send(self, message: RenderedMessage, *, idempotency_key: str) -> SendResult:
        problems = self.validate(message)
        if problems:
            return Failed("; ".join(p.message for p in problems))
        encoded = encode_email(message)
        data = encoded.data
        if self._dkim_configured():
            try:
                data = self._dkim_sign(data)
            except ValueError as exc:
                return Failed(str(exc), permanent=True)
        sender = self._setting("envelope_from") or message.from_address
        message_id = encoded.message_id
        # A hang-up before the message went out sent nothing, so the message is tried once
        # more on a new connection (a reused one may have died while idle; a server may drop
        # one connection now and then). Only a second hang-up holds the account back.
        for _attempt in range(2):
            if self._connection is None:
                failure = self._connect()
                if failure is not None:
                    return failure
            try:
                return self._transmit(sender, message.to, data, message_id)
            except _DroppedBeforeData as exc:
                self._discard()
                dropped = str(exc)
                log.info("the SMTP server hung up before the message (%s); reconnecting", exc)
        return RetryLater(
            CONNECT_RETRY_SECONDS, f"the server hung up twice before the message: {dropped}"
        )

    def _connect(self) -> SendResult | None:
        try:
            self._connection = self._open()
        except smtplib.SMTPAuthenticationError as exc:
            return Failed(
                f"the server refused the login: {_reply_text(exc.smtp_code, exc.smtp_error)}",
                permanent=True,
                needs_reconnect=True,
            )
        except smtplib.SMTPNotSupportedError as exc:
            return Failed(_not_supported(exc), permanent=True)
        except ssl.SSLCertVerificationError as exc:
            return Failed(f"the server's certificate is not trusted: {exc.verify_message}")
        except (smtplib.SMTPException, OSError) as exc:
            return RetryLater(CONNECT_RETRY_SECONDS, f"cannot connect: {_describe(exc)}")
        return None

    def _transmit(self, sender: str, recipient: str, data: bytes, message_id: str) -> SendResult:
        connection = self._connection
        assert connection is not None
        try:
            connection.putcmd("mail", f"FROM:{_angle_address(sender)}")
            code, reply = connection.getreply()
            if code != 250:
                return self._refused(code, reply, "the sender")
            connection.putcmd("rcpt", f"TO:{_angle_address(recipient)}")
            code, reply = connection.getreply()
            if code not in (250, 251):
                return self._refused(code, reply, "the recipient")
            # DATA by hand instead of smtplib's data(): we must know whether the message
            # itself was transmitted when a connection drops.
            connection.putcmd("data")
            code, reply = connection.getreply()
            if code != 354:
                return self._refused(code, reply, "the message")
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            raise _DroppedBeforeData(_describe(exc)) from None
        try:
            payload = _LEADING_DOT.sub(b"..", data)
            if not payload.endswith(b"\r\n"):
                payload += b"\r\n"
            connection.send(payload + b".\r\n")
            code, reply = connection.getreply()
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            self._discard()
            return RetryLater(
                CONNECT_RETRY_SECONDS,
                f"the connection dropped after the message was sent ({_describe(exc)}); "
                "it may have been delivered",
                maybe_delivered=True,
            )
        if code != 250:
            return self._refused(code, reply, "the message")
        return Sent(message_id)

    def _refused(self, code: int, reply: bytes, what: str) -> SendResult:
        reason = f"the server refused {what}: {_reply_text(code, reply)}"
        if code == 421:
            # "Service not available, closing channel": the server is going away.
            self._discard()
            return RetryLater(TEMPORARY_RETRY_SECONDS, reason)
        self._reset()
        if code in AUTH_REPLY_CODES:
            return Failed(reason, permanent=True, needs_reconnect=True)
        if 400 <= code < 500:
            return RetryLater(TEMPORARY_RETRY_SECONDS, reason)
        return Failed(reason, permanent=True)

    def _reset(self) -> None:
        """Clear the half-made transaction so the connection can carry the next message."""
        if self._connection is None:
            return
        try:
            self._connection.rset()
        except (smtplib.SMTPException, OSError):
            self._discard()


def _angle_address(address: str) -> str:
    """`<address>` for MAIL FROM and RCPT TO.

    smtplib's mail() and rcpt() parse every address with the email package's address
    parser (6% of a delivery worker's CPU in bench email); an address that passed
    validate_email_message has nothing to parse. Anything else (a configured bounce
    address) still goes through smtplib's quoting.
    """
    if is_plain_address(address):
        return f"<{address}>"
    return smtplib.quoteaddr(address)


def _reply_text(code: int, reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    return f"{code} {' '.join(text.split())}"


def _not_supported(exc: smtplib.SMTPNotSupportedError) -> str:
    # smtplib says which: "STARTTLS extension ..." or "SMTP AUTH extension not supported".
    if "STARTTLS" in str(exc):
        return "the server does not offer STARTTLS: choose 'tls' (port 465) or another port"
    return "the server does not offer login on this connection: check the security setting"


def _describe(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__
