"""Materialising a due email step: every member gets a row, with the reason when not sent."""

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, select

from audiences.models import ContactRole, SuppressionReason
from audiences.suppression import suppress
from campaign_manager.campaigns.models import Delivery, DeliveryStatus, Step, TriggerKind
from schedulers.materialize import materialize_step
from tests.schedulers.campaign_kit import add_contact, email_campaign

# Monday 2 November 2026, 15:00 UTC: 10:00 in New York, 07:00 in Los Angeles.
NOW = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)


def rows_by_email(db, step_id):
    from audiences.models import Contact

    db.expire_all()
    result = {}
    for delivery, address in db.execute(
        select(Delivery, Contact.email)
        .join(Contact, Contact.id == Delivery.contact_id)
        .where(Delivery.step_id == step_id)
    ):
        result[address] = delivery
    return result


def test_every_member_gets_a_row_with_status_and_reason(app, db, users):
    kit = email_campaign(db, created_by_id=users["marketer"].id, run_at=NOW, frequency_cap=1)
    add_contact(db, "student@example.org")
    add_contact(db, "parent@example.org", role=ContactRole.PARENT)
    add_contact(db, "gone@example.org")
    suppress(db, "gone@example.org", SuppressionReason.UNSUBSCRIBED, "test")
    add_contact(db, "no.consent@example.org", consent=False)
    add_contact(db, "child@example.org", birth_date=date(2016, 5, 1))
    add_contact(db, "child.ok@example.org", birth_date=date(2016, 5, 1), parental=True)
    add_contact(db, "west@example.org", timezone="America/Los_Angeles")
    busy = add_contact(db, "busy@example.org")
    # `busy` got a message from another step yesterday; this campaign allows one a week.
    other = Step(
        campaign=kit.campaign,
        name="Earlier",
        channel_account_id=kit.account_id,
        channel_kind="email",
        creative_id=kit.step.creative_id,
        trigger=TriggerKind.AT,
        run_at=NOW,
    )
    db.add(other)
    db.flush()
    db.add(
        Delivery(
            step_id=other.id,
            occurrence="once",
            recipient_key=f"contact:{busy.id}",
            contact_id=busy.id,
            channel_account_id=kit.account_id,
            status=DeliveryStatus.SENT,
            sent_at=NOW - timedelta(days=1),
            next_attempt_at=NOW - timedelta(days=1),
        )
    )
    db.commit()
    database = app.extensions["database"]
    settings = app.extensions["settings"]
    settings.delivery.quiet_hours_start, settings.delivery.quiet_hours_end = "21:00", "08:00"

    result = materialize_step(database, kit.step.id, "once", settings, now=NOW)

    rows = rows_by_email(db, kit.step.id)
    assert len(rows) == 8 and result.total == 8 and result.inserted == 8
    assert rows["student@example.org"].status is DeliveryStatus.PENDING
    assert rows["student@example.org"].next_attempt_at == NOW
    assert rows["student@example.org"].variant_key == ""
    assert rows["parent@example.org"].variant_key == "parents"
    assert (rows["gone@example.org"].status, rows["gone@example.org"].reason) == (
        DeliveryStatus.SUPPRESSED,
        "unsubscribed",
    )
    assert (rows["no.consent@example.org"].status, rows["no.consent@example.org"].reason) == (
        DeliveryStatus.SKIPPED,
        "no_consent",
    )
    assert rows["child@example.org"].reason == "minor_without_parental_consent"
    assert rows["child.ok@example.org"].status is DeliveryStatus.PENDING
    # 07:00 in Los Angeles is inside quiet hours (21:00-08:00): wait until 08:00 PST.
    west = rows["west@example.org"]
    assert west.status is DeliveryStatus.PENDING
    assert west.next_attempt_at == datetime(2026, 11, 2, 16, 0, tzinfo=UTC)
    assert "quiet hours" in west.reason
    assert rows["busy@example.org"].status is DeliveryStatus.SKIPPED
    assert rows["busy@example.org"].reason.startswith("frequency cap")
    assert result.by_status == {"pending": 4, "suppressed": 1, "skipped": 3}

    # The same occurrence again adds nothing.
    again = materialize_step(database, kit.step.id, "once", settings, now=NOW)
    assert again.inserted == 0
    assert (
        db.scalar(select(func.count()).select_from(Delivery).where(Delivery.step_id == kit.step.id))
        == 8
    )


def test_dry_run_counts_without_writing(app, db, users):
    kit = email_campaign(db, created_by_id=users["marketer"].id, run_at=NOW)
    add_contact(db, "a@example.org")
    add_contact(db, "b@example.org", consent=False)
    db.commit()
    result = materialize_step(
        app.extensions["database"],
        kit.step.id,
        "once",
        app.extensions["settings"],
        now=NOW,
        dry_run=True,
    )
    assert result.by_status == {"pending": 1, "skipped": 1}
    assert result.by_reason == {"no_consent": 1}
    assert db.scalar(select(func.count()).select_from(Delivery)) == 0


def test_local_time_step_sends_at_nine_wherever_each_recipient_is(app, db, users):
    kit = email_campaign(
        db,
        created_by_id=users["marketer"].id,
        run_at=None,
        trigger=TriggerKind.LOCAL_TIME,
        local_date=date(2026, 11, 2),
        local_time="09:00",
    )
    add_contact(db, "east@example.org", timezone="America/New_York")
    add_contact(db, "west@example.org", timezone="America/Los_Angeles")
    add_contact(db, "unknown@example.org", timezone="")
    db.commit()
    materialize_step(
        app.extensions["database"],
        kit.step.id,
        "2026-11-02",
        app.extensions["settings"],
        now=datetime(2026, 11, 1, 19, 0, tzinfo=UTC),
    )
    rows = rows_by_email(db, kit.step.id)
    assert rows["east@example.org"].next_attempt_at == datetime(2026, 11, 2, 14, 0, tzinfo=UTC)
    assert rows["west@example.org"].next_attempt_at == datetime(2026, 11, 2, 17, 0, tzinfo=UTC)
    # Unknown timezone: the campaign's (New York).
    assert rows["unknown@example.org"].next_attempt_at == datetime(2026, 11, 2, 14, 0, tzinfo=UTC)
