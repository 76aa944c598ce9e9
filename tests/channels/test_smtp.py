"""The SMTP adapter against a real SMTP server (aiosmtpd), over STARTTLS, TLS and plain."""

from __future__ import annotations

import base64
import email
import email.policy
from collections.abc import Iterator
from pathlib import Path

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from campaign_manager.channels.base import (
    AdapterConfig,
    ConnectionCheckFailed,
    Failed,
    RetryLater,
    Sent,
)
from campaign_manager.channels.smtp import SmtpAdapter
from tests.channels.samples import UNSUBSCRIBE_URL, sample_email
from tests.channels.smtp_server import SmtpServer, free_port, self_signed_certificate

PASSWORD = "relay-password-9f3k2"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def starttls_server(certificate) -> Iterator[SmtpServer]:
    server = SmtpServer(starttls_cert=certificate, users={"mailer": PASSWORD}).start()
    yield server
    server.stop()


@pytest.fixture
def plain_server() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


def adapter_for(server: SmtpServer, certificate=None, **settings) -> SmtpAdapter:
    credentials = {"password": settings.pop("password", PASSWORD)}
    if "dkim_private_key" in settings:
        credentials["dkim_private_key"] = settings.pop("dkim_private_key")
    values = {
        "host": "127.0.0.1",
        "port": server.port,
        "security": "none",
        "helo_name": "sender.example.org",
        **settings,
    }
    if certificate:
        values["tls_ca_file"] = str(certificate[0])
    return SmtpAdapter(AdapterConfig(settings=values, credentials=credentials, timeout_seconds=10))


def test_starttls_with_login_delivers_a_well_formed_multipart_message(starttls_server, certificate):
    adapter = adapter_for(starttls_server, certificate, security="starttls", username="mailer")
    try:
        result = adapter.send(sample_email(), idempotency_key="delivery-42")
    finally:
        adapter.close()

    assert result == Sent("<delivery-42.step-7@careers.example.org>")
    assert starttls_server.handler.logins == ["mailer"]
    [received] = starttls_server.handler.messages
    assert received.mail_from == "news@careers.example.org"
    assert received.rcpt_tos == ["jordan.lee@student.example.org"]
    message = email.message_from_bytes(received.data, policy=email.policy.default)
    assert message["Message-ID"] == "<delivery-42.step-7@careers.example.org>"
    # A long header is folded onto a continuation line (RFC 5322); unfolded it is the URL.
    assert message["List-Unsubscribe"].strip() == f"<{UNSUBSCRIBE_URL}>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["Subject"] == "Bourses d’été: collision repair scholarships ✓"
    assert message["To"].addresses[0].display_name == "Jordan Lée"
    assert message["Reply-To"] == "help@careers.example.org"
    # Non-ASCII travels encoded (RFC 2047), never as raw bytes in a header.
    raw_headers = received.data.split(b"\r\n\r\n", 1)[0]
    assert raw_headers.isascii() and b"=?utf-8?" in raw_headers
    assert message.get_content_type() == "multipart/alternative"
    parts = [part.get_content_type() for part in message.iter_parts()]
    assert parts == ["text/plain", "text/html"]
    assert "Apply by May 1" in message.get_body(("plain",)).get_content()
    assert "<a href=" in message.get_body(("html",)).get_content()


def test_one_connection_carries_many_messages(starttls_server, certificate):
    adapter = adapter_for(starttls_server, certificate, security="starttls", username="mailer")
    try:
        for number in range(3):
            message = sample_email(
                to=f"student{number}@example.org",
                headers={"Message-ID": f"<d-{number}@careers.example.org>"},
            )
            assert isinstance(adapter.send(message, idempotency_key=f"d-{number}"), Sent)
    finally:
        adapter.close()
    assert len(starttls_server.handler.messages) == 3
    assert len(starttls_server.handler.connections) == 1
    assert starttls_server.handler.logins == ["mailer"]


def send_one(server: SmtpServer):
    """The sample email through a new adapter, closed afterwards; the send's result."""
    adapter = adapter_for(server)
    try:
        return adapter.send(sample_email(), idempotency_key="a")
    finally:
        adapter.close()


def test_reconnects_when_the_server_dropped_the_idle_connection(plain_server):
    adapter = adapter_for(plain_server)
    try:
        assert isinstance(adapter.send(sample_email(), idempotency_key="a"), Sent)
        plain_server.drop_connections()
        result = adapter.send(sample_email(to="second@example.org"), idempotency_key="b")
    finally:
        adapter.close()
    assert isinstance(result, Sent)
    assert [m.rcpt_tos for m in plain_server.handler.messages] == [
        ["jordan.lee@student.example.org"],
        ["second@example.org"],
    ]
    assert len(plain_server.handler.connections) == 2


def test_one_hang_up_before_the_message_is_retried_on_a_new_connection(plain_server):
    plain_server.handler.hang_ups_at_rcpt = 1
    result = send_one(plain_server)
    assert isinstance(result, Sent)
    assert len(plain_server.handler.messages) == 1
    assert len(plain_server.handler.connections) == 2


def test_a_second_hang_up_before_the_message_asks_to_retry_later(plain_server):
    plain_server.handler.hang_ups_at_rcpt = 2
    result = send_one(plain_server)
    assert isinstance(result, RetryLater) and not result.maybe_delivered
    assert "hung up twice" in result.reason
    assert plain_server.handler.messages == []


