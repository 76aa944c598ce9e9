"""A real SMTP server for tests: aiosmtpd in a thread, with optional STARTTLS, implicit TLS
and AUTH, a self-signed certificate made on the spot, and switches to misbehave."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import socket
import ssl
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, as PEM files; the certificate is its own CA."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test SMTP server")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "smtp-cert.pem", folder / "smtp-key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes


@dataclass
class Handler:
    """Records what arrives; `refuse` maps a recipient to the reply that refuses it."""

    messages: list[Received] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)
    # Read the message, then hang up without answering: the sender cannot tell the outcome.
    hang_up_after_data: bool = False
    # Hang up at RCPT this many times (nothing is delivered on those connections).
    hang_ups_at_rcpt: int = 0
    connections: list[Any] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        if server not in self.connections:
            self.connections.append(server)
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.hang_ups_at_rcpt:
            self.hang_ups_at_rcpt -= 1
            server.transport.close()
            return "250 never seen"
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(
            Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content)
        )
        if self.hang_up_after_data:
            server.transport.close()
            return "250 never seen"
        return "250 Message accepted for delivery"


class SmtpServer:
    """Controller plus handler, started on a free port of 127.0.0.1."""

    def __init__(
        self,
        *,
        starttls_cert: tuple[Path, Path] | None = None,
        implicit_tls_cert: tuple[Path, Path] | None = None,
        users: dict[str, str] | None = None,
    ) -> None:
        self.handler = Handler()
        self.port = free_port()
        self.users = users or {}
        kwargs: dict[str, Any] = {"hostname": "127.0.0.1", "port": self.port}
        if starttls_cert:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*starttls_cert)
            kwargs.update(tls_context=context, require_starttls=True)
        if implicit_tls_cert:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*implicit_tls_cert)
            kwargs["ssl_context"] = context
        if users:
            kwargs.update(authenticator=self._authenticate, auth_required=True)
            # aiosmtpd counts only STARTTLS as TLS; an implicit-TLS connection is one too.
            kwargs["auth_require_tls"] = bool(starttls_cert)
        self.controller = Controller(self.handler, **kwargs)

    def _authenticate(self, server, session, envelope, mechanism, auth_data):
        if isinstance(auth_data, LoginPassword):
            user = auth_data.login.decode()
            if self.users.get(user) == auth_data.password.decode():
                self.handler.logins.append(user)
                return AuthResult(success=True)
        return AuthResult(success=False, handled=False)

    def start(self) -> SmtpServer:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    def drop_connections(self) -> None:
        """Close every open connection from the server side, as an idle timeout would."""
        done = threading.Event()

        def close_all() -> None:
            for server in self.handler.connections:
                if server.transport is not None:
                    server.transport.close()
            done.set()

        self.controller.loop.call_soon_threadsafe(close_all)
        assert done.wait(5), "the server did not close its connections"
        # Let the event loop finish closing before the client tries the dead connection.
        asyncio.run_coroutine_threadsafe(asyncio.sleep(0), self.controller.loop).result(5)
