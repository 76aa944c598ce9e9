"""What a dropped connection means for a send: never sent, or perhaps delivered.

Real sockets, not mocks: the difference lives in what urllib3 raises, which depends on
whether the connection was made and the request written before the line went dead.
"""

from __future__ import annotations

import socket
import threading

import pytest
import requests

from campaign_manager.channels.base import RetryLater
from campaign_manager.channels.http import outcome_for_transport_error


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # closed again on leaving: nothing listens there


class HangUpAfterRequest:
    """Accepts one connection, reads the request, and closes without answering."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.received = b""
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        connection, _ = self.server.accept()
        with connection:
            connection.settimeout(5)
            while b"\r\n\r\n" not in self.received:
                self.received += connection.recv(65536)
        self.server.close()


def _error_of(url: str) -> requests.RequestException:
    with pytest.raises(requests.RequestException) as caught:
        requests.post(url, data=b'{"status": "hello"}', timeout=5)
    return caught.value


def test_a_refused_connection_was_never_sent():
    outcome = outcome_for_transport_error(_error_of(f"http://127.0.0.1:{_closed_port()}/post"))
    assert isinstance(outcome, RetryLater) and not outcome.maybe_delivered
    assert outcome.reason == "could not connect to the provider"


def test_a_hang_up_after_the_request_went_out_may_have_delivered_it():
    server = HangUpAfterRequest()
    outcome = outcome_for_transport_error(_error_of(f"http://127.0.0.1:{server.port}/post"))
    server.thread.join(5)
    assert server.received.startswith(b"POST /post HTTP/1.1")  # the provider got it
    assert isinstance(outcome, RetryLater) and outcome.maybe_delivered
    assert "dropped before the provider answered" in outcome.reason
