"""Recipient classification: who gets a delivery, who is suppressed or skipped, and why."""

from datetime import date

import pytest
from sqlalchemy import event

from audiences.contacts import AudienceError, record_consent
from audiences.models import ConsentChannel, ConsentStatus, ContactRole, SuppressionReason
from audiences.privacy import erase_contact
from audiences.recipients import (
    RecipientStatus,
    SkipReason,
    recipient_batches,
    recipient_for,
    recipients_for,
)
from audiences.segments import create_segment, find_segment
from audiences.suppression import suppress
from tests.audiences.conftest import add_contact

TODAY = date(2026, 3, 1)
EVERYONE = {"type": "all", "rules": []}


def classify(db, channel="email", segment=None, **kwargs):
    segment = segment or find_segment(db, "everyone") or create_segment(db, "Everyone", EVERYONE)
    db.commit()
    found = {}
    for batch in recipient_batches(db, segment.id, channel, today=TODAY, **kwargs):
        for recipient in batch:
            found[recipient.email or recipient.contact_id] = recipient
    return found


def test_under_13_gets_nothing_until_a_parent_consents(db):
    child = add_contact(db, "child@example.org", birth_date=date(2014, 6, 1))
    record_consent(db, child, ConsentChannel.EMAIL, ConsentStatus.GRANTED, "form")
    db.commit()
    for channel in ("email", "social", "web", "print"):
        recipient = recipient_for(db, child.id, channel, today=TODAY)
        assert recipient.status is RecipientStatus.SKIPPED, channel
        assert recipient.reason is SkipReason.MINOR_WITHOUT_PARENTAL_CONSENT
    record_consent(db, child, ConsentChannel.PARENTAL, ConsentStatus.GRANTED, "signed form")
    db.commit()
    recipient = recipient_for(db, child.id, "email", today=TODAY)
    assert (recipient.status, recipient.reason) == (RecipientStatus.ELIGIBLE, None)
    assert recipient.allow_open_tracking is False  # still a minor


def test_a_birth_year_alone_counts_as_the_younger_age(db):
    # Born in 2013: 13 if born by 1 March, 12 otherwise. COPPA says assume 12.
    maybe_twelve = add_contact(db, "maybe@example.org", birth_year=2013)
    recipient = recipient_for(db, maybe_twelve.id, "email", today=TODAY)
    assert recipient.reason is SkipReason.MINOR_WITHOUT_PARENTAL_CONSENT


def test_no_open_tracking_under_18_or_for_students_of_unknown_age(db):
    teen = add_contact(db, "teen@example.org", birth_date=date(2009, 1, 1))
    adult = add_contact(db, "adult@example.org", birth_date=date(2008, 3, 1))  # 18 today
    unknown_student = add_contact(db, "student@example.org")
    unknown_parent = add_contact(db, "parent@example.org", role=ContactRole.PARENT)
    found = classify(db)
    assert {email: r.allow_open_tracking for email, r in found.items()} == {
        teen.email: False,
        adult.email: True,
        unknown_student.email: False,
        unknown_parent.email: True,
    }
    assert all(r.status is RecipientStatus.ELIGIBLE for r in found.values())
    assert all(not r.allow_open_tracking for r in classify(db, "print").values())


def test_suppressions_apply_per_channel_and_outrank_consent(db):
    bounced = add_contact(db, "bounced@example.org", consent_print=ConsentStatus.GRANTED)
    complained = add_contact(db, "complained@example.org", consent_print=ConsentStatus.GRANTED)
    unsubscribed = add_contact(db, "gone@example.org", consent_print=ConsentStatus.GRANTED)
    suppress(db, "BOUNCED@Example.org", SuppressionReason.BOUNCED, "webhook: ses")
    suppress(db, complained, SuppressionReason.COMPLAINED, "webhook: ses")
    suppress(db, unsubscribed, SuppressionReason.UNSUBSCRIBED, "one-click unsubscribe")
    db.commit()
    email = classify(db, "email")
    assert {e: (r.status.value, r.reason.value) for e, r in email.items()} == {
        bounced.email: ("suppressed", "bounced"),
        complained.email: ("suppressed", "complained"),
        unsubscribed.email: ("suppressed", "unsubscribed"),
    }
    printed = classify(db, "print")
    assert printed[bounced.email].status is RecipientStatus.ELIGIBLE
    assert printed[unsubscribed.email].status is RecipientStatus.ELIGIBLE
    assert printed[complained.email].reason is SuppressionReason.COMPLAINED


