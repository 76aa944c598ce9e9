"""The SMTP server hangs up on a seeded 10% of commands (EHLO, MAIL, RCPT, DATA).

A hang-up before DATA is retried; one after the message was transmitted may have
delivered it, so the (non-idempotent) SMTP delivery becomes `uncertain` instead of being
sent again. Nothing is lost, nothing arrives twice.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta

import pytest

from campaign_manager.campaigns.models import DeliveryStatus
from campaign_manager.core.db import utcnow
from schedulers import jobs
from tests.channels.smtp_server import Handler, SmtpServer
from tests.reliability.engine import (
    MovableClock,
    account_adapters,
    assert_finished_once_each,
    drain,
    in_process_worker,
    message_ids,
    record_figures,
)
from tests.schedulers.campaign_kit import add_contact, email_campaign

pytestmark = pytest.mark.reliability

RECIPIENTS = 60
DROP_RATE = 0.10


@dataclass
class DroppingHandler(Handler):
    """Hangs up, without a reply, on a seeded fraction of the commands it sees."""

    seed: int = 8
    rate: float = DROP_RATE
    hang_ups: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def _hang_up(self, server, command: str) -> bool:
        if self.rng.random() >= self.rate:
            return False
        self.hang_ups[command] += 1
        server.transport.close()
        return True

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        responses = await super().handle_EHLO(server, session, envelope, hostname, responses)
        self._hang_up(server, "EHLO")
        return responses

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self._hang_up(server, "MAIL"):
            return "250 never seen"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self._hang_up(server, "RCPT"):
            return "250 never seen"
        return await super().handle_RCPT(server, session, envelope, address, rcpt_options)

    async def handle_DATA(self, server, session, envelope):
        # The worst moment: the message is kept, and then the connection drops before
        # the sender hears "250". Sending it again would deliver it twice.
        reply = await super().handle_DATA(server, session, envelope)
        self._hang_up(server, "DATA")
        return reply


@pytest.fixture
def dropping_sink():
    sink = SmtpServer()
    sink.handler = sink.controller.handler = DroppingHandler()
    sink.start()
    yield sink
    sink.stop()


def test_a_server_dropping_one_command_in_ten_loses_nothing_and_sends_nothing_twice(
    app, db, users, dropping_sink, db_backend
):
    kit = email_campaign(
        db,
        created_by_id=users["marketer"].id,
        smtp_port=dropping_sink.port,
        run_at=utcnow() - timedelta(seconds=1),
    )
    for index in range(RECIPIENTS):
        add_contact(db, f"student{index}@example.org", first_name=f"S{index}")
    db.commit()
    clock = MovableClock()
    adapters = account_adapters(app)
    worker = in_process_worker(app, adapters, clock=clock, max_attempts=10)
    try:
        jobs.run_step(kit.step.id)
        drain(worker, db, clock)
    finally:
        adapters.close()
        jobs.set_runtime(None)

    handler = dropping_sink.handler
    at_sink = message_ids(m.data for m in handler.messages)
    figures = assert_finished_once_each(db, at_sink, expected_total=RECIPIENTS)
    # The seed makes the server hang up before and after DATA; both paths were taken.
    assert handler.hang_ups["DATA"] and sum(handler.hang_ups.values()) > handler.hang_ups["DATA"]
    assert figures["lost"] == 0, figures
    # A hang-up after DATA leaves a delivery uncertain (it did arrive here); the rest are sent.
    assert figures["statuses"].get(DeliveryStatus.UNCERTAIN.value, 0) == handler.hang_ups["DATA"]
    assert len(at_sink) == RECIPIENTS
    record_figures(f"smtp-drops-{db_backend}", {**figures, "hang_ups": dict(handler.hang_ups)})
