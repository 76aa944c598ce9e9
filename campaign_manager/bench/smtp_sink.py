"""A local SMTP server that accepts everything: aiosmtpd in a process of its own.

Both sides of the `email` benchmark send into the same sink, so its cost is in both times.
It runs in a separate process, as a real mail server would, so it does not compete with
the senders for Python's interpreter lock. With `keep_to`, it appends every message to that
file, so the baseline can replay exactly what the engine sent.
"""

from __future__ import annotations

import json
import multiprocessing
import socket
from collections.abc import Iterator
from pathlib import Path

START_TIMEOUT = 30


class _Handler:
    def __init__(self, counter, keep_to: Path | None) -> None:
        self.counter = counter
        self.file = keep_to.open("ab") if keep_to else None

    async def handle_DATA(self, server, session, envelope):
        if self.file is not None:
            data = envelope.original_content
            header = {"from": envelope.mail_from, "to": envelope.rcpt_tos, "size": len(data)}
            self.file.write(json.dumps(header).encode() + b"\n" + data)
            self.file.flush()
        with self.counter.get_lock():
            self.counter.value += 1
        return "250 Message accepted for delivery"


def _serve(port: int, counter, keep_to: Path | None, ready, stop) -> None:
    from aiosmtpd.controller import Controller

    controller = Controller(_Handler(counter, keep_to), hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    stop.wait()
    controller.stop()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class SmtpSink:
    def __init__(self, *, keep_to: Path | None = None) -> None:
        context = multiprocessing.get_context("spawn")
        self.port = _free_port()
        self.keep_to = keep_to
        self._counter = context.Value("q", 0)
        self._ready = context.Event()
        self._stop = context.Event()
        self._process = context.Process(
            target=_serve,
            args=(self.port, self._counter, keep_to, self._ready, self._stop),
            name="bench-smtp-sink",
            daemon=True,
        )

    @property
    def received(self) -> int:
        return self._counter.value

    def messages(self) -> Iterator[tuple[str, list[str], bytes]]:
        """Every message kept so far, in the order received."""
        if self.keep_to is None:
            return
        with self.keep_to.open("rb") as file:
            while line := file.readline():
                header = json.loads(line)
                yield header["from"], header["to"], file.read(header["size"])

    def __enter__(self) -> SmtpSink:
        self._process.start()
        if not self._ready.wait(START_TIMEOUT):
            self._process.kill()
            raise RuntimeError("the SMTP sink did not start")
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._process.join(10)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()
