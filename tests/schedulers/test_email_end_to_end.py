"""A due email step through the whole engine into a real SMTP server, in one process."""

import email
import email.policy
import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from audiences.models import ContactRole, SuppressionReason
from audiences.suppression import suppress
from campaign_manager.campaigns.models import (
    Campaign,
    CampaignStatus,
    Delivery,
    DeliveryStatus,
    Event,
    EventKind,
)
from campaign_manager.core.db import utcnow
from schedulers import jobs
from schedulers.adapters import AccountAdapters
from schedulers.rendering import DeliveryRenderer
from schedulers.worker import DeliveryWorker
from tests.channels.smtp_server import SmtpServer
from tests.schedulers.campaign_kit import add_contact, email_campaign


@pytest.fixture
def smtp_sink():
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def engine(app):
    settings = app.extensions["settings"]
    database = app.extensions["database"]
    jobs.set_runtime(jobs.EngineRuntime(database, settings))
    adapters = AccountAdapters(database, settings.instance_dir)
    worker = DeliveryWorker(
        database, DeliveryRenderer(settings, app.extensions["token_signer"]), adapters, name="w"
    )
    yield worker
    adapters.close()
    jobs.set_runtime(None)


def test_a_due_step_reaches_every_eligible_inbox_once(app, db, users, smtp_sink, engine, client):
    kit = email_campaign(
        db,
        created_by_id=users["marketer"].id,
        smtp_port=smtp_sink.port,
        run_at=utcnow() - timedelta(seconds=1),
    )
    add_contact(db, "ana@example.org", first_name="Ana")
    add_contact(db, "paul@example.org", role=ContactRole.PARENT, first_name="Paul")
    add_contact(db, "later.gone@example.org")
    add_contact(db, "no.consent@example.org", consent=False)
    db.commit()

    jobs.run_step(kit.step.id)
    # Between materialisation and sending, one recipient unsubscribes.
    suppress(db, "later.gone@example.org", SuppressionReason.UNSUBSCRIBED, "test")
    db.commit()
    while engine.run_batch():
        pass

    received = {
        m.rcpt_tos[0]: email.message_from_bytes(m.data, policy=email.policy.default)
        for m in smtp_sink.handler.messages
    }
    assert set(received) == {"ana@example.org", "paul@example.org"}
    ana, paul = received["ana@example.org"], received["paul@example.org"]
    assert ana["Subject"] == "Hello Ana" and paul["Subject"] == "Dear parent Paul"
    assert ana.get_content_type() == "multipart/alternative"
    assert "Hello, Ana from Lincoln High School" in ana.get_body(("plain",)).get_content()
    assert ana["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    unsubscribe_url = ana["List-Unsubscribe"].strip("<>")
    assert unsubscribe_url.startswith("https://cm.example.org/u/")

    db.expire_all()
    by_status = {d.recipient_key: d for d in db.scalars(select(Delivery))}
    sent = [d for d in by_status.values() if d.status is DeliveryStatus.SENT]
    assert len(sent) == 2
    assert {m["Message-ID"] for m in received.values()} == {
        f"<cm-delivery-{d.id}@careers.example.org>" for d in sent
    }
    gone = [d for d in by_status.values() if d.reason == "unsubscribed"]
    assert len(gone) == 1 and gone[0].status is DeliveryStatus.SUPPRESSED
    assert db.get(Campaign, kit.campaign.id).status is CampaignStatus.RUNNING

    # Links go through the click redirect, which adds the campaign's UTM and records a click;
    # the unsubscribe link stays direct. The campaign has open tracking off: no pixel.
    html = ana.get_body(("html",)).get_content()
    assert unsubscribe_url in html and "/o/" not in html
    tracked = re.findall(r'href="(https://cm\.example\.org/c/[^"]+)"', html)
    assert tracked, "no tracked link in the email"
    redirect = client.get(tracked[0].removeprefix("https://cm.example.org"))
    assert redirect.status_code == 302
    assert redirect.headers["Location"].startswith("https://careers.example.org/apply?")
    assert "utm_campaign=" in redirect.headers["Location"]
    assert db.scalar(select(Event).where(Event.kind == EventKind.CLICK)).contact_id is not None

    # The header's one-click link really unsubscribes (RFC 8058), and the campaign completes.
    response = client.post(
        unsubscribe_url.removeprefix("https://cm.example.org"),
        data={"List-Unsubscribe": "One-Click"},
    )
    assert response.status_code == 200
    jobs.complete_finished_campaigns(db)
    db.commit()
    assert db.get(Campaign, kit.campaign.id).status is CampaignStatus.COMPLETED


def test_cancel_stops_sending_at_once(app, db, users, smtp_sink, engine):
    from campaign_manager.campaigns.workflow import in_flight_count, transition

    kit = email_campaign(
        db,
        created_by_id=users["marketer"].id,
        smtp_port=smtp_sink.port,
        run_at=utcnow() - timedelta(seconds=1),
    )
    for index in range(5):
        add_contact(db, f"person{index}@example.org")
    db.commit()
    jobs.run_step(kit.step.id)
    campaign = db.get(Campaign, kit.campaign.id)
    transition(db, campaign, CampaignStatus.CANCELLED, users["marketer"], "wrong audience")
    db.commit()
    assert in_flight_count(db, campaign.id) == 0
    assert engine.run_batch() == 0
    assert smtp_sink.handler.messages == []
    db.expire_all()
    assert {d.status for d in db.scalars(select(Delivery))} == {DeliveryStatus.SKIPPED}
    assert {d.reason for d in db.scalars(select(Delivery))} == {"campaign cancelled"}


def test_open_pixel_only_for_adults_when_the_campaign_tracks_opens(
    app, db, users, smtp_sink, engine
):
    from datetime import date

    kit = email_campaign(
        db,
        created_by_id=users["marketer"].id,
        smtp_port=smtp_sink.port,
        run_at=utcnow() - timedelta(seconds=1),
    )
    kit.campaign.open_tracking = True
    add_contact(db, "adult@example.org", role=ContactRole.PARENT, birth_date=date(1980, 1, 1))
    add_contact(db, "teen@example.org", birth_date=date(2011, 1, 1))
    db.commit()
    jobs.run_step(kit.step.id)
    while engine.run_batch():
        pass
    bodies = {
        m.rcpt_tos[0]: email.message_from_bytes(m.data, policy=email.policy.default)
        .get_body(("html",))
        .get_content()
        for m in smtp_sink.handler.messages
    }
    assert "https://cm.example.org/o/" in bodies["adult@example.org"]
    assert "/o/" not in bodies["teen@example.org"]