def test_a_drop_after_the_message_was_sent_may_have_delivered_it(plain_server):
    plain_server.handler.hang_up_after_data = True
    result = send_one(plain_server)
    assert isinstance(result, RetryLater)
    assert result.maybe_delivered is True
    # The server did receive it: retrying blindly would have sent it twice.
    assert len(plain_server.handler.messages) == 1


def test_refused_recipients_permanent_and_temporary(plain_server):
    plain_server.handler.refuse = {
        "gone@example.org": "550 5.1.1 <gone@example.org>: Recipient address rejected",
        "busy@example.org": "450 4.2.1 Mailbox busy, try again later",
    }
    adapter = adapter_for(plain_server)
    try:
        gone = adapter.send(sample_email(to="gone@example.org"), idempotency_key="1")
        busy = adapter.send(sample_email(to="busy@example.org"), idempotency_key="2")
        fine = adapter.send(sample_email(to="fine@example.org"), idempotency_key="3")
    finally:
        adapter.close()
    assert isinstance(gone, Failed) and gone.permanent and not gone.needs_reconnect
    assert "550 5.1.1" in gone.reason
    assert isinstance(busy, RetryLater) and "450 4.2.1" in busy.reason
    assert not busy.maybe_delivered
    # After refusals the same connection still carries the next message.
    assert isinstance(fine, Sent)
    assert [m.rcpt_tos for m in plain_server.handler.messages] == [["fine@example.org"]]
    assert len(plain_server.handler.connections) == 1


def test_a_wrong_password_needs_reconnecting(starttls_server, certificate):
    adapter = adapter_for(
        starttls_server, certificate, security="starttls", username="mailer", password="wrong"
    )
    result = adapter.send(sample_email(), idempotency_key="a")
    assert isinstance(result, Failed) and result.needs_reconnect
    assert "wrong" not in result.reason
    with pytest.raises(ConnectionCheckFailed) as refused:
        adapter.check_connection()
    assert refused.value.needs_reconnect
    assert starttls_server.handler.messages == []


def test_an_untrusted_certificate_is_refused(starttls_server):
    adapter = adapter_for(starttls_server, security="starttls", username="mailer")
    result = adapter.send(sample_email(), idempotency_key="a")
    assert isinstance(result, Failed) and "certificate" in result.reason
    assert starttls_server.handler.messages == []


# aiosmtpd only counts STARTTLS as TLS, so on an implicit-TLS port it warns about AUTH.
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_implicit_tls(certificate):
    server = SmtpServer(implicit_tls_cert=certificate, users={"mailer": PASSWORD}).start()
    adapter = adapter_for(server, certificate, security="tls", username="mailer")
    try:
        adapter.check_connection()
        result = adapter.send(sample_email(), idempotency_key="a")
    finally:
        adapter.close()
        server.stop()
    assert isinstance(result, Sent)
    assert len(server.handler.messages) == 1


def test_nothing_listening_is_retried_later():
    nobody = SmtpAdapter(
        AdapterConfig(
            settings={"host": "127.0.0.1", "port": free_port(), "security": "none"},
            credentials={},
            timeout_seconds=5,
        )
    )
    result = nobody.send(sample_email(), idempotency_key="a")
    assert isinstance(result, RetryLater) and "cannot connect" in result.reason
    assert not result.maybe_delivered


def test_dkim_signature_verifies(plain_server):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public_der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    dns_record = b"v=DKIM1; k=rsa; p=" + base64.b64encode(public_der)
    adapter = adapter_for(
        plain_server,
        dkim_domain="careers.example.org",
        dkim_selector="campaign",
        dkim_private_key=private_pem,
    )
    try:
        assert isinstance(adapter.send(sample_email(), idempotency_key="a"), Sent)
    finally:
        adapter.close()
    [received] = plain_server.handler.messages
    lookups = []

    def dns(name: bytes, timeout: int = 5) -> bytes:
        lookups.append(name)
        return dns_record

    assert dkim.verify(received.data, dnsfunc=dns)
    assert lookups == [b"campaign._domainkey.careers.example.org."]
    signature = email.message_from_bytes(received.data)["DKIM-Signature"]
    signed = signature.replace("\r\n", "").replace(" ", "").split("h=")[1].split(";")[0]
    assert "list-unsubscribe:list-unsubscribe-post" in signed.lower()
    # Tampering breaks it: the check is real.
    assert not dkim.verify(received.data.replace(b"Jordan", b"Jordon"), dnsfunc=dns)


def test_dkim_with_a_bad_key_fails_before_sending(plain_server):
    adapter = adapter_for(
        plain_server,
        dkim_domain="careers.example.org",
        dkim_selector="campaign",
        dkim_private_key="-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----",
    )
    result = adapter.send(sample_email(), idempotency_key="a")
    adapter.close()
    assert isinstance(result, Failed) and "DKIM" in result.reason
    assert plain_server.handler.messages == []


def test_invalid_messages_are_refused_before_connecting(plain_server):
    adapter = adapter_for(plain_server)
    result = adapter.send(sample_email(to="not-an-address"), idempotency_key="a")
    assert isinstance(result, Failed) and "not-an-address" in result.reason
    assert plain_server.handler.connections == []
