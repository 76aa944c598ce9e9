"""A real receiver for outgoing webhooks, written the way docs/webhooks.md tells one to be.

It runs an HTTP server on 127.0.0.1 in a thread, checks each request's signature and
timestamp with its own HMAC code (not the app's), answers from a script, and keeps the
events it accepted (once per event id, as the documentation asks).

Shared by tests/webhooks and tests/api: a conftest imports the fixtures `receiver`,
`clock` and `make_sender` from here.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from campaign_manager.core.db import utcnow
from schedulers.retry import RetryPolicy
from schedulers.webhooks import WebhookSender, WebhookSenderSettings

TOLERANCE_SECONDS = 300


def signature_is_valid(secret: str, body: bytes, header: str, now: float) -> bool:
    """The receiver's check: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">, five minutes."""
    parts = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    if not parts.get("t", "").isdigit() or "v1" not in parts:
        return False
    timestamp = int(parts["t"])
    if abs(now - timestamp) > TOLERANCE_SECONDS:
        return False
    expected = hmac.new(
        secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256
    ).hexdigest()
    return hmac.compare_digest(expected, parts["v1"])


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    signature_valid: bool
    answered: int


@dataclass
class LiveReceiver:
    secret: str = ""
    # Answers in order, then 200: a status, (status, headers), or "slow" (sleeps, then 200).
    script: deque = field(default_factory=deque)
    requests: list[Received] = field(default_factory=list)
    # Events accepted (2xx answered, signature valid), one per event id.
    accepted: dict[str, dict] = field(default_factory=dict)
    url: str = ""
    slow_seconds: float = 2.0

    def handle(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict]:
        valid = signature_is_valid(
            self.secret, body, headers.get("Campaign-Manager-Signature", ""), time.time()
        )
        answer = self.script.popleft() if self.script else 200
        extra_headers: dict = {}
        if isinstance(answer, tuple):
            answer, extra_headers = answer
        if answer == "slow":
            time.sleep(self.slow_seconds)
            answer = 200
        if not valid:
            answer = 401
        self.requests.append(Received(path, headers, body, valid, answer))
        if 200 <= answer < 300:
            event = json.loads(body)
            # A repeat of an event already handled changes nothing (at-least-once delivery).
            self.accepted.setdefault(headers["Idempotency-Key"], event)
        return answer, extra_headers


@pytest.fixture
def receiver():
    hook = LiveReceiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("Content-Length", 0))
            body = self.rfile.read(length)
            status, extra_headers = hook.handle(self.path, dict(self.headers.items()), body)
            try:
                self.send_response(status)
                for name, value in extra_headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(b"ok" if status < 300 else b"receiver says no")
            except (BrokenPipeError, ConnectionResetError):
                pass  # the sender gave up waiting (a timeout test)

        def log_message(self, *args):
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    hook.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/campaign-manager"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield hook
    server.shutdown()
    server.server_close()


class Clock:
    """The sender's notion of now, moved forward by the test (retry times are in the future).

    It never falls behind real time, so an event recorded a moment ago is always due however
    slowly the machine runs the test; `now` is the instant the sender last asked for, which
    is what its retry times were computed from.
    """

    def __init__(self) -> None:
        self.now = utcnow() + timedelta(seconds=1)

    def __call__(self) -> datetime:
        self.now = max(self.now, utcnow())
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def make_sender(app, clock):
    senders = []

    def make(**settings) -> WebhookSender:
        retry = RetryPolicy(
            max_attempts=settings.pop("max_attempts", 3),
            base_seconds=settings.pop("retry_base_seconds", 60.0),
        )
        sender = WebhookSender(
            app.extensions["database"],
            WebhookSenderSettings(retry=retry, **settings),
            name="test-sender",
            clock=clock,
        )
        senders.append(sender)
        return sender

    yield make
    for sender in senders:
        sender.close()
