from collections import Counter
from datetime import date

from sqlalchemy import delete, func, select

from audiences.contacts import age_band
from audiences.demo import load_demo_audience
from audiences.models import (
    AgeBand,
    Consent,
    Contact,
    ContactTag,
    Segment,
    Suppression,
)
from audiences.recipients import SkipReason, recipient_batches
from audiences.segments import find_segment
from campaign_manager.core.accounts import Organization, OrganizationKind

TODAY = date(2026, 3, 1)


def snapshot(db):
    return db.execute(
        select(Contact.email, Contact.role, Contact.birth_date, Contact.school).order_by(Contact.id)
    ).all()


def test_demo_audience_has_someone_for_every_rule(db):
    audience = load_demo_audience(db, today=TODAY)
    db.commit()
    assert audience.contacts == db.scalar(select(func.count()).select_from(Contact)) == 5000
    schools = db.scalars(
        select(Organization).where(Organization.kind == OrganizationKind.SCHOOL)
    ).all()
    assert len(schools) == 20 and len({s.region for s in schools}) >= 10
    contacts = db.scalars(select(Contact)).all()
    assert {c.role.value for c in contacts} >= {"student", "parent", "educator", "employer"}
    assert len({c.timezone for c in contacts}) >= 6
    bands = Counter(age_band(c.birth_date_latest, TODAY) for c in contacts)
    assert bands[AgeBand.UNDER_13] > 50 and bands[AgeBand.FROM_13_TO_17] > 500
    reasons = Counter(db.scalars(select(Suppression.reason)))
    assert reasons["unsubscribed"] > 50 and reasons["bounced"] > 20

    students = find_segment(db, "students")
    outcome = Counter()
    for batch in recipient_batches(db, students.id, "email", today=TODAY):
        outcome.update((r.status.value, r.reason) for r in batch)
    assert outcome[("skipped", SkipReason.MINOR_WITHOUT_PARENTAL_CONSENT)] > 20
    children_with_consent = [
        c
        for c in contacts
        if age_band(c.birth_date_latest, TODAY) is AgeBand.UNDER_13
        and c.consent_parental.value == "granted"
    ]
    assert len(children_with_consent) > 20
    assert all(
        s.cached_count for s in db.scalars(select(Segment).where(Segment.is_builtin.is_(False)))
    )


def test_demo_audience_is_the_same_every_time(db):
    load_demo_audience(db, count=300, today=TODAY)
    db.commit()
    first = snapshot(db)
    for model in (ContactTag, Consent, Suppression, Contact, Organization):
        db.execute(delete(model))
    db.execute(delete(Segment).where(Segment.is_builtin.is_(False)))
    db.commit()
    load_demo_audience(db, count=300, today=TODAY)
    db.commit()
    assert snapshot(db) == first