def test_consent_and_address_are_required_where_the_channel_needs_them(db):
    no_consent = add_contact(db, "unknown@example.org", consent_email=ConsentStatus.UNKNOWN)
    withdrawn = add_contact(db, "no@example.org", consent_email=ConsentStatus.WITHDRAWN)
    no_email = add_contact(db, None, first_name="Postal", consent_print=ConsentStatus.GRANTED)
    found = classify(db, "email")
    assert found[no_consent.email].reason is SkipReason.NO_CONSENT
    assert found[withdrawn.email].reason is SkipReason.NO_CONSENT
    assert found[no_email.id].reason is SkipReason.NO_EMAIL
    printed = classify(db, "print")
    assert printed[no_email.id].status is RecipientStatus.ELIGIBLE
    assert printed[no_consent.email].reason is SkipReason.NO_CONSENT  # no print consent
    social = classify(db, "social")
    assert all(r.status is RecipientStatus.ELIGIBLE for r in social.values())


def test_an_erased_contact_imported_again_stays_suppressed(db):
    contact = add_contact(db, "erase.me@example.org")
    erase_contact(db, contact, source="request by email")
    db.commit()
    again = add_contact(db, "Erase.Me@EXAMPLE.org")
    recipient = recipient_for(db, again.id, "email", today=TODAY)
    assert (recipient.status, recipient.reason) == (
        RecipientStatus.SUPPRESSED,
        SuppressionReason.ERASED,
    )


def test_batches_are_keyset_pages_of_one_query_each(db, app):
    contacts = [
        add_contact(db, f"c{i}@example.org", region="Ohio" if i % 2 else "Texas") for i in range(7)
    ]
    segment = create_segment(
        db, "Ohio", {"type": "field", "field": "region", "op": "equals", "value": "Ohio"}
    )
    db.commit()
    statements = []
    engine = db.get_bind()
    listener = lambda *args: statements.append(args[2])  # noqa: E731 - the SQL text
    event.listen(engine, "before_cursor_execute", listener)
    try:
        batches = list(recipient_batches(db, segment.id, "email", batch_size=2, today=TODAY))
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    ohio = [c.id for c in contacts if c.region == "Ohio"]
    assert [[r.contact_id for r in b] for b in batches] == [ohio[0:2], ohio[2:3]]
    selects = [s for s in statements if "FROM contacts" in s]
    assert len(selects) == len(batches)  # one query per batch, whatever the batch holds
    assert "LEFT OUTER JOIN suppressions" in selects[0]
    resumed = list(recipient_batches(db, segment.id, "email", after_id=ohio[0], today=TODAY))
    assert [r.contact_id for b in resumed for r in b] == ohio[1:]
    first = batches[0][0]
    assert (first.first_name, first.role, first.attributes, first.timezone) == (
        "",
        ContactRole.STUDENT,
        {},
        "",
    )


def test_unknown_channel_kinds_and_segments_are_refused(db):
    segment = create_segment(db, "All", EVERYONE)
    with pytest.raises(AudienceError, match="unknown channel kind 'fax'"):
        next(recipient_batches(db, segment.id, "fax"))
    with pytest.raises(AudienceError, match="no segment #999"):
        next(recipient_batches(db, 999, "email"))


def test_many_recipients_at_once_are_classified_as_one_by_one(db):
    adult = add_contact(db, "adult@example.org", birth_date=date(1990, 1, 1))
    child = add_contact(db, "child@example.org", birth_date=date(2014, 6, 1))
    gone = add_contact(db, "gone@example.org", birth_date=date(1990, 1, 1))
    for contact in (adult, child, gone):
        record_consent(db, contact, ConsentChannel.EMAIL, ConsentStatus.GRANTED, "form")
    suppress(db, "gone@example.org", SuppressionReason.UNSUBSCRIBED, "link")
    db.commit()
    ids = [adult.id, child.id, gone.id, 999_999]
    together = recipients_for(db, ids, "email", today=TODAY)
    assert set(together) == {adult.id, child.id, gone.id}  # an unknown id is simply absent
    for contact_id, recipient in together.items():
        assert recipient == recipient_for(db, contact_id, "email", today=TODAY)
    assert together[gone.id].status is RecipientStatus.SUPPRESSED
    assert recipients_for(db, [], "email") == {}
